"""The CLI's global behaviour: version, help, exit codes, one-line errors, fast start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiq import __version__
from tests.helpers import aiq, aiq_process

HEAVY = (
    "sqlalchemy",
    "sqlmodel",
    "pydantic",  # typer 0.29 would build a TypeAdapter per option (see pyproject.toml)
    "httpx",
    "psycopg",
    "sentry_sdk",
    "alembic",
    "uvicorn",
    "starlette",
    "keyring",
    "cryptography",
)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    r = aiq(capsys, "--version")
    assert r.code == 0
    assert r.out.strip() == f"aiq {__version__}"


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], ["db", "--help"], ["report", "revenue", "--help"]]
)
def test_start_imports_nothing_heavy(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from aiq.cli import run\n"
        f"rc = run({args!r})\n"
        "print('LOADED', ','.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = proc.stdout.rsplit("LOADED", 1)[1].strip().split(",")
    assert not [m for m in HEAVY if m in loaded]


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["--version"], set()),
        (["report", "revenue", "--help"], {"aiq.commands.report"}),
        (["sync", "--help"], {"aiq.commands.sync"}),
    ],
)
def test_only_the_command_that_runs_is_imported(args: list[str], wanted: set[str]) -> None:
    code = (
        "import sys\n"
        "from aiq.cli import run\n"
        f"rc = run({args!r})\n"
        "mods = sorted(m for m in sys.modules if m.startswith('aiq.commands.'))\n"
        "print('LOADED', ','.join(mods))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(filter(None, proc.stdout.rsplit("LOADED", 1)[1].strip().split(",")))
    # The shared option, state and help-text modules may load; no other command's module does.
    shared = {"aiq.commands.state", "aiq.commands.options", "aiq.commands.helptext"}
    assert loaded - shared == wanted


def test_python_dash_m(tmp_path: Path) -> None:
    r = aiq_process("--version", env={**os.environ})
    assert r.code == 0 and __version__ in r.out


def test_unknown_option_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    r = aiq(capsys, "--bogus")
    assert r.code == 2
    assert "No such option" in r.err
    assert "Traceback" not in r.err


def test_db_upgrade_and_status(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    r = aiq(capsys, "--db", db_url, "db", "status", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["revision"] is None and doc["up_to_date"] is False
    r = aiq(capsys, "--db", db_url, "db", "upgrade")
    assert r.code == 0, r.err
    assert "Creating the aiq schema" in r.err
    r = aiq(capsys, "--db", db_url, "db", "upgrade")
    assert "up to date" in r.err
    r = aiq(capsys, "--db", db_url, "db", "status", "--format", "json")
    doc = json.loads(r.out)
    assert doc["up_to_date"] is True
    assert doc["dialect"] in ("sqlite", "postgresql")
    assert doc["tables"]["invoice"] == 0
    # On SQLite whoever runs aiq is OWNER, and on Postgres this is the installer: every table
    # is counted.
    assert doc["not_available"] == [] and doc["missing"] == []
    assert all(isinstance(n, int) for n in doc["tables"].values())
    r = aiq(capsys, "--db", db_url, "db", "status")
    assert r.code == 0 and "up to date" in r.out and "invoice" in r.out
    assert "not available" not in r.out


def test_db_status_of_a_database_behind_this_aiq(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    """The tables a newer migration adds are shown as not created yet, and not queried."""
    from alembic import command

    from aiq.store.db import Store, _alembic_config, head_revision

    store = Store(db_url)
    try:
        with store.engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "0006")
    finally:
        store.dispose()
    r = aiq(capsys, "--db", db_url, "db", "status", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["revision"] == "0006" and doc["up_to_date"] is False
    assert {"patient_figure", "patient_pass"} <= set(doc["missing"])
    assert doc["tables"]["patient_pass"] is None and doc["tables"]["invoice"] == 0
    assert doc["not_available"] == []
    r = aiq(capsys, "--db", db_url, "db", "status")
    assert r.code == 0, r.err
    assert f"Migration: 0006 (behind {head_revision()}: run `aiq db upgrade`)" in r.out
    assert "not created yet" in r.out


def test_default_database_is_private_sqlite(
    capsys: pytest.CaptureFixture[str], isolated_dirs: Path
) -> None:
    r = aiq(capsys, "db", "upgrade")
    assert r.code == 0, r.err
    db = isolated_dirs / "data" / "aiq.db"
    assert db.exists() and db.stat().st_mode & 0o777 == 0o600
    assert (isolated_dirs / "data").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    ("url", "code", "needle"),
    [
        ("mysql://u:hunter2@h/db", 2, "unsupported database"),
        ("not a url", 2, "malformed database URL"),
        ("postgresql://u:hunter2@127.0.0.1:1/db", 1, "cannot connect to the database"),
        ("sqlite://", 2, "in-memory"),
    ],
)
def test_bad_db_url_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], url: str, code: int, needle: str
) -> None:
    r = aiq(capsys, "--db", url, "db", "status")
    assert r.code == code
    assert needle in r.err
    assert r.err.count("\n") == 1, r.err
    assert "hunter2" not in r.err and "Traceback" not in r.err


def test_invalid_config_file(capsys: pytest.CaptureFixture[str], isolated_dirs: Path) -> None:
    cfg = isolated_dirs / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("[sync\n")
    cfg.chmod(0o600)
    r = aiq(capsys, "db", "status")
    assert r.code == 2 and "not valid TOML" in r.err and r.err.count("\n") == 1


def test_unreadable_config_file(capsys: pytest.CaptureFixture[str], isolated_dirs: Path) -> None:
    # A directory where the file should be cannot be read, even by root.
    (isolated_dirs / "config" / "config.toml").mkdir(parents=True)
    r = aiq(capsys, "db", "status")
    assert r.code == 2 and "cannot read" in r.err and r.err.count("\n") == 1


def test_config_readable_by_others_is_warned(
    capsys: pytest.CaptureFixture[str], isolated_dirs: Path
) -> None:
    cfg = isolated_dirs / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("[sync]\nlookback_days = 10\n")
    cfg.chmod(0o644)
    r = aiq(capsys, "db", "status")
    assert r.code == 0 and "readable by other users" in r.err and "chmod 600" in r.err


def test_database_newer_than_code(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    from sqlalchemy import text

    from aiq.store.db import open_store

    s = open_store(db_url)
    with s.begin() as conn:
        conn.execute(text("update alembic_version set version_num = 'zz99'"))
    s.dispose()
    r = aiq(capsys, "--db", db_url, "db", "status")
    assert r.code == 1
    assert "newer than this aiq knows" in r.err and "upgrade aiq" in r.err


def test_debug_shows_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    r = aiq(capsys, "--debug", "--db", "mysql://h/db", "db", "status")
    assert r.code == 2
    assert "Traceback" in r.err


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (["sync", "--debug"], ["--debug", "sync"]),
        (
            ["report", "revenue", "--db", "sqlite:///x.db", "--month", "2026-01"],
            ["--db", "sqlite:///x.db", "report", "revenue", "--month", "2026-01"],
        ),
        (
            ["report", "revenue", "--db=sqlite:///x.db"],
            ["--db=sqlite:///x.db", "report", "revenue"],
        ),
        (["report", "--no-color", "revenue"], ["--no-color", "report", "revenue"]),
        (
            ["sync", "--format=json", "--config", "c.toml"],
            ["--config", "c.toml", "sync", "--format=json"],
        ),
        # The root's own options stay first, so the one typed after the command wins.
        (["--db", "A", "sync", "--db", "B"], ["--db", "A", "--db", "B", "sync"]),
        # An option's value that looks like a global option is the option's value.
        (["sync", "--streams", "--debug"], ["sync", "--streams", "--debug"]),
        (["sync", "-f", "--debug"], ["sync", "-f", "--debug"]),
        (["sync", "-f", "json", "--debug"], ["--debug", "sync", "-f", "json"]),
        # Nothing after `--` moves; nor a --db with no value left, nor an unknown command's.
        (["sync", "--", "--debug"], ["sync", "--", "--debug"]),
        (["sync", "--db"], ["sync", "--db"]),
        (["bogus", "--debug"], ["bogus", "--debug"]),
        (["--debug", "sync"], ["--debug", "sync"]),
    ],
)
def test_global_options_typed_after_the_command_move_before_it(
    argv: list[str], wanted: list[str]
) -> None:
    from aiq.cli import hoist_global_options

    assert hoist_global_options(argv) == wanted


def test_global_options_work_after_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "after.db"
    r = aiq(capsys, "db", "upgrade", "--db", f"sqlite:///{db}")
    assert r.code == 0, r.err
    assert db.exists()
    r = aiq(capsys, "db", "status", "--format", "json", f"--db=sqlite:///{db}", "--no-color")
    assert r.code == 0, r.err
    assert json.loads(r.out)["up_to_date"] is True
    r = aiq(capsys, "db", "status", "--db", "mysql://h/db", "--debug")
    assert r.code == 2 and "Traceback" in r.err
    r = aiq(capsys, "sync", "--debug")  # what every failed-sync alert advises
    assert r.code == 4 and "No such option" not in r.err
    assert "nobody has signed in" in r.err
