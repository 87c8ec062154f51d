"""`aiq backup` and `aiq restore`: a restored database is the same database, on both dialects."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aiq.audit import entries
from aiq.config import load_settings
from aiq.lifecycle.backup import backup_name, backup_time, list_backups, prune_backups
from aiq.store.db import Store, open_store
from aiq.store.models import metadata
from tests.export.fixtures import (
    ORG_A,
    Synced,
    dialect_of,
    drop_pg_schema,
    empty_url,
    table_rows,
)
from tests.helpers import aiq


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every aiq table, in key order (the audit log apart: restores add to it)."""
    store = open_store(url, migrate=False)
    try:
        with store.connect() as conn:
            return {
                t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in metadata.sorted_tables
                if t.name != "audit_log"
            }
    finally:
        store.dispose()


def _flat(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flat(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _flat(v, f"{path}[{i}]")
    else:
        yield path, value


def reports(url: str) -> list[dict[str, Any]]:
    """A few reports of the org as the report commands compute them, every figure flattened.

    Freshness is left out: it is measured against the real clock, not the data.
    """
    api = pytest.importorskip("aiq.reports.api")
    store = open_store(url, migrate=False)
    try:
        req = api.ReportRequest(org=ORG_A, month="2026-10", today=datetime(2026, 11, 26).date())
        made = [api.revenue(store, req), api.appointments(store, req), api.providers(store, req)]
    finally:
        store.dispose()
    return [{k: v for k, v in _flat(r) if "freshness" not in k} for r in made]


@pytest.fixture
def empty_db(synced: Synced, tmp_path: Path) -> Any:
    """An empty database of the same dialect as ``synced``."""
    url, schema = empty_url(dialect_of(synced.url), tmp_path)
    yield url
    if schema:
        drop_pg_schema(schema)


def test_backup_then_restore_gives_the_same_database(
    capsys: pytest.CaptureFixture[str], synced: Synced, empty_db: str, tmp_path: Path
) -> None:
    file = tmp_path / "b" / "snapshot"
    r = aiq(capsys, "--db", synced.url, "backup", "--out", str(file))
    assert r.code == 0, r.err
    assert file.exists() and file.stat().st_mode & 0o777 == 0o600
    assert not list(file.parent.glob(".*partial"))
    r = aiq(capsys, "--db", empty_db, "restore", str(file))
    assert r.code == 0, r.err
    assert "Restored" in r.err
    before, after = contents(synced.url), contents(empty_db)
    assert before == after
    assert sum(len(v) for v in after.values()) > 50_000
    # The reports read the same figures from the restored database.
    assert reports(synced.url) == reports(empty_db)
    # Both operations are in the audit logs: the backup in the source, the restore in the target.
    src = open_store(synced.url)
    dst = open_store(empty_db)
    try:
        assert [e.action for e in entries(src)] == ["data.backup"]
        assert [e.action for e in entries(dst)][-1] == "data.restore"
        actor = entries(dst)[-1].actor
        assert actor == ("postgres" if dialect_of(empty_db) == "postgres" else actor) and actor
    finally:
        src.dispose()
        dst.dispose()

    # A database that holds data is not overwritten without --force.
    r = aiq(capsys, "--db", empty_db, "restore", str(file))
    assert r.code == 2 and "not empty" in r.err and "--force" in r.err
    r = aiq(capsys, "--db", empty_db, "restore", "--force", str(file))
    assert r.code == 0, r.err
    assert {k: len(v) for k, v in contents(empty_db).items()} == {
        k: len(v) for k, v in before.items()
    }


def test_logical_backup_restores_across_dialects(
    capsys: pytest.CaptureFixture[str], synced: Synced, tmp_path: Path
) -> None:
    other = "postgres" if dialect_of(synced.url) == "sqlite" else "sqlite"
    if other == "postgres":
        from tests.conftest import postgres_unavailable

        if postgres_unavailable():
            pytest.skip("Postgres is unavailable")
    file = tmp_path / "dump.aiqdump.gz"
    r = aiq(capsys, "--db", synced.url, "backup", "--method", "logical", "--out", str(file))
    assert r.code == 0, r.err
    url, schema = empty_url(other, tmp_path)
    try:
        r = aiq(capsys, "--db", url, "restore", str(file))
        assert r.code == 0, r.err
        assert contents(url) == contents(synced.url)
    finally:
        if schema:
            drop_pg_schema(schema)


def test_truncated_or_foreign_backups_are_refused(
    capsys: pytest.CaptureFixture[str], synced_sqlite: Synced, tmp_path: Path
) -> None:
    file = tmp_path / "dump.aiqdump.gz"
    r = aiq(capsys, "--db", synced_sqlite.url, "backup", "--method", "logical", "-o", str(file))
    assert r.code == 0, r.err
    data = file.read_bytes()
    cut = tmp_path / "cut.aiqdump.gz"
    cut.write_bytes(data[: len(data) // 2])
    target = f"sqlite:///{tmp_path / 'target.db'}"
    r = aiq(capsys, "--db", target, "restore", str(cut))
    assert r.code == 2 and "truncated or damaged" in r.err
    store = open_store(target, migrate=False)
    try:
        assert store.current_revision() is None  # the restore rolled back whole
    finally:
        store.dispose()
    # A dump from a newer aiq is refused, naming the fix.
    lines = gzip.decompress(data).split(b"\n")
    header = json.loads(lines[0])
    header["revision"] = "9999"
    newer = tmp_path / "newer.aiqdump.gz"
    newer.write_bytes(gzip.compress(b"\n".join([json.dumps(header).encode(), *lines[1:]])))
    r = aiq(capsys, "--db", target, "restore", str(newer))
    assert r.code == 1 and "newer than this aiq" in r.err
    (tmp_path / "junk").write_text("hello")
    r = aiq(capsys, "--db", target, "restore", str(tmp_path / "junk"))
    assert r.code == 2 and "not an aiq backup" in r.err


def test_pg_dump_backup_restores_into_its_schema(
    capsys: pytest.CaptureFixture[str], synced_pg: Synced, tmp_path: Path
) -> None:
    synced = synced_pg
    file = tmp_path / "b.pgdump"
    r = aiq(capsys, "--db", synced.url, "backup", "--method", "pg_dump", "--out", str(file))
    if r.code != 0 and "not installed" in r.err:
        pytest.skip("pg_dump is not installed")
    assert r.code == 0, r.err
    assert file.read_bytes().startswith(b"PGDMP")
    before = contents(synced.url)
    # Another schema: pg_restore cannot rename one, and says so before touching anything.
    url, schema = empty_url("postgres", tmp_path)
    try:
        r = aiq(capsys, "--db", url, "restore", str(file))
        assert r.code == 2 and "cannot rename a schema" in r.err
    finally:
        drop_pg_schema(str(schema))
    # The same schema, replaced.
    r = aiq(capsys, "--db", synced.url, "restore", "--force", str(file))
    assert r.code == 0, r.err
    assert contents(synced.url) == before


def test_backups_go_to_the_backup_dir_and_are_pruned(
    capsys: pytest.CaptureFixture[str], isolated_dirs: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'aiq.db'}"
    r = aiq(capsys, "--db", db, "backup")
    assert r.code == 0, r.err
    settings = load_settings()
    [taken] = list_backups(settings)
    assert taken.parent == isolated_dirs / "data" / "backups"
    assert taken.parent.stat().st_mode & 0o777 == 0o700
    now = datetime(2026, 11, 26, 12)
    old = [backup_name("sqlite", now - timedelta(days=d)) for d in (91, 120)]
    young = [backup_name("logical", now - timedelta(days=d)) for d in (1, 89)]
    for name in old + young:
        (taken.parent / name).write_bytes(b"x")
    (taken.parent / "notes.txt").write_text("not a backup")
    store = open_store(db)
    try:
        removed = prune_backups(settings, now=now, store=store)
        assert sorted(p.name for p in removed) == sorted(old)
        left = {p.name for p in taken.parent.iterdir()}
        assert set(young) <= left and "notes.txt" in left and taken.name in left
        [entry] = entries(store, action="backup.prune")
        assert set(entry.details["removed"]) == set(old)
    finally:
        store.dispose()
    # --prune on the command line prunes by the configured days.
    os.environ["AIQ_DATA_BACKUP_KEEP_DAYS"] = "0"
    try:
        r = aiq(capsys, "--db", db, "backup", "--prune")
    finally:
        del os.environ["AIQ_DATA_BACKUP_KEEP_DAYS"]
    assert r.code == 0, r.err
    assert "Pruned" in r.err


def test_out_dir_with_a_trailing_slash_is_created_and_gets_a_dated_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'aiq.db'}"
    folder = tmp_path / "new" / "backups"
    r = aiq(capsys, "--db", db, "backup", "--out", f"{folder}/")
    assert r.code == 0, r.err
    [taken] = list(folder.iterdir())
    assert backup_time(taken) is not None  # a dated backup file, as in the backup directory
    assert folder.stat().st_mode & 0o777 == 0o700
    assert str(taken) in r.err
    # Without the slash, a path that does not exist is the file to write.
    r = aiq(capsys, "--db", db, "backup", "--out", str(tmp_path / "other" / "my.backup"))
    assert r.code == 0, r.err
    assert (tmp_path / "other" / "my.backup").is_file()


def test_what_a_killed_backup_left_is_removed_by_the_next_backup_and_by_the_purge(
    capsys: pytest.CaptureFixture[str], isolated_dirs: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'aiq.db'}"
    folder = isolated_dirs / "data" / "backups"
    folder.mkdir(parents=True)
    an_hour_ago = time.time() - 2 * 3600

    def partial(name: str, *, stale: bool) -> Path:
        path = folder / f".{name}.partial"
        path.write_bytes(b"sealed credentials and business data")
        if stale:
            os.utime(path, (an_hour_ago, an_hour_ago))
        return path

    killed = partial(backup_name("sqlite", datetime(2026, 11, 1)), stale=True)
    running = partial(backup_name("logical", datetime(2026, 11, 2)), stale=False)
    other = folder / ".notes.partial"  # not a backup's: never touched
    other.write_text("x")
    os.utime(other, (an_hour_ago, an_hour_ago))
    r = aiq(capsys, "--db", db, "backup")
    assert r.code == 0, r.err
    assert not killed.exists()  # left by a killed backup: gone
    assert running.exists() and other.exists()  # another backup still writing: kept
    # The retention pass (aiq data purge, the daemon's housekeeping) removes them too.
    os.utime(running, (an_hour_ago, an_hour_ago))
    r = aiq(capsys, "--db", db, "data", "purge")
    assert r.code == 0, r.err
    assert not running.exists() and other.exists()


def test_table_rows_helper_sees_both_orgs(synced_store: Store, synced: Synced) -> None:
    assert table_rows(synced_store, "invoice", synced.org_a) > 0
    assert table_rows(synced_store, "invoice", synced.org_b) > 0
