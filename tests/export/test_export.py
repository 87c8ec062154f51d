"""`aiq export`: every format reads back with independent readers and matches the database."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from aiq.audit import entries
from aiq.export import ExportOptions, export_to_dir, verify_export
from aiq.export.tables import DEFAULT_TABLES, SECRET_TABLES
from aiq.store.db import Store, open_store
from aiq.store.models import metadata
from aiq.store.orgs import find_any_org
from tests.export.fixtures import ORG_A, Synced
from tests.helpers import aiq, aiq_process
from tests.phi import find_phi

MONEY_TABLES = ("invoice", "invoice_item", "payment", "refund")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def db_figures(store: Store, table: str, org_id: int) -> dict[str, int]:
    """Row count and the sum of every *_cents column of one org's table, from the database."""
    t = metadata.tables[table]
    cents = [c for c in t.columns if c.name.endswith("_cents")]
    with store.connect() as conn:
        row = conn.execute(
            select(func.count(), *(func.coalesce(func.sum(c), 0) for c in cents)).where(
                t.c.org_id == org_id
            )
        ).one()
    return {"rows": int(row[0]), **{c.name: int(v) for c, v in zip(cents, row[1:], strict=True)}}


def check_against_db(
    store: Store, out: Path, org_id: int, read: Any, synced: Synced
) -> dict[str, Any]:
    """Every file: rows, money sums and checksum agree with the database and the manifest."""
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["org"]["id"] == org_id and manifest["org"]["currency"] == "USD"
    assert manifest["aiq_version"]
    files = {f["table"]: f for f in manifest["files"]}
    assert set(files) == {t.name for t in DEFAULT_TABLES}
    assert not set(files) & SECRET_TABLES
    for name, f in files.items():
        path = out / f["file"]
        assert sha256(path) == f["sha256"], name
        assert path.stat().st_size == f["bytes"]
        rows = read(path)
        db = db_figures(store, name, org_id)
        assert len(rows) == f["rows"] == db["rows"], name
        assert [c["name"] for c in f["columns"]] == (list(rows[0]) if rows else [])
        assert "row_hash" not in (rows[0] if rows else {})
        assert all(int(r["org_id"]) == org_id for r in rows)
        for col, total in ((k, v) for k, v in db.items() if k != "rows"):
            assert f["totals"][col] == total, (name, col)
            assert sum(int(r[col]) for r in rows if r[col] not in (None, "")) == total
            amount = col.removesuffix("_cents")
            decimals = sum(
                (Decimal(r[amount]) for r in rows if r[amount] not in (None, "")), Decimal(0)
            )
            assert decimals == Decimal(total) / 100, (name, amount)
            assert {r["currency"] for r in rows} <= {"USD"}
        for c in f["columns"]:
            if c["type"] == "timestamp":
                for r in rows[:200]:
                    if r[c["name"]] not in (None, ""):
                        v = r[c["name"]]
                        stamp = v if isinstance(v, datetime) else datetime.fromisoformat(v)
                        assert stamp.utcoffset() == timedelta(0)
    for name in MONEY_TABLES:
        assert files[name]["rows"] > 0
    # No patient data in any file the export wrote (Parquet is compressed: its values are the
    # same as the text formats', which are scanned).
    if manifest["format"] != "parquet":
        blob = b"\n".join(p.read_bytes() for p in sorted(out.iterdir()))
        assert find_phi(blob, synced.sandbox) == []
    return manifest


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_round_trip_text_formats(
    capsys: pytest.CaptureFixture[str],
    synced: Synced,
    synced_store: Store,
    tmp_path: Path,
    fmt: str,
) -> None:
    out = tmp_path / "export"
    r = aiq(
        capsys, "--db", synced.url, "export", "--format", fmt, "--out", str(out), "--org", ORG_A
    )
    assert r.code == 0, r.err
    assert "manifest.json" in r.err
    reader = read_csv if fmt == "csv" else read_ndjson
    check_against_db(synced_store, out, synced.org_a, reader, synced)
    if fmt == "ndjson":
        staff = read_ndjson(out / "staff.ndjson")
        assert isinstance(staff[0]["clinic_ids"], list) and isinstance(staff[0]["is_active"], bool)
    else:
        staff = read_csv(out / "staff.csv")
        assert staff[0]["is_active"] in ("true", "false")
        assert isinstance(json.loads(staff[0]["clinic_ids"]), list)
    # The export is in the audit log, with no data in the entry.
    [entry] = entries(synced_store, action="data.export")
    assert entry.org_id == synced.org_a and entry.details["format"] == fmt
    assert (out / f"invoice.{fmt}").stat().st_mode & 0o777 == 0o600


