"""Money, percentages and counts as people read them. Figures are rounded only here."""

from __future__ import annotations

SYMBOLS = {
    "USD": "$",
    "CAD": "CA$",
    "AUD": "A$",
    "NZD": "NZ$",
    "MXN": "MX$",
    "EUR": "€",
    "GBP": "£",
    "CHF": "CHF ",
    "JPY": "¥",
}
NO_MINOR_UNITS = frozenset({"JPY", "KRW", "VND", "CLP", "ISK"})
DASH = "–"


def currency_symbol(currency: str) -> str:
    """``$`` for USD; an unknown code is shown as itself followed by a space."""
    code = (currency or "USD").upper()
    return SYMBOLS.get(code, f"{code} ")


def money(cents: int | None, currency: str = "USD", *, whole: bool = False) -> str:
    """``$1,234.56`` (``-$1,234.56`` when negative); ``whole`` rounds to units: ``$1,235``."""
    if cents is None:
        return DASH
    sym = currency_symbol(currency)
    sign = "-" if cents < 0 else ""
    c = abs(int(cents))
    if whole or currency.upper() in NO_MINOR_UNITS:
        units = (c + 50) // 100
        return f"{sign}{sym}{units:,}"
    return f"{sign}{sym}{c // 100:,}.{c % 100:02d}"


def compact_money(cents: int | None, currency: str = "USD") -> str:
    """``$1.2k``, ``$3.4M``: for chart labels where space is short."""
    if cents is None:
        return DASH
    sym = currency_symbol(currency)
    sign = "-" if cents < 0 else ""
    units = abs(cents) / 100
    if units >= 1_000_000:
        return f"{sign}{sym}{units / 1_000_000:.1f}M"
    if units >= 10_000:
        return f"{sign}{sym}{units / 1_000:.0f}k"
    if units >= 1_000:
        return f"{sign}{sym}{units / 1_000:.1f}k"
    return f"{sign}{sym}{units:.0f}"


def pct(value: float | None, digits: int = 1) -> str:
    """``12.3%``; ``–`` when there is nothing to divide by."""
    if value is None:
        return DASH
    return f"{value * 100:.{digits}f}%"


def signed_pct(value: float | None, digits: int = 1) -> str:
    """``+12.3%`` or ``-4.0%``: a change."""
    if value is None:
        return DASH
    return f"{value * 100:+.{digits}f}%"


def count(value: int | float | None) -> str:
    """``1,234``; ``12.5`` for a fractional count."""
    if value is None:
        return DASH
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


SINGULAR = {
    "units": "unit",
    "syringes": "syringe",
    "vials": "vial",
    "cycles": "cycle",
    "sessions": "session",
    "items": "item",
}


def units(value: float, kind: str | None) -> str:
    """``1,240 units``, ``1 syringe``, ``2.5 vials``; the bare count without a kind."""
    if kind is None:
        return count(value)
    return f"{count(value)} {SINGULAR.get(kind, kind) if value == 1 else kind}"


def units_split(kinds: list[tuple[str, float]]) -> str:
    """Units of several kinds: ``1,240 units, 38 syringes`` (``–`` for none)."""
    return ", ".join(units(v, k) for k, v in kinds) or DASH


def hours(minutes: int | None) -> str:
    """``372.8 h``."""
    if minutes is None:
        return DASH
    return f"{minutes / 60:,.1f} h"
