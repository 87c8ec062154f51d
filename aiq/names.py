"""What to say when a name matches nothing: the closest names (difflib), else the known ones."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.5
"""How alike (difflib's ratio, 0 to 1) a name must be to be suggested at all."""

NEAR_BEST = 0.9
"""Names nearly as close as the closest one are suggested beside it (a tie, or all but)."""


def closest(text: str, names: Iterable[str]) -> list[str]:
    """The known names closest to ``text`` (case-insensitively), closest first; [] if none is."""
    by_folded = {n.casefold(): n for n in names}
    wanted = text.strip().casefold()
    scored = sorted(
        (
            (difflib.SequenceMatcher(None, wanted, folded).ratio(), name)
            for folded, name in by_folded.items()
        ),
        key=lambda pair: (-pair[0], pair[1]),
    )
    scored = [(score, name) for score, name in scored if score >= CUTOFF]
    if not scored:
        return []
    best = scored[0][0]
    return [name for score, name in scored[:3] if score >= best * NEAR_BEST]


def unknown_name_hint(text: str, names: Iterable[str], *, limit: int = 10) -> str:
    """``did you mean 'Austin'?`` when a known name is close, else the known names."""
    known = sorted(names)
    close = closest(text, known)
    if close:
        return "did you mean " + " or ".join(repr(n) for n in close) + "?"
    return "known: " + ", ".join(known[:limit]) + (", ..." if len(known) > limit else "")
