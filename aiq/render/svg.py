"""Small SVG charts for the HTML report: inline, no scripts, no fonts to fetch.

Every function returns one ``<svg>`` element as text, well-formed XML, sized by ``viewBox`` so it
scales with the page. Text is escaped here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from html import escape

PALETTE = ("#2f6f8f", "#d08c3f", "#6b9e5a", "#a4506b", "#7a6bb0", "#4d9da6", "#b8a038", "#8f8f8f")
ACCENT = "#2f6f8f"
GRID = "#e3e7ea"


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    size: int = 11,
    fill: str = "#333",
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{fill}" font-weight="{weight}">{escape(text)}</text>'
    )


def _svg(width: int, height: int, body: list[str], label: str, *, fluid: bool = False) -> str:
    # Every chart is width 100% of its box, scaled by its viewBox, so none is cut off on a phone.
    # A fluid chart fills its box; the others grow no larger than their natural size (so their
    # text stays the size of the page's) and only shrink when the box is narrower.
    limit = "" if fluid else f"max-width:{width}px;"
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" style="{limit}height:auto" '
        f'role="img" aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


WEEKDAYS = "MTWTFSS"


def columns(
    values: Sequence[float],
    days: Sequence[date],
    *,
    label: str,
    fmt: Callable[[float], str],
    overlay: Sequence[float | None] | None = None,
    overlay_label: str = "",
    width: int = 720,
    height: int = 220,
) -> str:
    """Daily columns from a $0 baseline, weekends shaded and each day's weekday marked under it.

    ``overlay`` is another period's line, one value per column (None where it has no day: the
    line breaks there); the caller aligns it (by weekday, for the monthly report).
    """
    left, right, top, bottom = 56, 10, 22, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    known = [v for v in (overlay or []) if v is not None]
    everything = [*values, *known]
    hi = max([v for v in everything if v > 0], default=0) or 1
    lo = min([0, *everything])
    span = hi - lo or 1

    def y(v: float) -> float:
        return top + plot_h * (hi - v) / span

    n = max(len(values), 1)
    slot = plot_w / n
    body: list[str] = []
    for i, d in enumerate(days[:n]):
        if d.weekday() >= 5:  # Saturday and Sunday
            body.append(
                f'<rect x="{_num(left + i * slot)}" y="{top}" width="{_num(slot)}" '
                f'height="{plot_h}" fill="#f3f5f6"/>'
            )
    # Grid lines at the top, the middle and the bottom, but none so near the baseline that
    # their labels would overlap.
    for v in sorted({lo, hi, (lo + hi) / 2}):
        if abs(y(v) - y(0)) < 14:
            continue
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_num(y(v))}" y2="{_num(y(v))}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        body.append(_text(left - 6, y(v) + 4, fmt(v), anchor="end", size=10, fill="#666"))
    bw = max(1.0, slot * 0.72)
    for i, v in enumerate(values):
        x = left + i * slot + (slot - bw) / 2
        y0, y1 = y(max(v, 0)), y(min(v, 0))
        color = ACCENT if v >= 0 else "#b5534a"
        body.append(
            f'<rect x="{_num(x)}" y="{_num(y0)}" width="{_num(bw)}" '
            f'height="{_num(max(y1 - y0, 0.5))}" fill="{color}" rx="1.5">'
            f"<title>{escape(days[i].isoformat())}: {escape(fmt(v))}</title></rect>"
        )
        cx = left + i * slot + slot / 2
        wd = days[i].weekday()
        body.append(_text(cx, height - 20, WEEKDAYS[wd], anchor="middle", size=9, fill="#999"))
        if wd == 0 or i == 0:
            body.append(
                _text(cx, height - 6, str(days[i].day), anchor="middle", size=10, fill="#555")
            )
    # The $0 baseline, drawn over the columns so a day of refunds hangs below it.
    body.append(
        f'<line x1="{left}" x2="{width - right}" y1="{_num(y(0))}" y2="{_num(y(0))}" '
        'stroke="#7b868d" stroke-width="1.2"/>'
    )
    body.append(_text(left - 6, y(0) + 4, fmt(0), anchor="end", size=10, fill="#444"))
    if overlay:
        run: list[str] = []
        for i, pv in enumerate([*overlay[:n], None]):
            if pv is not None:
                run.append(f"{_num(left + i * slot + slot / 2)},{_num(y(pv))}")
                continue
            if len(run) > 1:
                body.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{PALETTE[1]}" '
                    'stroke-width="1.8" stroke-dasharray="4 3" stroke-linejoin="round"/>'
                )
            run = []
        body.append(
            f'<line x1="{left}" x2="{left + 20}" y1="8" y2="8" stroke="{PALETTE[1]}" '
            'stroke-width="1.8" stroke-dasharray="4 3"/>'
        )
        body.append(_text(left + 25, 12, overlay_label, size=10, fill="#555"))
    return _svg(width, height, body, label, fluid=True)


def month_columns(
    values: Sequence[float],
    months: Sequence[date],
    *,
    label: str,
    fmt: Callable[[float], str],
    overlay: Sequence[float | None] | None = None,
    overlay_label: str = "",
    width: int = 640,
    height: int = 200,
) -> str:
    """Monthly columns from a $0 baseline, each month's name under it (and the year under
    January and the first month); ``overlay`` is another line, one value per month (None where
    it has none: the line breaks there), such as the same months a year earlier."""
    left, right, top, bottom = 56, 10, 22, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    known = [v for v in (overlay or []) if v is not None]
    everything = [*values, *known]
    hi = max([v for v in everything if v > 0], default=0) or 1
    lo = min([0, *everything])
    span = hi - lo or 1

    def y(v: float) -> float:
        return top + plot_h * (hi - v) / span

    n = max(len(values), 1)
    slot = plot_w / n
    body: list[str] = []
    for v in sorted({lo, hi, (lo + hi) / 2}):
        if abs(y(v) - y(0)) < 14:
            continue
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_num(y(v))}" y2="{_num(y(v))}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        body.append(_text(left - 6, y(v) + 4, fmt(v), anchor="end", size=10, fill="#666"))
    bw = max(1.0, slot * 0.62)
    for i, v in enumerate(values):
        x = left + i * slot + (slot - bw) / 2
        y0, y1 = y(max(v, 0)), y(min(v, 0))
        color = ACCENT if v >= 0 else "#b5534a"
        m = months[i]
        body.append(
            f'<rect x="{_num(x)}" y="{_num(y0)}" width="{_num(bw)}" '
            f'height="{_num(max(y1 - y0, 0.5))}" fill="{color}" rx="1.5">'
            f"<title>{escape(f'{m:%b %Y}')}: {escape(fmt(v))}</title></rect>"
        )
        cx = left + i * slot + slot / 2
        body.append(_text(cx, height - 20, f"{m:%b}", anchor="middle", size=10, fill="#555"))
        if m.month == 1 or i == 0:
            body.append(_text(cx, height - 6, str(m.year), anchor="middle", size=9, fill="#888"))
    body.append(
        f'<line x1="{left}" x2="{width - right}" y1="{_num(y(0))}" y2="{_num(y(0))}" '
        'stroke="#7b868d" stroke-width="1.2"/>'
    )
    body.append(_text(left - 6, y(0) + 4, fmt(0), anchor="end", size=10, fill="#444"))
    if overlay:
        run: list[str] = []
        for i, pv in enumerate([*overlay[:n], None]):
            if pv is not None:
                run.append(f"{_num(left + i * slot + slot / 2)},{_num(y(pv))}")
                continue
            if len(run) == 1:  # a lone month: a dot, since a line needs two
                px, py = run[0].split(",")
                body.append(f'<circle cx="{px}" cy="{py}" r="2.5" fill="{PALETTE[1]}"/>')
            elif run:
                body.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{PALETTE[1]}" '
                    'stroke-width="1.8" stroke-dasharray="4 3" stroke-linejoin="round"/>'
                )
            run = []
        body.append(
            f'<line x1="{left}" x2="{left + 20}" y1="8" y2="8" stroke="{PALETTE[1]}" '
            'stroke-width="1.8" stroke-dasharray="4 3"/>'
        )
        body.append(_text(left + 25, 12, overlay_label, size=10, fill="#555"))
    return _svg(width, height, body, label, fluid=True)


def hbars(
    items: Sequence[tuple[str, float, str]],
    *,
    label: str,
    width: int = 460,
    row: int = 22,
    color: str = ACCENT,
) -> str:
    """Horizontal bars: (name, value, value as text) per row, longest bar for the largest."""
    label_w = 150
    text_w = 84
    height = max(row * len(items) + 6, 30)
    hi = max([abs(v) for _, v, _ in items], default=0) or 1
    plot = width - label_w - text_w - 10
    body: list[str] = []
    for i, (name, value, shown) in enumerate(items):
        yy = 3 + i * row
        short = name if len(name) <= 24 else name[:23] + "…"
        body.append(_text(label_w - 6, yy + row * 0.68, short, anchor="end", size=11))
        # A negative value (what a breakdown takes out) is a short bar of its size, in red.
        w = min(abs(value) / hi, 1) * plot
        fill = color if value >= 0 else "#b5534a"
        body.append(
            f'<rect x="{label_w}" y="{_num(yy + 3)}" width="{_num(max(w, 0.5))}" '
            f'height="{row - 7}" fill="{fill}" rx="2"><title>{escape(name)}: {escape(shown)}'
            "</title></rect>"
        )
        body.append(_text(label_w + w + 6, yy + row * 0.68, shown, size=11, fill="#444"))
    if not items:
        body.append(_text(width / 2, 20, "no data", anchor="middle", fill="#888"))
    return _svg(width, height, body, label)


def stacked(
    parts: Sequence[tuple[str, float]],
    *,
    label: str,
    width: int = 460,
    height: int = 54,
) -> str:
    """One bar split into parts (a status mix), with a legend underneath."""
    total = sum(v for _, v in parts if v > 0) or 1
    body: list[str] = []
    x = 0.0
    for i, (name, value) in enumerate(parts):
        if value <= 0:
            continue
        w = value / total * width
        body.append(
            f'<rect x="{_num(x)}" y="0" width="{_num(w)}" height="22" '
            f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(name)}: {value:,.0f}</title></rect>'
        )
        x += w
    lx, ly = 0.0, 32.0
    for i, (name, value) in enumerate(parts):
        text = f"{name} {value:,.0f}"
        need = 14 + len(text) * 6.4 + 12
        if lx and lx + need > width:
            lx, ly = 0.0, ly + 18
        body.append(
            f'<rect x="{_num(lx)}" y="{_num(ly)}" width="10" height="10" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
        )
        body.append(_text(lx + 14, ly + 9, text, size=11, fill="#444"))
        lx += need
    height = max(height, int(ly) + 16)
    return _svg(width, height, body, label)


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 28) -> str:
    """A small line, for a table cell or a figure card."""
    if not values:
        return _svg(width, height, [], "trend")
    hi, lo = max(values), min(values)
    span = hi - lo or 1
    step = width / max(len(values) - 1, 1)
    pts = " ".join(
        f"{_num(i * step)},{_num(height - 2 - (v - lo) / span * (height - 4))}"
        for i, v in enumerate(values)
    )
    body = [f'<polyline points="{pts}" fill="none" stroke="{ACCENT}" stroke-width="1.5"/>']
    return _svg(width, height, body, "trend")