def test_round_trip_parquet(
    capsys: pytest.CaptureFixture[str], synced: Synced, synced_store: Store, tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "export"
    r = aiq(capsys, "--db", synced.url, "export", "-f", "parquet", "-o", str(out), "--org", ORG_A)
    assert r.code == 0, r.err

    def read(path: Path) -> list[dict[str, Any]]:
        return list(pq.read_table(path).to_pylist())

    manifest = check_against_db(synced_store, out, synced.org_a, read, synced)
    invoice = pq.read_table(out / "invoice.parquet")
    assert str(invoice.schema.field("total").type) == "decimal128(18, 2)"
    assert str(invoice.schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert str(invoice.schema.field("local_date").type) == "date32[day]"
    # DuckDB, a second independent reader, agrees on counts and sums.
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    try:
        n, cents, total = con.execute(
            f"select count(*), sum(total_cents), sum(total) from '{out / 'invoice.parquet'}'"
        ).fetchone()
    finally:
        con.close()
    f = next(f for f in manifest["files"] if f["table"] == "invoice")
    assert n == f["rows"] and cents == f["totals"]["total_cents"]
    assert Decimal(total) == Decimal(cents) / 100


def test_period_and_stdout(
    capsys: pytest.CaptureFixture[str], synced: Synced, synced_store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    r = aiq(
        capsys, "--db", synced.url, "export", "--out", str(out), "--org", ORG_A,
        "--from", "2026-03-01", "--to", "2026-03-31", "--tables", "invoice,invoice_item,clinic",
    )  # fmt: skip
    assert r.code == 0, r.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["period"]["from"] == "2026-03-01"
    invoices = read_csv(out / "invoice.csv")
    assert invoices and all("2026-03-01" <= i["local_date"] <= "2026-03-31" for i in invoices)
    t = metadata.tables["invoice"]
    with synced_store.connect() as conn:
        expected = conn.execute(
            select(func.count()).where(
                t.c.org_id == synced.org_a,
                t.c.local_date.between(date(2026, 3, 1), date(2026, 3, 31)),
            )
        ).scalar_one()
    assert len(invoices) == expected
    ids = {i["id"] for i in invoices}
    items = read_csv(out / "invoice_item.csv")
    assert items and {i["invoice_id"] for i in items} <= ids
    assert len(read_csv(out / "clinic.csv")) == 2  # reference tables are whole
    assert sorted(p.name for p in out.iterdir()) == [
        "clinic.csv", "invoice.csv", "invoice_item.csv", "manifest.json",
    ]  # fmt: skip

    # One table to standard output, for pipes.
    r = aiq(
        capsys, "--db", synced.url, "export", "-f", "ndjson", "--out", "-", "--tables", "payment",
        "--org", ORG_A,
    )  # fmt: skip
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == db_figures(synced_store, "payment", synced.org_a)["rows"]
    assert json.loads(lines[0])["currency"] == "USD"
    r = aiq(capsys, "--db", synced.url, "export", "--out", "-", "--org", ORG_A)
    assert r.code == 2 and "exactly one table" in r.err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--tables", "credential"], "holds secrets"),
        (["--tables", "vault_key"], "holds secrets"),
        (["--tables", "nope"], "no exportable table"),
        (["--from", "2026-02-30"], "not a date"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "after --to"),
    ],
)
def test_bad_requests_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], needle: str
) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    r = aiq(capsys, "--db", db, "export", "--out", str(tmp_path / "o"), *args)
    assert r.code == 2 and needle in r.err, r.err
    assert r.err.count("\n") == 1


