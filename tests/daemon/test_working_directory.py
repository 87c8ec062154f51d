"""The daemon's workers load the installed aiq, whatever folder the daemon was started from.

`python -m aiq` puts the working directory first on `sys.path`: started from a directory that
holds an `aiq/` folder (a checkout), a worker would import that folder instead.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from aiq.daemon.service import aiq_argv, aiq_command, child_env
from aiq.sandbox.server import RunningSandbox
from aiq.sandbox.testing import TEST_TODAY
from aiq.store.db import Store
from tests.daemon.conftest import runs
from tests.helpers import aiq


def decoy_checkout(tmp_path: Path) -> Path:
    """A directory holding an `aiq/` package that cannot be imported."""
    folder = tmp_path / "checkout"
    (folder / "aiq").mkdir(parents=True)
    (folder / "aiq" / "__init__.py").write_text(
        'raise ImportError("the checkout in the working directory, not the installed aiq")\n'
    )
    return folder


def installed_aiq() -> list[str]:
    """How a person starts the installed aiq: its console script (else `python -P -m aiq`)."""
    script = Path(sys.executable).with_name("aiq")
    return [str(script)] if script.exists() else aiq_argv()


def test_plain_python_m_aiq_imports_the_decoy(tmp_path: Path) -> None:
    # The trap the daemon must not fall into, and that -P avoids.
    folder = decoy_checkout(tmp_path)
    plain = subprocess.run(
        [sys.executable, "-m", "aiq", "--version"], cwd=folder, capture_output=True, text=True
    )
    assert plain.returncode != 0 and "not the installed aiq" in plain.stderr
    safe = subprocess.run(
        aiq_argv("--version"), cwd=folder, capture_output=True, text=True, env=child_env(os.environ)
    )
    assert safe.returncode == 0, safe.stderr


def test_daemon_started_from_a_checkout_syncs(
    signed_in: tuple[str, RunningSandbox, Store], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_url, _sandbox, store = signed_in
    monkeypatch.setenv("AIQ_SYNC_SINCE_MONTHS", "1")  # which aiq the worker runs is the point
    folder = decoy_checkout(tmp_path)
    log = tmp_path / "daemon.log"
    command = [*installed_aiq(), "--db", db_url, "daemon", "run", "--once"]
    command += ["--today", TEST_TODAY.isoformat(), "--log-file", str(log)]
    done = subprocess.run(
        command,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = log.read_text() if log.exists() else ""
    assert done.returncode == 0, done.stderr + text
    assert "ImportError" not in text and "without a result" not in text, text
    assert runs(store, "ok") == 1, text


def test_child_env_drops_the_working_directory_from_pythonpath() -> None:
    sep = os.pathsep
    env = child_env({"PYTHONPATH": sep.join(["", ".", "src", "/opt/aiq/lib"]), "X": "1"})
    assert env == {"PYTHONPATH": "/opt/aiq/lib", "X": "1"}
    assert "PYTHONPATH" not in child_env({"PYTHONPATH": sep.join([".", ""])})
    assert child_env({"X": "1"}) == {"X": "1"}


def test_service_files_start_aiq_with_a_safe_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert shlex.split(aiq_command()) == [sys.executable, "-P", "-m", "aiq"]
    cron = aiq(capsys, "daemon", "install", "--cron", "--print")
    assert cron.code == 0, cron.err
    assert f"{shlex.quote(sys.executable)} -P -m aiq sync --quiet" in cron.out
    unit = aiq(capsys, "daemon", "install", "--systemd", "--print")
    assert f"ExecStart={shlex.quote(sys.executable)} -P -m aiq daemon run" in unit.out
