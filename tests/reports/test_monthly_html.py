"""The monthly HTML report: well-formed, self-contained, and rendered by headless Chromium."""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import xml.etree.ElementTree as ET
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

from aiq.render.html import PRINTED_PROVIDERS, category_bars, render_monthly_html
from aiq.reports import api
from aiq.reports.monthly import MonthlyReport, weekday_aligned
from aiq.reports.revenue import BreakdownRow, DayPoint
from aiq.store.db import Store
from tests.conftest import IN_CI
from tests.helpers import aiq
from tests.reports.conftest import request_for

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def _write(capsys: pytest.CaptureFixture[str], url: str, path: Path, *args: str) -> str:
    r = aiq(
        capsys,
        "--db",
        url,
        "report",
        "monthly",
        "--html",
        str(path),
        "--today",
        "2026-11-26",
        *args,
    )
    assert r.code == 0, r.err
    assert f"to {path}" in r.err
    return path.read_text(encoding="utf-8")


class _Refs(HTMLParser):
    """Collects every tag and every attribute that could load something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "data", "action"):
                self.refs.append(f"{tag} {name}={value}")


def check_self_contained(text: str) -> ET.Element:
    """Fail unless ``text`` is well-formed and loads nothing from anywhere; return its root."""
    assert text.startswith("<!DOCTYPE html>")
    root = ET.fromstring(text.split("\n", 1)[1])  # well-formed XML, entities and all
    assert root.tag == "html"
    assert root.find("head/meta[@charset='utf-8']") is not None
    parser = _Refs()
    parser.feed(text)
    assert not parser.refs, parser.refs
    assert not parser.tags & {"script", "link", "img", "iframe", "object", "embed", "base"}
    lowered = text.lower()
    for banned in ("http://", "https://", "//cdn", "@import", "url(", "@font-face"):
        assert banned not in lowered, banned
    return root


def test_monthly_html_is_well_formed_and_self_contained(
    capsys: pytest.CaptureFixture[str], hand_url: str, tmp_path: Path
) -> None:
    text = _write(capsys, hand_url, tmp_path / "october.html", "--month", "2026-10")
    root = check_self_contained(text)
    body = "".join(root.itertext())
    assert "October 2026" in body
    assert "$2,353" in body  # net sales, 235336 cents, in whole dollars on the card
    assert "$2,353.36" in body  # and to the cent in the Sales Summary
    for heading in (
        "Daily net sales",
        "Sales Summary",
        "Appointments",
        "Providers",
        "Top services",
        "Top retail products",
        "Sync health",
    ):
        assert heading in body, heading
    svgs = root.findall(".//svg")
    assert len(svgs) >= 6
    assert all(s.find("title") is not None for s in svgs)
    assert "Mia R." in body and "Noah K." in body


def test_monthly_html_of_an_empty_month(
    capsys: pytest.CaptureFixture[str], hand_url: str, tmp_path: Path
) -> None:
    text = _write(capsys, hand_url, tmp_path / "june.html", "--month", "2026-06")
    root = check_self_contained(text)
    assert "No sales or appointments were recorded" in "".join(root.itertext())


def test_monthly_in_the_terminal_and_as_json(
    capsys: pytest.CaptureFixture[str], hand_url: str
) -> None:
    r = aiq(
        capsys, "--db", hand_url, "report", "monthly", "--month", "2026-10", "--today", "2026-11-26"
    )
    assert r.code == 0, r.err
    assert "Revenue" in r.out and "Appointments" in r.out and "Providers" in r.out
    r = aiq(
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
    )
    import json

    doc = json.loads(r.out)
    assert doc["revenue"]["summary"]["net_sales_cents"] == 235336
    assert doc["products"]["total"]["margin_cents"] == 23000


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_monthly_html_is_private_and_can_go_to_stdout(
    capsys: pytest.CaptureFixture[str],
    hand_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = tmp_path / "october.html"
    page.write_text("an older report, readable by all")
    page.chmod(0o644)
    text = _write(capsys, hand_url, page, "--month", "2026-10")
    assert stat.S_IMODE(page.stat().st_mode) == 0o600  # like an export
    assert [p.name for p in tmp_path.iterdir()] == ["october.html"]  # no temporary file left

    monkeypatch.chdir(tmp_path)
    args = ["--db", hand_url, "report", "monthly", "-m", "2026-10", "--today", "2026-11-26"]
    r = aiq(capsys, *args, "--html", "-")
    assert r.code == 0, r.err
    assert r.out == text  # the same page, on standard output
    assert not (tmp_path / "-").exists()
    r = aiq(capsys, *args, "--html", "-", "--format", "json")
    assert r.code == 2 and "both write to standard output" in r.err


def test_monthly_html_cards_agree_and_categories_add_up(hand_store: Store) -> None:
    m = api.monthly(hand_store, request_for(month="2026-10"))
    text = render_monthly_html(m)
    body = "".join(ET.fromstring(text.split("\n", 1)[1]).itertext())
    s, t = m.revenue.summary, m.revenue.ticket
    assert t.invoices < s.invoices  # two counts of invoices, each said for what it is
    assert (
        f"over {t.invoices} of {s.invoices} invoices: those with a service or retail item" in body
    )
    assert f"{s.invoices} counted invoices" in body
    assert f"the {t.invoices} of them holding a service or retail item" in body

    bars = category_bars(m)
    assert sum(v for _, v in bars) == s.net_sales  # to the cent
    assert "Not in a category" in [name for name, _ in bars]
    assert "Not in a category" in body and "The bars add up to net sales, $2,353.36" in body


def test_monthly_html_daily_chart(hand_store: Store) -> None:
    m = api.monthly(hand_store, request_for(month="2026-10"))
    # The whole of September is set beside October, four weeks back: Thu 1 Oct with Thu 3 Sep.
    assert (m.previous_trend[0].day, m.previous_trend[-1].day) == (
        date(2026, 9, 1),
        date(2026, 9, 30),
    )
    days = [p.day for p in m.revenue.trend]
    shift, earlier = weekday_aligned(days, m.previous_trend)
    assert shift == 28
    assert all(
        p is None or p.day.weekday() == d.weekday() for d, p in zip(days, earlier, strict=True)
    )
    assert earlier[0] is not None and earlier[0].day == date(2026, 9, 3)
    assert earlier[-3:] == [None, None, None]  # 29-31 October: 1-3 October is not September
    # A shorter month against a longer one, and no previous days at all.
    feb = [DayPoint(date(2026, 2, i), i, i) for i in range(1, 29)]
    march = [date(2026, 3, i) for i in range(1, 32)]
    shift, earlier = weekday_aligned(march, feb)
    assert shift == 28 and sum(p is not None for p in earlier) == 28
    assert weekday_aligned(march, []) == (0, [None] * 31)

    root = ET.fromstring(render_monthly_html(m).split("\n", 1)[1])
    charts = [s for s in root.iter("svg") if "Daily net sales" in (s.get("aria-label") or "")]
    assert len(charts) == 2  # wide (desktop, paper) and narrow (phone)
    for chart in charts:
        texts = [t.text for t in chart.iter("text")]
        assert "$0" in texts  # the baseline
        assert texts.count("T") >= 8 and texts.count("S") >= 8  # a weekday under every day
        assert {"5", "12", "19", "26"} <= set(texts)  # the Mondays' dates
        assert "Sep 2026, same weekday 4 weeks earlier" in texts
        assert chart.find("polyline") is not None


def test_monthly_html_is_made_for_phones_and_paper(hand_store: Store) -> None:
    text = render_monthly_html(api.monthly(hand_store, request_for(month="2026-10")))
    root = ET.fromstring(text.split("\n", 1)[1])
    for chart in root.iter("svg"):
        assert chart.get("viewBox") and chart.get("width") == "100%", chart.get("aria-label")
    css = root.findtext("head/style") or ""
    assert "overflow-x:auto" in css and "minmax(0," in css  # tables scroll in their panel
    assert text.count('<div class="scroll"><table>') == text.count("<table>")
    assert "@media print" in css and "@page" in css
    assert "page-break-inside:avoid" in css and "break-inside:avoid" in css


CHROMIUM_TIMEOUT = 120
"""Seconds: a guard only, for a browser that hangs; every run below ends on its own event."""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


class _Browser:
    """Headless Chromium, one run per call; each run ends when the page's load event is done."""

    def __init__(self, path: str, tmp: Path) -> None:
        self.path = path
        self.profile = tmp / "profile"
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("http_", "https_", "HTTP"))
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.path, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", *args],
            capture_output=True,
            text=True,
            timeout=CHROMIUM_TIMEOUT,
            env=self.env,
        )
        assert not re.search(r"net::ERR_|Failed to load resource", proc.stderr), proc.stderr
        return proc


