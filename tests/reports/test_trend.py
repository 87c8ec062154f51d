"""`aiq report trend` on the hand-built practice (tests/reports/handmade.py), on both databases.

October 2026 against October 2025 (I13 alone: 28000 less its fee of 842), September 2026 (I9 and
three completed appointments) against nothing, and November 2026 to date (I4's refund alone).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from aiq.reports import api
from aiq.reports.period import months_up_to, parse_month
from aiq.reports.trend import FIGURES
from aiq.store.db import Store
from tests.helpers import aiq
from tests.reports.conftest import request_for


def test_trend_of_the_twelve_months(hand_store: Store) -> None:
    r = api.trend(hand_store, request_for())  # up to the last full month, October 2026
    assert [f"{m.month.start:%Y-%m}" for m in r.months] == [
        f"{p.start:%Y-%m}" for p in months_up_to(parse_month("2026-10"), 12)
    ]
    assert r.period.start == date(2025, 11, 1) and r.period.end == date(2026, 10, 31)
    assert [f.key for f in r.figures] == [
        "net_sales_cents",
        "completed",
        "completion_rate",
        "average_ticket_cents",
        "rebooking_rate",
    ]
    # The hand-built practice had no patient pass: no rebooking rate, rather than zeros.
    assert all(m.values["rebooking_rate"].value is None for m in r.months)
    october, september = r.months[-1], r.months[-2]
    assert october.year_ago.start == date(2025, 10, 1) and october.year_ago_synced
    v = october.values
    assert (v["net_sales_cents"].value, v["net_sales_cents"].year_ago) == (235336, 27158)
    assert v["net_sales_cents"].difference == 235336 - 27158
    assert v["net_sales_cents"].change == pytest.approx(235336 / 27158 - 1)
    assert (v["completed"].value, v["completed"].year_ago, v["completed"].change) == (4, 0, None)
    assert v["completion_rate"].value == pytest.approx(4 / 7)
    assert v["completion_rate"].year_ago is None and v["completion_rate"].difference is None
    assert (v["average_ticket_cents"].value, v["average_ticket_cents"].year_ago) == (24486, 28000)
    v = september.values
    assert (v["net_sales_cents"].value, v["completed"].value) == (14000, 3)
    assert (v["completion_rate"].value, v["average_ticket_cents"].value) == (1.0, 14000)
    assert (v["net_sales_cents"].year_ago, v["average_ticket_cents"].year_ago) == (0, None)
    assert all(m.values["net_sales_cents"].value == 0 for m in r.months[:-2])
    assert r.series("completed")[-2:] == [3, 4] and r.has_data


def test_trend_figures_are_the_reports_own(hand_store: Store) -> None:
    """Each month's figures equal what revenue and appointments say of that month."""
    r = api.trend(hand_store, request_for(clinic="Austin"))
    for m in r.months:
        req = request_for(month=f"{m.month.start:%Y-%m}", clinic="Austin")
        rev = api.revenue(hand_store, req)
        appts = api.appointments(hand_store, req).summary
        assert m.values["net_sales_cents"].value == rev.summary.net_sales
        assert m.values["average_ticket_cents"].value == rev.ticket.average_cents
        assert m.values["completed"].value == appts.completed
        assert m.values["completion_rate"].value == appts.completion_rate
        ago = rev.comparisons[1]
        assert m.values["net_sales_cents"].year_ago == ago.summary.net_sales


def test_this_month_is_compared_to_date(hand_store: Store) -> None:
    r = api.trend(hand_store, request_for(month="2026-11"))
    november = r.months[-1]
    assert november.partial and november.counted.end == date(2026, 11, 26)
    assert (november.year_ago.start, november.year_ago.end) == (
        date(2025, 11, 1),
        date(2025, 11, 26),
    )
    assert november.values["net_sales_cents"].value == -25980  # I4's refund
    assert november.values["net_sales_cents"].change is None  # against nothing


def test_trend_through_the_cli(capsys: pytest.CaptureFixture[str], hand_url: str) -> None:
    base = ("--db", hand_url, "report", "trend", "--today", "2026-11-26")
    r = aiq(capsys, *base)
    assert r.code == 0, r.err
    assert "Nov 2025–Oct 2026, each month against a year earlier" in r.out
    assert "$2,353" in r.out and "+766.5%" in r.out  # October, against October 2025
    assert "57.1%" in r.out and "█" in r.out
    assert "Net sales" in r.out and "a year earlier" in r.out  # the sparklines

    doc = json.loads(aiq(capsys, *base, "-f", "json").out)
    assert doc["report"] == "trend" and len(doc["months"]) == 12
    assert [f["key"] for f in doc["figures"]] == [f.key for f in FIGURES]
    october = doc["months"][-1]
    assert october["month"] == "2026-10" and october["year_ago"]["synced"] is True
    assert october["figures"]["net_sales_cents"] == {
        "value": 235336,
        "year_ago": 27158,
        "difference": 208178,
        "change": pytest.approx(208178 / 27158),
    }
    assert october["figures"]["completed"]["value"] == 4

    rows = list(csv.DictReader(io.StringIO(aiq(capsys, *base, "-f", "csv").out)))
    assert len(rows) == 12 and rows[-1]["net_sales_cents_year_ago"] == "27158"
    assert rows[-2]["average_ticket_cents"] == "14000" and rows[-2]["completed"] == "3"
    lines = aiq(capsys, *base, "-f", "ndjson", "--clinic", "Scottsdale").out.splitlines()
    assert json.loads(lines[-1])["completed"] == 2  # A9 and A10

    r = aiq(capsys, *base, "-m", "2024-06")
    assert r.code == 0 and "No sales or appointments in" in r.out


def test_the_monthly_report_holds_the_trend_and_the_prepaid_liability(
    capsys: pytest.CaptureFixture[str], hand_url: str, hand_store: Store
) -> None:
    import xml.etree.ElementTree as ET

    from aiq.render.html import render_monthly_html

    m = api.monthly(hand_store, request_for(month="2026-10"))
    assert m.trend.months[-1].month == parse_month("2026-10") and len(m.trend.months) == 12
    assert m.prepaid.closing is not None and m.prepaid.closing.balance_cents == 61175
    root = ET.fromstring(render_monthly_html(m).split("\n", 1)[1])
    body = "".join(root.itertext())
    assert "Net sales, 12 months" in body and "Prepaid liability" in body
    assert "Owed to patients on October 31, 2026: $611.75" in body
    assert "Since 2025-10-15, where the synced history begins" in body
    chart = next(s for s in root.iter("svg") if "Net sales by month" in (s.get("aria-label") or ""))
    texts = [t.text for t in chart.iter("text")]
    assert texts.count("Oct") == 1 and "Jan" in texts and "2026" in texts
    assert "the same month a year earlier" in texts
    assert chart.find("polyline") is not None  # the year earlier, a line over the columns
    assert len(chart.findall("rect")) == 12

    doc = json.loads(
        aiq(
            capsys,
            "--db",
            hand_url,
            "report",
            "monthly",
            "-m",
            "2026-10",
            "-f",
            "json",
            "--today",
            "2026-11-26",
        ).out
    )
    assert doc["trend"]["months"][-1]["figures"]["net_sales_cents"]["value"] == 235336
    assert doc["prepaid"]["balance"]["total_cents"] == 61175
