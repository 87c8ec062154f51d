"""Charts for a terminal: sparklines, horizontal bars and a column chart, in Unicode blocks.

Plain strings, so they work in a Rich table cell, a log file or a pipe alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

SPARKS = "▁▂▃▄▅▆▇█"
EIGHTHS = " ▏▎▍▌▋▊▉█"
COLUMN_EIGHTHS = " ▁▂▃▄▅▆▇█"


NO_VALUE = "·"


def sparkline(values: Sequence[float | None], *, scale: Sequence[float] | None = None) -> str:
    """One character per value, from ▁ (the least) to █ (the most); ``·`` where there is none.

    ``scale`` sets the least and the most from other values too (so two lines drawn on the same
    scale can be compared).
    """
    known = [v for v in (*values, *(scale or ())) if v is not None]
    if not known:
        return NO_VALUE * len(values)
    lo, hi = min(known), max(known)
    if hi == lo:
        return "".join(
            NO_VALUE if v is None else SPARKS[0] if hi <= 0 else SPARKS[3] for v in values
        )
    span = hi - lo
    return "".join(
        NO_VALUE if v is None else SPARKS[min(7, int((v - lo) / span * 7 + 0.5))] for v in values
    )


def bar(value: float, largest: float, width: int = 20) -> str:
    """A horizontal bar of ``value`` against ``largest``, ``width`` cells at most (1/8 steps)."""
    if largest <= 0 or value <= 0 or width <= 0:
        return ""
    eighths = round(min(value, largest) / largest * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (EIGHTHS[part] if part else "")
    return text or "▏"


def column_chart(
    values: Sequence[float],
    labels: Sequence[date] | None = None,
    *,
    height: int = 8,
    value_label: str = "",
    fmt: object = None,
    gap: bool = True,
) -> list[str]:
    """A column chart, one column per value, ``height`` rows tall, with a y scale and date marks.

    Negative values are drawn as nothing above the axis (a ``-`` under it). ``fmt`` formats the
    scale labels (default ``str``). Returns the lines.
    """
    if not values:
        return []
    show = fmt if callable(fmt) else (lambda v: f"{v:,.0f}")
    top = max(max(values), 0)
    scale_top = str(show(top))
    pad = max(len(scale_top), len(str(show(0))))
    step = 2 if gap else 1
    lines: list[str] = []
    for row in range(height, 0, -1):
        cells = []
        for v in values:
            if top <= 0 or v <= 0:
                cells.append(" ")
                continue
            level = v / top * height * 8  # in eighths of a row
            filled = level - (row - 1) * 8
            if filled >= 8:
                cells.append("█")
            elif filled > 0:
                cells.append(COLUMN_EIGHTHS[max(1, round(filled))] if round(filled) < 8 else "█")
            else:
                cells.append(" ")
        label = scale_top if row == height else (str(show(0)) if row == 1 else "")
        sep = " " if gap else ""
        lines.append(f"{label:>{pad}} ┤{sep.join(cells)}")
    axis = "".join("-" if v < 0 else "─" for v in values)
    if gap:
        axis = "─".join(axis)
    lines.append(f"{'':>{pad}} └{axis}")
    if labels:
        marks = [" "] * (len(values) * step)
        for i, d in enumerate(labels):
            if d.day in (1, 8, 15, 22, 29) or i == 0:
                text = str(d.day)
                pos = i * step
                if all(c == " " for c in marks[pos : pos + len(text) + 1]):
                    for j, ch in enumerate(text):
                        if pos + j < len(marks):
                            marks[pos + j] = ch
        lines.append(f"{'':>{pad}}  {''.join(marks).rstrip()}")
    if value_label:
        lines.insert(0, f"{'':>{pad}}  {value_label}")
    return lines


def weekly(values: Sequence[float], days: Sequence[date]) -> tuple[list[float], list[date]]:
    """Daily values summed into weeks (Monday to Sunday), for periods too long to show by day."""
    sums: list[float] = []
    starts: list[date] = []
    for v, d in zip(values, days, strict=True):
        if not starts or d.weekday() == 0:
            sums.append(0.0)
            starts.append(d)
        sums[-1] += v
    return sums, starts