# Runs in the probe page as each report, in an iframe of the width under test, loads (the
# probe's own load event, which --dump-dom waits for, comes after theirs): the page's width
# against its viewport, and every chart or panel that sticks out of its box. A table may be wider
# than its panel only inside its scrolling box.
PROBE_JS = (
    "var d=this.contentDocument,w=d.documentElement.clientWidth,out=[];"
    "d.querySelectorAll('svg,.panel,.card').forEach(function(e){"
    "var r=e.getBoundingClientRect();if(!r.width)return;"
    "var box=e.parentElement.closest('.panel')||d.body;"
    "var lim=Math.min(w,box.getBoundingClientRect().right);"
    "if(r.right>lim+0.5)out.push(e.tagName+' '+(e.getAttribute('aria-label')||e.className));});"
    "d.querySelectorAll('table').forEach(function(t){"
    "if(!t.parentElement.classList.contains('scroll'))out.push('TABLE outside a scroll box');});"
    "var p=document.createElement('pre');p.className='probe';p.textContent=JSON.stringify({"
    "name:this.name,scrollWidth:d.documentElement.scrollWidth,viewport:w,outside:out});"
    "document.body.appendChild(p);"
)


def _probe_page(reports: dict[str, str], width: int) -> str:
    """A page holding each report in an iframe ``width`` px wide (Chromium's window is at least
    500 px wide, a phone's viewport is not), probed by PROBE_JS."""
    frames = "".join(
        f'<iframe name="{name}" style="width:{width}px;height:2000px;border:0;display:block" '
        f'srcdoc="{html.escape(text, quote=True)}" onload="{html.escape(PROBE_JS)}"></iframe>'
        for name, text in reports.items()
    )
    return f'<!DOCTYPE html><html><body style="margin:0">{frames}</body></html>'


