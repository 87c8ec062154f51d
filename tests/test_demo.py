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
