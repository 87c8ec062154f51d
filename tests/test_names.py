"""An unknown clinic, provider or practice: the closest name is suggested (docs/reports.md)."""

from __future__ import annotations

import pytest

from aiq.names import closest, unknown_name_hint
from tests.helpers import aiq

CLINICS = ["Austin", "Downtown Austin", "Houston"]


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("Austn", ["Austin"]),  # not 'Houston' too: only names nearly as close as the closest
        ("austen", ["Austin"]),
        ("Houstn TX", ["Houston"]),
        ("Dallas", []),
    ],
)
def test_the_closest_name_only(typed: str, suggested: list[str]) -> None:
    assert closest(typed, CLINICS) == suggested


def test_a_tie_names_both() -> None:
    assert closest("Clinic", ["Clinic A", "Clinic B"]) == ["Clinic A", "Clinic B"]


def test_hint_says_did_you_mean_or_lists_the_known() -> None:
    assert unknown_name_hint("Austn", CLINICS) == "did you mean 'Austin'?"
    assert unknown_name_hint("Dallas", CLINICS) == "known: Austin, Downtown Austin, Houston"


def test_unknown_practice_suggests_the_closest(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    for name in ("Glow Med Spa", "Radiance Aesthetics"):
        assert aiq(capsys, "--db", db_url, "orgs", "add", name).code == 0
    r = aiq(capsys, "--db", db_url, "orgs", "remove", "Glow Med Sap")
    assert r.code == 2
    assert "there is no practice called 'Glow Med Sap'" in r.err
    assert "did you mean 'Glow Med Spa'?" in r.err