def _layouts(
    browser: _Browser, reports: dict[str, str], width: int, tmp: Path
) -> dict[str, dict[str, object]]:
    page = tmp / f"probe-{width}.html"
    page.write_text(_probe_page(reports, width), encoding="utf-8")
    proc = browser.run("--window-size=1280,900", "--dump-dom", page.as_uri())
    found = re.findall(r'<pre class="probe">(.*?)</pre>', proc.stdout, re.S)
    assert len(found) == len(reports), f"Chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    return {d["name"]: d for d in (json.loads(html.unescape(f)) for f in found)}


def _pdf_pages(browser: _Browser, report: str, paper: str, tmp: Path) -> int:
    page = tmp / f"print-{paper}.html"
    page.write_text(report.replace("@page{", f"@page{{size:{paper};", 1), encoding="utf-8")
    pdf = tmp / f"print-{paper}.pdf"
    proc = browser.run("--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    assert pdf.exists(), f"Chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def _busy(m: MonthlyReport) -> MonthlyReport:
    """``m`` with as many rows as a busy practice: 6 clinics, 30 providers, 20 categories."""
    rev = m.revenue
    assert rev.breakdown is not None and m.appointments.rows and m.providers.rows
    clinics = [dataclasses.replace(rev.breakdown.rows[0], label=f"Clinic {i}") for i in range(6)]
    cats = [BreakdownRow(100 + i, f"Category {i}", m.categories.rows[0].summary) for i in range(20)]
    people = [
        dataclasses.replace(m.providers.rows[i % len(m.providers.rows)], rank=i + 1, name=f"P {i}")
        for i in range(30)
    ]
    svc = m.services.rows
    prd = m.products.rows
    return dataclasses.replace(
        m,
        revenue=dataclasses.replace(
            rev, breakdown=dataclasses.replace(rev.breakdown, rows=clinics)
        ),
        categories=dataclasses.replace(m.categories, rows=[*cats, *m.categories.rows]),
        appointments=dataclasses.replace(
            m.appointments,
            rows=[
                dataclasses.replace(m.appointments.rows[0], label=f"Clinic {i}") for i in range(6)
            ],
        ),
        providers=dataclasses.replace(m.providers, rows=people),
        services=dataclasses.replace(m.services, rows=(svc * 12)[:20]),
        products=dataclasses.replace(m.products, rows=(prd * 12)[:20]),
    )


def test_monthly_html_in_headless_chromium(
    capsys: pytest.CaptureFixture[str], hand_url: str, hand_store: Store, tmp_path: Path
) -> None:
    """Screenshots at desktop and phone widths with nothing sticking out, and at most 2 pages
    printed on A4 and on Letter, for the hand-built month and for a busy one."""
    path = _chromium()
    if path is None:
        reason = "Chromium is not installed (apt-get install chromium); the HTML was not rendered"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: this test must run)")
        pytest.skip(reason)
    browser = _Browser(path, tmp_path)
    page = tmp_path / "october.html"
    report = _write(capsys, hand_url, page, "--month", "2026-10")

    png = tmp_path / "desktop.png"
    proc = browser.run(f"--screenshot={png}", "--window-size=1280,2000", page.as_uri())
    assert png.exists(), f"Chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    data = png.read_bytes()
    assert _png_size(data) == (1280, 2000)
    # A blank page compresses to a few kilobytes; the report's tables and charts do not.
    assert len(data) > 60_000, len(data)
    phone = tmp_path / "phone-probe.html"
    phone.write_text(_probe_page({"october": report}, 390), encoding="utf-8")
    png = tmp_path / "phone.png"
    browser.run(f"--screenshot={png}", "--window-size=500,2000", phone.as_uri())
    assert _png_size(png.read_bytes()) == (500, 2000) and png.stat().st_size > 40_000

    busy = render_monthly_html(_busy(api.monthly(hand_store, request_for(month="2026-10"))))
    assert busy.count('<tr class="more">') == 30 - PRINTED_PROVIDERS
    reports = {"october": report, "busy": busy}
    for width in (1280, 390):
        for name, got in _layouts(browser, reports, width, tmp_path).items():
            assert got["viewport"] == width, (name, got)
            assert got["scrollWidth"] == width, (name, got)  # no sideways scrolling
            assert got["outside"] == [], (name, got)  # no chart or panel cut off
    for name, text in reports.items():
        for paper in ("A4", "letter"):
            pages = _pdf_pages(browser, text, paper, tmp_path)
            assert 1 <= pages <= 2, (name, paper, pages)
