"""Units by their kind in `aiq report services` (and products): the rule, the override, the
output, on the hand-built practice (tests/reports/handmade.py)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from aiq.errors import ConfigError
from aiq.render.money import units, units_split
from aiq.reports import api
from aiq.reports.catalog import parse_unit_kinds, unit_kind
from aiq.store.db import Store
from tests.helpers import aiq
from tests.reports.conftest import request_for


@pytest.mark.parametrize(
    ("name", "item_type", "kind"),
    [
        ("Botox (per unit)", "service", "units"),
        ("Dysport (Per Unit)", "service", "units"),
        ("Filler (units)", "service", "units"),
        ("Juvederm Ultra XC (syringe)", "service", "syringes"),
        ("RHA 4 (syringes) ", "service", "syringes"),
        ("Sculptra (vial)", "service", "vials"),
        ("CoolSculpting (cycle)", "service", "cycles"),
        ("Filler Dissolve (Hylenex)", "service", "sessions"),  # no unit in the parenthesis
        ("HydraFacial Signature", "service", "sessions"),
        ("Botox (per unit) touch-up", "service", "sessions"),  # the parenthesis must end it
        ("Syringes 1 ml (box of 100)", "retail", "items"),
        ("SPF 50 (vial)", "retail", "items"),  # retail is items, whatever the name
        (None, "service", "sessions"),
    ],
)
def test_the_kind_is_read_from_the_name(name: str | None, item_type: str, kind: str) -> None:
    assert unit_kind(name, item_type) == kind


def test_the_override_comes_first() -> None:
    overrides = parse_unit_kinds(" Hylenex = vials, latisse=bottles,, ")
    assert overrides == {"Hylenex": "vials", "latisse": "bottles"}
    assert unit_kind("Filler Dissolve (Hylenex)", "service", overrides) == "vials"
    assert unit_kind("Latisse 5 ml", "retail", overrides) == "bottles"
    assert unit_kind("Botox (per unit)", "service", overrides) == "units"
    for bad in ("Hylenex", "=vials", "Hylenex="):
        with pytest.raises(ConfigError, match="is not NAME=KIND"):
            parse_unit_kinds(bad)


def test_units_as_people_read_them() -> None:
    assert units(1240, "units") == "1,240 units"
    assert units(1, "syringes") == "1 syringe"
    assert units(2.5, "vials") == "2.5 vials"
    assert units(1, "bottles") == "1 bottles"  # a kind of the override's: as written
    assert units_split([("units", 1240), ("syringes", 38)]) == "1,240 units, 38 syringes"
    assert units_split([]) == "–"


def test_services_split_units_by_kind(hand_store: Store) -> None:
    # The hand-built names carry no unit: every service is in sessions...
    r = api.catalog(hand_store, request_for(month="2026-10"), "service")
    assert {row.name: (row.unit_kind, row.units_by_kind) for row in r.rows} == {
        "Botox": ("sessions", {"sessions": 70000}),
        "Hydrafacial": ("sessions", {"sessions": 2000}),
    }
    # ... unless the configuration says what a Botox unit is.
    req = request_for(month="2026-10", unit_kinds={"botox": "units"})
    r = api.catalog(hand_store, req, "service")
    assert {row.name: row.unit_kind for row in r.rows} == {
        "Botox": "units",
        "Hydrafacial": "sessions",
    }
    assert r.total.kinds() == [("units", 70.0), ("sessions", 2.0)]
    assert r.total.units == 72  # the old sum, kept for scripts
    cats = api.catalog(hand_store, req, "service", by="category")
    assert {row.name: row.kinds() for row in cats.rows} == {
        "Neurotoxins": [("units", 70.0)],
        "Facials": [("sessions", 2.0)],
    }
    products = api.catalog(hand_store, req, "retail")
    assert {row.unit_kind for row in products.rows} == {"items"}
    assert products.total.kinds() == [("items", 5.0)]
    # The monthly report's services follow the same setting.
    m = api.monthly(hand_store, req)
    assert {row.name: row.unit_kind for row in m.services.rows}["Botox"] == "units"


def test_units_by_kind_through_the_cli(
    capsys: pytest.CaptureFixture[str], hand_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ("--db", hand_url, "report", "services", "-m", "2026-10", "--today", "2026-11-26")
    monkeypatch.setenv("AIQ_REPORT_UNIT_KINDS", "Botox=units")
    r = aiq(capsys, *base)
    assert r.code == 0, r.err
    assert "70 units" in r.out and "2 sessions" in r.out
    assert "70 units, 2 sessions" in r.out  # the total, split
    r = aiq(capsys, *base, "--by", "category")
    assert r.code == 0 and "70 units" in r.out
    doc = json.loads(aiq(capsys, *base, "-f", "json").out)
    botox = next(row for row in doc["rows"] if row["name"] == "Botox")
    assert (botox["units"], botox["unit_kind"], botox["units_by_kind"]) == (
        70.0,
        "units",
        {"units": 70.0},
    )
    assert doc["total"]["units_by_kind"] == {"units": 70.0, "sessions": 2.0}
    assert doc["total"]["unit_kind"] is None
    rows = list(csv.DictReader(io.StringIO(aiq(capsys, *base, "-f", "csv", "-b", "category").out)))
    assert {row["name"]: json.loads(row["units_by_kind"]) for row in rows} == {
        "Neurotoxins": {"units": 70.0},
        "Facials": {"sessions": 2.0},
    }
    monkeypatch.setenv("AIQ_REPORT_UNIT_KINDS", "Botox")
    r = aiq(capsys, *base)
    assert r.code == 2 and "unit_kinds: 'Botox' is not NAME=KIND" in r.err
