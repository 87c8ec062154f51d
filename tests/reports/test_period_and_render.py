"""Periods, name matching and the small renderers: no database needed."""

from __future__ import annotations

from datetime import date

import pytest

from aiq.errors import UsageError
from aiq.render.charts import bar, column_chart, sparkline
from aiq.render.money import compact_money, money, pct, signed_pct
from aiq.reports.period import Period, last_full_month, parse_month, resolve_period
from aiq.reports.scope import match_name
from aiq.reports.sync_health import freshness_of

TODAY = date(2026, 11, 26)


def test_default_period_is_the_current_month() -> None:
    p = resolve_period(None, None, None, TODAY)
    assert (p.start, p.end, p.month, p.label) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
        True,
        "2026-11",
    )
    assert p.is_current(TODAY)
    # Compared to date: 1-26 November against 1-26 October, and 1-26 November 2025.
    to_date = p.to_date(TODAY)
    assert to_date == Period(date(2026, 11, 1), TODAY)
    assert to_date.previous() == Period(date(2026, 10, 1), date(2026, 10, 26))
    assert to_date.year_ago() == Period(date(2025, 11, 1), date(2025, 11, 26))


def test_previous_periods() -> None:
    march = parse_month("2026-03")
    assert march.previous() == Period(date(2026, 2, 1), date(2026, 2, 28), True)
    assert parse_month("2026-01").previous().label == "2025-12"
    week = Period(date(2026, 10, 12), date(2026, 10, 18))
    assert week.previous() == Period(date(2026, 10, 5), date(2026, 10, 11))
    assert Period(date(2024, 2, 29), date(2024, 2, 29)).year_ago().start == date(2023, 2, 28)
    assert last_full_month(TODAY).label == "2026-10"
    assert last_full_month(date(2026, 1, 5)).label == "2025-12"


def test_from_and_to() -> None:
    p = resolve_period(None, "2026-10-01", "2026-10-31", TODAY)
    assert p.month and p.label == "2026-10"
    p = resolve_period(None, "2026-10-10", None, TODAY)
    assert (p.start, p.end) == (date(2026, 10, 10), TODAY)
    p = resolve_period(None, None, "2026-10-10", TODAY)
    assert (p.start, p.end) == (date(2026, 10, 1), date(2026, 10, 10))
    assert resolve_period(None, "2026-12-01", "2026-12-31", TODAY, allow_future=True).days == 31


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1x", "26-10", "", "2026/10"])
def test_bad_months(text: str) -> None:
    with pytest.raises(UsageError, match="is not a month"):
        parse_month(text)


def test_bad_ranges() -> None:
    with pytest.raises(UsageError, match="is after --to"):
        resolve_period(None, "2026-10-02", "2026-10-01", TODAY)
    with pytest.raises(UsageError, match="in the future"):
        resolve_period("2026-12", None, None, TODAY)
    with pytest.raises(UsageError, match="is not a date"):
        resolve_period(None, "yesterday", None, TODAY)


def test_match_name() -> None:
    names = {1: "Glow Med Spa Austin", 2: "Glow Med Spa Scottsdale", 3: "Downtown"}
    assert match_name("clinic", "glow med spa austin", names) == 1
    assert match_name("clinic", "downtown", names) == 3
    assert match_name("clinic", "Glow Med Spa S", names) == 2  # a unique prefix
    assert match_name("clinic", "scottsdale", names) == 2  # a unique part
    assert match_name("clinic", "2", names) == 2  # an id
    with pytest.raises(UsageError, match="matches several clinics"):
        match_name("clinic", "glow", names)
    with pytest.raises(UsageError, match="did you mean 'Downtown'"):
        match_name("clinic", "downtwn", names)
    with pytest.raises(UsageError, match="known: Downtown, Glow Med Spa Austin"):
        match_name("clinic", "zzz", names)


def test_freshness_against_the_schedule() -> None:
    from datetime import datetime, timedelta

    now = datetime(2026, 11, 26, 12, 0)
    assert freshness_of(None, now, 30).status == "never"
    assert freshness_of(now - timedelta(minutes=30), now, 30).status == "fresh"
    assert freshness_of(now - timedelta(minutes=31), now, 30).status == "delayed"
    assert freshness_of(now - timedelta(minutes=60), now, 30).status == "delayed"
    assert freshness_of(now - timedelta(minutes=61), now, 30).status == "stale"


def test_money_and_percentages() -> None:
    assert money(235336) == "$2,353.36"
    assert money(-5) == "-$0.05"
    assert money(123456789, "EUR") == "€1,234,567.89"
    assert money(150, "ZAR") == "ZAR 1.50"
    assert money(235350, whole=True) == "$2,354"
    assert money(None) == "–"
    assert compact_money(1_234_500) == "$12k" and compact_money(-99_00) == "-$99"
    assert pct(0.1234) == "12.3%" and pct(None) == "–"
    assert signed_pct(0.5) == "+50.0%" and signed_pct(-0.04) == "-4.0%"


def test_terminal_charts() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([3, 3]) == "▄▄"
    assert bar(10, 10, 4) == "████" and bar(5, 10, 4) == "██" and bar(1, 80, 10) == "▏"
    assert bar(0, 10) == "" and bar(-3, 10) == ""
    days = [date(2026, 10, d) for d in range(1, 11)]
    lines = column_chart([float(d) for d in range(10)], days, height=4, fmt=lambda v: f"{v:.0f}")
    assert lines[0].startswith("9 ┤") and lines[-1].strip().startswith("1")
    assert len(lines) == 6  # 4 rows, the axis, the dates
    assert all(len(line) <= 4 + 20 for line in lines)
