"""`aiq report ...` through the real CLI: formats, bad input, empty periods and databases."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from aiq.store.db import Store
from aiq.store.models import Clinic, SyncRun, SyncRunStream, SyncStreamState, table_of
from tests.helpers import aiq
from tests.sync.conftest import add_org

TODAY = ("--today", "2026-11-26")


def report(capsys: pytest.CaptureFixture[str], url: str, *args: str):  # type: ignore[no-untyped-def]
    return aiq(capsys, "--db", url, "report", *args, *TODAY)


def test_revenue_table_shows_the_summary_breakdown_and_trend(
    capsys: pytest.CaptureFixture[str], hand_url: str
) -> None:
    r = report(capsys, hand_url, "revenue", "--month", "2026-10", "--by", "clinic")
    assert r.code == 0, r.err
    assert "Net sales" in r.out and "$2,353.36" in r.out  # 235336 cents
    assert "$3,233.18" in r.out  # total sales
    assert "Austin" in r.out and "$1,831.76" in r.out
    assert "Daily net sales" in r.out and "█" in r.out
    # Nothing synced by aiq sync here: the data's freshness is unknown, and it says so.
    assert "run aiq sync" in r.err


def test_revenue_json_csv_ndjson(capsys: pytest.CaptureFixture[str], hand_url: str) -> None:
    r = report(capsys, hand_url, "revenue", "--month", "2026-10", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["summary"]["net_sales_cents"] == 235336
    assert doc["average_ticket"]["average_cents"] == 24486
    assert doc["comparisons"][0]["summary"]["net_sales_cents"] == 14000
    assert doc["period"] == {"start": "2026-10-01", "end": "2026-10-31", "label": "2026-10"}

    r = report(capsys, hand_url, "revenue", "--month", "2026-10", "-f", "csv", "--by", "provider")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert {row["provider"]: int(row["net_sales_cents"]) for row in rows} == {
        "Mia R.": 86931,
        "Noah K.": 37625,
        "Front D.": 110780,
    }

    r = report(capsys, hand_url, "revenue", "--month", "2026-10", "-f", "ndjson")
    lines = [json.loads(line) for line in r.out.splitlines()]
    assert {d["figure"]: d["cents"] for d in lines}["total_sales"] == 323318


def test_appointments_show_rates_and_comparisons_first(
    capsys: pytest.CaptureFixture[str], hand_url: str
) -> None:
    r = report(capsys, hand_url, "appointments", "--month", "2026-10")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    names = ["Completed ", "Completion rate", "Cancellation rate", "No-show rate", "Booked "]
    at = [next(i for i, line in enumerate(lines) if name in line) for name in names]
    assert at == sorted(at)  # the owner's first figures, in this order, before the counts
    assert "57.1%" in lines[at[1]] and "28.6%" in lines[at[2]] and "14.3%" in lines[at[3]]
    assert "Sep 2026" in r.out and "Oct 2025" in r.out
    assert "-42.9 pt" in lines[at[1]]  # 4/7 completed against 3/3 in September
    assert "+33.3%" in lines[at[0]]
    assert "Completed hours" in r.out and "Booked hours" not in r.out

    doc = json.loads(report(capsys, hand_url, "appointments", "-m", "2026-10", "-f", "json").out)
    assert doc["summary"]["completed_hours"] == 4 and "booked_hours" not in doc["summary"]
    assert doc["to_date"] is None
    prev, ago = doc["comparisons"]
    assert (prev["name"], prev["period"]["label"], ago["period"]["label"]) == (
        "previous",
        "2026-09",
        "2025-10",
    )
    assert prev["summary"]["completed"] == 3
    assert prev["changes"]["completed"] == {"difference": 1, "change": pytest.approx(1 / 3)}
    assert prev["changes"]["no_show_rate"]["difference"] == pytest.approx(1 / 7)

    r = report(capsys, hand_url, "appointments", "-m", "2026-10", "-f", "csv")
    rows = {row["figure"]: row for row in csv.DictReader(io.StringIO(r.out))}
    assert rows["completed"]["value"] == "4" and rows["completed"]["previous"] == "3"
    assert float(rows["cancellation_rate"]["previous_difference"]) == pytest.approx(2 / 7)
    assert rows["upcoming"]["previous"] == ""  # not compared: it depends on the hour

    doc = json.loads(
        aiq(
            capsys,
            "--db",
            hand_url,
            "report",
            "appointments",
            "-f",
            "json",
            "--today",
            "2026-10-20",
        ).out
    )
    assert doc["to_date"]["period"] == {
        "start": "2026-10-01",
        "end": "2026-10-20",
        "label": "2026-10-01..2026-10-20",
    }
    assert doc["comparisons"][0]["period"]["label"] == "2026-09-01..2026-09-20"


def test_every_report_runs_in_every_format(
    capsys: pytest.CaptureFixture[str], hand_url: str
) -> None:
    commands = [
        ["appointments", "--by", "provider"],
        ["providers"],
        ["services"],
        ["products", "--by", "category"],
        ["revenue", "--by", "payment-method"],
        ["revenue", "--by", "day", "--clinic", "Scottsdale"],
        ["prepaid"],
        ["trend", "--clinic", "Austin"],
    ]
    for cmd in commands:
        for fmt in ("table", "json", "ndjson", "csv"):
            r = report(capsys, hand_url, *cmd, "--month", "2026-10", "--format", fmt)
            assert r.code == 0, (cmd, fmt, r.err)
            assert r.out.strip(), (cmd, fmt)
            if fmt == "json":
                json.loads(r.out)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["revenue", "--month", "2026-13"], 2, "is not a month"),
        (["revenue", "--month", "October"], 2, "is not a month"),
        (["revenue", "--from", "2026-10-10", "--to", "2026-10-01"], 2, "is after --to"),
        (["revenue", "--from", "2026-10-32"], 2, "is not a date"),
        (["revenue", "--month", "2026-10", "--from", "2026-10-01"], 2, "not both"),
        (["revenue", "--month", "2027-01"], 2, "in the future"),
        (["providers", "--from", "2026-12-01", "--to", "2026-12-31"], 2, "in the future"),
        (["revenue", "--clinic", "Austn"], 2, "did you mean 'Austin'?"),
        (["revenue", "--provider", "Noa K"], 2, "did you mean 'Noah K.'?"),
        (["revenue", "--provider", "Front D."], 2, "there is no provider called"),
        (["revenue", "--org", "Nope"], 2, "there is no practice called 'Nope'"),
        (["revenue", "--by", "planet"], 2, "planet"),
    ],
)
def test_bad_input_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], hand_url: str, args: list[str], code: int, message: str
) -> None:
    r = report(capsys, hand_url, *args)
    assert r.code == code, r.err
    assert message in r.err
    assert r.out == ""
    assert "Traceback" not in r.err


def test_a_month_with_no_data_says_so(capsys: pytest.CaptureFixture[str], hand_url: str) -> None:
    for cmd in ("revenue", "appointments", "providers", "services", "products"):
        r = report(capsys, hand_url, cmd, "--month", "2026-06")
        assert r.code == 0, r.err
        assert "No " in r.out and "in 2026-06" in r.out, cmd
    r = report(capsys, hand_url, "revenue", "--month", "2026-06", "--format", "json")
    assert json.loads(r.out)["has_data"] is False


def test_appointments_may_look_ahead(capsys: pytest.CaptureFixture[str], hand_url: str) -> None:
    r = report(capsys, hand_url, "appointments", "--month", "2026-12")
    assert r.code == 0, r.err
    assert "No appointments" in r.out


def test_an_empty_database_says_run_sync_first(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    for cmd in (
        "revenue",
        "appointments",
        "providers",
        "services",
        "products",
        "prepaid",
        "trend",
        "sync",
        "monthly",
    ):
        r = aiq(capsys, "--db", db_url, "report", cmd)
        assert r.code == 1, (cmd, r.err)
        assert "run aiq sync first" in r.err
        assert len(r.err.strip().splitlines()) <= 2  # the schema note on first use, the error


def _sync_state(store: Store, org_id: int, ages: dict[str, timedelta], error: str | None) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    with store.begin() as conn:
        conn.execute(
            insert(table_of(Clinic)).values(
                org_id=org_id, id=1, name="Austin", timezone="America/Chicago", row_hash=1
            )
        )
        for stream, age in ages.items():
            conn.execute(
                insert(table_of(SyncStreamState)).values(
                    org_id=org_id,
                    stream=stream,
                    last_success_at=now - age,
                    consecutive_failures=2 if error else 0,
                    known_fields=[],
                )
            )
        run_id = conn.execute(
            insert(table_of(SyncRun)).values(
                org_id=org_id,
                started_at=now - timedelta(minutes=5),
                ended_at=now - timedelta(minutes=4),
                status="failed" if error else "ok",
                mode="incremental",
                requests=12,
                rows_inserted=3,
                error=error,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(
            insert(table_of(SyncRunStream)).values(
                run_id=run_id,
                stream="invoices",
                org_id=org_id,
                started_at=now - timedelta(minutes=5),
                ended_at=now - timedelta(minutes=4, seconds=30),
                status="failed" if error else "ok",
                rows_inserted=3,
                error=error,
            )
        )


def test_sync_report_and_freshness(
    capsys: pytest.CaptureFixture[str], store: Store, db_url: str
) -> None:
    org_id = add_org(store)
    _sync_state(
        store,
        org_id,
        {
            "clinics": timedelta(minutes=10),  # fresh: within 30 min
            "appointments": timedelta(minutes=45),  # delayed: past one interval
            "invoices": timedelta(hours=3),  # stale: past two
        },
        error="invoices: AR answered 503 five times",
    )
    r = aiq(capsys, "--db", db_url, "report", "sync", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    fresh = {s["stream"]: s["freshness"] for s in doc["streams"]}
    assert fresh == {"clinics": "fresh", "appointments": "delayed", "invoices": "stale"}
    inv = next(s for s in doc["streams"] if s["stream"] == "invoices")
    assert inv["last_error"] == "invoices: AR answered 503 five times"
    assert inv["consecutive_failures"] == 2 and inv["rows_inserted"] == 3
    assert inv["duration_seconds"] == 30.0
    assert doc["freshness"]["status"] == "stale"  # the older of appointments and invoices
    assert doc["runs"][0]["status"] == "failed" and doc["runs"][0]["requests"] == 12

    r = aiq(capsys, "--db", db_url, "report", "sync")
    assert r.code == 0 and "stale" in r.out and "delayed" in r.out

    # Every business report warns when its data is stale.
    r = aiq(capsys, "--db", db_url, "report", "revenue")
    assert r.code == 0, r.err
    assert "the data is stale: last synced 3 h ago" in r.err
    assert "every 30 min" in r.err


def test_the_schedule_comes_from_the_daemon_interval(
    capsys: pytest.CaptureFixture[str], store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_id = add_org(store)
    _sync_state(
        store, org_id, {"appointments": timedelta(hours=3), "invoices": timedelta(hours=3)}, None
    )
    monkeypatch.setenv("AIQ_DAEMON_INTERVAL_MINUTES", "240")
    r = aiq(capsys, "--db", db_url, "report", "sync", "-f", "json")
    assert json.loads(r.out)["freshness"]["status"] == "fresh"
    r = aiq(capsys, "--db", db_url, "report", "appointments")
    assert "stale" not in r.err and "delayed" not in r.err


def test_currency_follows_the_setting(
    capsys: pytest.CaptureFixture[str], hand_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIQ_REPORT_CURRENCY", "EUR")
    r = report(capsys, hand_url, "revenue", "--month", "2026-10")
    assert "€2,353.36" in r.out


def _to_a_closed_pipe(*args: str, buffered: bool) -> subprocess.CompletedProcess[str]:
    """`python -m aiq ARGS` writing to a pipe whose reader has already gone, as `aiq ... | head -1`
    leaves it once head has its line (here for certain, not by a race with head). ``buffered``:
    stdout block-buffered, as usual, or written through (PYTHONUNBUFFERED)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "aiq", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize("hand_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("fmt", "buffered"),
    [("table", True), ("table", False), ("csv", True), ("csv", False), ("json", True)],
)
def test_a_reader_that_goes_away_early_ends_the_command_quietly_with_0(
    hand_url: str, fmt: str, buffered: bool
) -> None:
    """`aiq report revenue | head -1` under `set -o pipefail`: no traceback, no error, exit 0."""
    proc = _to_a_closed_pipe(
        "--db", hand_url, "report", "revenue", "--month", "2026-10", "-f", fmt, *TODAY,
        buffered=buffered,
    )  # fmt: skip
    # What the command says besides its data (the freshness note) may come; nothing else may.
    said = [line for line in proc.stderr.splitlines() if not line.startswith("Note:")]
    assert (proc.returncode, said) == (0, []), proc.stderr


def test_help_to_a_reader_that_went_away_is_quiet_and_not_recorded(isolated_dirs: Path) -> None:
    proc = _to_a_closed_pipe("report", "revenue", "--help", buffered=True)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert not list((isolated_dirs / "cache").rglob("*.out"))  # what was cut off is not replayed
