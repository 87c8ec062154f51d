"""`aiq demo` on a fresh machine: nothing configured, real sandbox, real SQLite, twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import aiq


def test_demo_runs_from_nothing_and_again_without_duplicates(
    capsys: pytest.CaptureFixture[str], isolated_dirs: Path
) -> None:
    first = aiq(capsys, "demo")
    assert first.code == 0, first.err
    assert "Sync ok" in first.err
    assert "appointments" in first.out and "No patient data" in first.out
    assert "Try next" in first.out
    # The reports of the last full month: revenue, appointments, providers.
    from datetime import date

    from aiq.reports.period import last_full_month

    month = last_full_month(date.today()).label
    for title in ("Revenue", "Appointments", "Providers"):
        assert f"{title} · Glow Med Spa (sandbox) · {month}" in first.out, title
    assert "Net sales" in first.out and "Completed" in first.out and "Daily net sales" in first.out
    assert "aiq report revenue" in first.out
    db = isolated_dirs / "data" / "aiq.db"
    assert db.exists() and db.stat().st_mode & 0o777 == 0o600

    second = aiq(capsys, "demo")
    assert second.code == 0, second.err
    assert "wrote 0 new" in second.err
    # The same practice, the same rows: the second run duplicated nothing.
    summary = [line for line in first.out.splitlines() if "is in sqlite" in line]
    assert summary and summary == [
        line for line in second.out.splitlines() if "is in sqlite" in line
    ]

    from aiq.sandbox import PHI_MARKERS

    data = b"".join(p.read_bytes() for p in db.parent.glob("aiq.db*"))
    assert not [m for m in PHI_MARKERS if m.encode() in data]


@pytest.mark.parametrize("max_retries", [0, 2])
def test_the_demo_sync_honours_the_ar_settings(isolated_dirs: Path, max_retries: int) -> None:
    """The demo syncs through the same use case as `aiq sync`: [ar] settings apply to it."""
    from aiq.config import load_settings
    from aiq.demo import run_demo
    from aiq.errors import UpstreamUnavailable
    from aiq.sandbox.server import RunningSandbox
    from aiq.store.db import open_store

    served: list[RunningSandbox] = []

    def two_failures(running: RunningSandbox) -> None:
        running.sandbox.faults.add("502", count=2, endpoints=["invoices"])
        served.append(running)

    settings = load_settings()
    settings.ar.max_retries = max_retries
    settings.sync.since_months = 1  # the retries are the point, not how much history is read
    settings.ensure_dirs()
    store = open_store(settings.database_url, migrate=True)
    try:
        if max_retries == 0:
            with pytest.raises(
                UpstreamUnavailable, match=r"invoices after 1 attempt \(last: HTTP 502"
            ):
                run_demo(store, settings, announce=lambda _: None, prepare=two_failures)
            return
        result = run_demo(store, settings, announce=lambda _: None, prepare=two_failures)
    finally:
        store.dispose()
    assert result.report.status == "ok"
    assert served[0].sandbox.faults.injected["502"] == 2  # both failures were met, and retried