def test_refuses_a_directory_that_is_not_an_export(
    capsys: pytest.CaptureFixture[str], synced_sqlite: Synced, tmp_path: Path
) -> None:
    synced = synced_sqlite
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = aiq(capsys, "--db", synced.url, "export", "--out", str(out), "--org", ORG_A)
    assert r.code == 2 and "not an aiq export" in r.err
    assert (out / "notes.txt").read_text() == "keep me"


def test_parquet_without_pyarrow_is_one_clear_line(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['pyarrow'] = None\n"  # makes `import pyarrow` fail as if not installed
        "from aiq.cli import run\n"
        f"sys.exit(run(['--db', 'sqlite:///{tmp_path / 'x.db'}', 'export', '-f', 'parquet']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "pip install 'aiq[parquet]'" in proc.stderr and proc.stderr.count("\n") == 1


def _data_files(out: Path) -> list[Path]:
    return [p for p in out.iterdir() if not p.name.endswith(".partial")]


def test_killed_export_leaves_no_complete_looking_file(
    synced_sqlite: Synced, tmp_path: Path
) -> None:
    synced = synced_sqlite
    full = tmp_path / "full"
    store = open_store(synced.url)
    try:
        export_to_dir(store, find_any_org(store, ORG_A), full, ExportOptions())
    finally:
        store.dispose()
    manifest = json.loads((full / "manifest.json").read_text())
    complete = {f["file"]: f["sha256"] for f in manifest["files"]}
    # Kill points are states of the export directory, not moments: a .partial file in the
    # making after 0, 1, then 2 finished files. An export that finished before the kill landed
    # is simply tried again.
    killed_mid = 0
    for attempt in range(8):
        if killed_mid == 3:
            break
        finished_before_kill = killed_mid
        out = tmp_path / f"killed-{attempt}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "aiq", "--db", synced.url, "export", "--out", str(out),
             "--org", ORG_A],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                names = [p.name for p in out.iterdir()] if out.exists() else []
                partial = any(n.endswith(".partial") for n in names)
                if partial and len(names) - 1 >= finished_before_kill:
                    break
                time.sleep(0.001)
            proc.send_signal(signal.SIGKILL)
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(60)
        if (out / "manifest.json").exists():
            continue  # it finished first; nothing to check
        killed_mid += 1
        # Any file with a final name is whole (renamed only once complete); the rest are
        # hidden .partial files.
        for p in _data_files(out):
            assert complete.get(p.name) == sha256(p), f"{p.name} looks complete but is not"
        # Another export into the same directory clears the leftovers and completes.
        again = aiq_process("--db", synced.url, "export", "--out", str(out), "--org", ORG_A)
        assert again.code == 0, again.err
        assert not [p for p in out.iterdir() if p.name.endswith(".partial")]
        assert verify_export(out) == []
    assert killed_mid == 3


def test_org_choice_and_manifest_time(
    capsys: pytest.CaptureFixture[str], synced_sqlite: Synced, tmp_path: Path
) -> None:
    synced = synced_sqlite
    out = tmp_path / "e"
    r = aiq(capsys, "--db", synced.url, "export", "-o", str(out), "--tables", "clinic")
    assert r.code == 2 and "2 practices" in r.err  # two orgs: --org is needed
    r = aiq(capsys, "--db", synced.url, "export", "-o", str(out), "--tables", "clinic",
            "--org", "glow med spa")  # fmt: skip
    assert r.code == 0, r.err
    created = datetime.fromisoformat(json.loads((out / "manifest.json").read_text())["created_at"])
    assert abs((datetime.now(UTC) - created).total_seconds()) < 120
