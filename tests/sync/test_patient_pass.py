"""The patient pass: when a sync runs it, and what it leaves in the database (aggregates only).

Real HTTP against the sandbox, on SQLite and Postgres. The figures themselves are compared with
the sandbox's ground truth in tests/reports/test_retention.py.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BigInteger, Integer, String, Text, inspect, select, text, update

from aiq import privacy
from aiq.clock import utcnow
from aiq.config import PrivacySettings, SyncSettings
from aiq.errors import UsageError
from aiq.reports import api
from aiq.reports.api import ReportRequest
from aiq.sandbox import Sandbox
from aiq.sandbox.server import RunningSandbox, serve_in_thread
from aiq.sandbox.testing import make_config
from aiq.store.db import Store
from aiq.store.models import PatientFigure, PatientPass, table_of
from aiq.sync.engine import SyncEngine, SyncOptions
from tests.helpers import aiq_process
from tests.sync.conftest import RECENT, SINCE, SyncedOrg, SyncFn, make_client

FIGURES = table_of(PatientFigure)
PASSES = table_of(PatientPass)
PATIENT_COUNTS = ("is_new_patient", "new_patient_completed", "patients")
"""The columns named after patients: a flag and counts, never who."""


def _passes(store: Store, org_id: int) -> list[Any]:
    with store.connect() as conn:
        return list(conn.execute(select(PASSES).where(PASSES.c.org_id == org_id)).all())


def _figures(store: Store, org_id: int) -> int:
    with store.connect() as conn:
        n = conn.execute(
            select(text("count(*)")).select_from(FIGURES).where(FIGURES.c.org_id == org_id)
        ).scalar_one()
    return int(n)


def _engine(store: Store, org_id: int, running: RunningSandbox, **opts: Any) -> SyncEngine:
    privacy_settings = opts.pop("privacy", None)
    opts.setdefault("today", running.sandbox.now.date())
    opts.setdefault("since", SINCE)
    return SyncEngine(
        store,
        make_client(running.base_url),
        org_id,
        SyncSettings(concurrency=4),
        SyncOptions(**opts),
        privacy=privacy_settings,
    )


def _run(engine: SyncEngine) -> Any:
    try:
        return engine.run()
    finally:
        engine.client.close()


def test_the_first_sync_runs_the_pass_and_the_next_one_does_not(
    store: Store, org_id: int, served: RunningSandbox, run_sync: SyncFn
) -> None:
    first = run_sync(served)
    assert first.status == "ok" and first.patient_pass == "saved"
    (row,) = _passes(store, org_id)
    assert row.history_from == SINCE
    assert row.as_of == served.sandbox.now.date()
    assert row.appointments_until == row.as_of + timedelta(days=SyncSettings().future_days)
    assert row.appointments > 1000 and row.invoices > 1000 and row.min_cell == 11
    assert _figures(store, org_id) > 100
    assert first.document()["patient_pass"] == "saved"
    health = api.sync(store, ReportRequest())
    assert health.patient_pass_at == row.computed_at

    # The pass ran a moment ago: an ordinary run is incremental and leaves the figures be.
    again = run_sync(served)
    assert again.patient_pass is None and again.mode == "incremental"
    assert again.requests < first.requests / 4
    assert _passes(store, org_id)[0].computed_at == row.computed_at

    # Asked for, it runs now, as a full read; and when the last one is old enough, by itself.
    forced = run_sync(served, patients=True)
    assert forced.patient_pass == "saved" and forced.mode == "full"
    with store.begin() as conn:
        conn.execute(update(PASSES).values(computed_at=utcnow() - timedelta(hours=25)))
    due = run_sync(served)
    assert due.patient_pass == "saved"
    assert _passes(store, org_id)[0].computed_at > utcnow() - timedelta(minutes=10)


def test_the_pass_can_be_turned_off_and_refuses_what_it_cannot_do(
    store: Store, org_id: int, served: RunningSandbox
) -> None:
    off = PrivacySettings(patient_figures=False)
    # A first sync (of three months: a first sync with the pass on reads it all the same).
    report = _run(_engine(store, org_id, served, privacy=off, since=RECENT))
    assert report.status == "ok" and report.patient_pass is None
    assert not _passes(store, org_id) and _figures(store, org_id) == 0
    with pytest.raises(UsageError, match="appointments and invoices"):
        _engine(store, org_id, served, patients=True, streams=("invoices",))
    with pytest.raises(UsageError, match="dry run"):
        _engine(store, org_id, served, patients=True, dry_run=True)


def test_a_stopped_first_sync_resumes_rather_than_starting_a_pass(
    store: Store, org_id: int, served: RunningSandbox
) -> None:
    stops = iter([False] * 3)
    engine = _engine(store, org_id, served)
    engine.should_stop = lambda: not next(stops, False)
    with pytest.raises(Exception, match="stopped"):
        _run(engine)
    assert not _passes(store, org_id)
    resumed = _run(_engine(store, org_id, served))
    assert resumed.status == "ok"
    # The resumed read did not read the whole history: no pass from it...
    assert resumed.patient_pass is None and not _passes(store, org_id)
    # ... and the next run, with the history whole and no pass yet, makes one.
    following = _run(_engine(store, org_id, served))
    assert following.patient_pass == "saved" and _passes(store, org_id)


def test_a_pass_that_could_not_read_everything_keeps_the_old_figures(
    synced_org: SyncedOrg,
) -> None:
    store, org_id, run_sync = synced_org.store, synced_org.org_id, synced_org.sync
    with serve_in_thread(Sandbox(make_config())) as running:
        (before,) = _passes(store, org_id)  # saved by the first sync
        # AR fails every invoice window for good: the run fails, the pass saves nothing.
        running.sandbox.faults.set("500", 1.0, endpoints=["invoices"])
        with pytest.raises(Exception):  # noqa: B017 - the upstream error is the run's
            run_sync(running, patients=True)
        running.sandbox.faults.clear()
    assert _passes(store, org_id)[0].computed_at == before.computed_at


def _patient_ids(running: RunningSandbox) -> set[int]:
    truth = running.sandbox.truth()
    return {
        r["patient"]["id"] for s in ("appointments", "invoices") for r in truth[s] if r["patient"]
    }


def test_no_table_holds_a_patient_id_a_hash_of_one_or_a_row_per_patient(
    synced_org: SyncedOrg, db_url: str, served: RunningSandbox, tmp_path: Path
) -> None:
    store = synced_org.store  # after a first sync, which saved a pass
    assert _passes(store, synced_org.org_id)
    ids = _patient_ids(served)
    assert len(ids) > 500
    # The schema: no column is about a patient but the pass's counts of them.
    for c in privacy.columns():
        assert "patient" not in c.column or c.column in PATIENT_COUNTS, c
        assert c.reason
    # The data: no id-like or count value equals a patient id, and no text holds one or a hash
    # of one (money columns, in cents, may meet an id's number by chance: they are amounts).
    hashes = {
        h(str(i).encode()).hexdigest()
        for i in ids
        for h in (hashlib.md5, hashlib.sha1, hashlib.sha256)
    }
    texts = {str(i) for i in ids}
    with store.connect() as conn:
        for table in privacy.tables():
            names = {c["name"]: c["type"] for c in inspect(conn).get_columns(table.name)}
            for name, kind in names.items():
                if name.endswith("_cents") or name in ("quantity_milli", "row_hash"):
                    continue
                values = conn.execute(text(f'select "{name}" from "{table.name}"'))
                found = {v if isinstance(v, int | str) else str(v) for (v,) in values}
                if isinstance(kind, Integer | BigInteger):
                    assert not found & ids, f"{table.name}.{name} holds a patient id"
                elif isinstance(kind, String | Text):
                    words = {str(v) for v in found}
                    assert not words & texts, f"{table.name}.{name} holds a patient id"
                    assert not words & hashes, f"{table.name}.{name} holds a hash of one"
        # No row is one patient: every figure over patients is over min_cell of them, or holds
        # no number at all.
        rows = conn.execute(
            select(FIGURES.c.patients, FIGURES.c.count, FIGURES.c.base, FIGURES.c.suppressed)
        ).all()
    assert rows
    for patients, count, base, hidden in rows:
        if hidden:
            assert patients is None and count is None and base is None
        else:
            assert patients is None or patients == 0 or patients >= 11
    # They are the practice's figures: exported when asked for, patient ids no more there.
    out = tmp_path / "export"
    res = aiq_process(
        "--db", db_url, "export", "--tables", "patient_figure,patient_pass", "--out", str(out)
    )  # fmt: skip
    assert res.code == 0, res.err
    with (out / "patient_figure.csv").open() as f:
        exported = list(csv.DictReader(f))
    assert len(exported) == len(rows)
    assert not {r["count"] for r in exported} & texts
    # The rows are per month and dimension, however many patients there are.
    months = (served.sandbox.now.date().year - SINCE.year) * 12 + 13
    assert len(rows) < months * 60 < len(ids) * 2


def test_the_tap_keeps_each_record_once_as_last_read_and_gives_it_back_whole() -> None:
    """What the tap packs comes back unchanged, a record read twice counts once (its last
    reading), and a patient's appointments come back together."""
    from aiq.ar.patients import NEVER
    from aiq.sync.patients import PatientTap

    tap = PatientTap()
    first = (7, 900, 10**15, 739_000, NEVER, NEVER, False, 1, None, True)
    again = (7, 900, 10**15 + 60, 739_001, 738_990, 739_002, True, 1, 44, True)
    other = (3, 12345678901234, 2 * 10**15, 739_010, 739_000, NEVER, True, 2, -5, False)
    same_patient = (9, 900, 3 * 10**15, 739_020, 739_000, NEVER, True, 2, 44, False)
    tap.add("appointments", [first, other])
    tap.add("appointments", [again, same_patient])  # the window read again, then another
    tap.add(
        "invoices",
        [
            (5, 900, 739_000, True, True, 4_500, ((739_000, 10_000), (739_030, -2_500))),
            (6, None, 739_001, False, False, 0, ()),
            (5, 900, 739_000, True, True, 4_500, ((739_000, 9_000),)),
        ],
    )
    assert (tap.appointments, tap.invoices) == (3, 2)
    visits = sorted(sorted(v) for v in tap.visits())
    numbered = {v[0][1] for v in visits}
    assert len(numbered) == 2  # patients are numbered, AR's ids are not handed back
    by_id = {a[0]: a[:1] + a[2:] for v in visits for a in v}
    assert by_id == {
        7: again[:1] + again[2:],
        3: other[:1] + other[2:],
        9: same_patient[:1] + same_patient[2:],
    }
    assert sorted(len(v) for v in visits) == [1, 2]
    invoices = sorted(tap.invoice_facts())
    assert [i[0] for i in invoices] == [5, 6]
    assert invoices[0][2:] == (739_000, True, True, 4_500, ((739_000, 9_000),))
    assert invoices[1][1:] == (None, 739_001, False, False, 0, ())
    assert tap.complete

    tap.add("invoices", [(8, 1, 739_000, True, False, 2**63, ((739_000, 1),))])
    assert not tap.complete  # a sum past 64 bits: the pass is not saved
