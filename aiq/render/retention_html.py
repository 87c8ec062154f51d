"""The patient figures' part of the monthly HTML report: the month's figures and a cohort heat map.

Markup as in ``aiq.render.html`` (well-formed XML, inline styles, no scripts): the heat map's
cells carry their colour in a ``style`` attribute, so it prints as it shows.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from aiq.render.money import count, money, signed_pct
from aiq.render.retention_views import amount_text, count_text, share_text
from aiq.reports.retention import RETURN_DAYS

if TYPE_CHECKING:
    from aiq.reports.retention import Figure, RetentionReport

HEAT_LOW, HEAT_HIGH = (238, 244, 240), (31, 122, 76)
"""The heat map's colours (RGB) for a share of 0 and of ``HEAT_TOP`` or more."""
HEAT_TOP = 0.6


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def heat_colour(share: float) -> str:
    """The background of a cohort cell: pale for few patients seen again, deep green for many."""
    t = max(0.0, min(1.0, share / HEAT_TOP))
    r, g, b = (round(lo + (hi - lo) * t) for lo, hi in zip(HEAT_LOW, HEAT_HIGH, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _heat_cell(f: Figure, min_cell: int) -> str:
    share = f.share
    if f.suppressed or f.pending or share is None:
        text = f"<{min_cell}" if f.suppressed else ("…" if f.pending else "–")
        return f'<td class="n muted">{_e(text)}</td>'
    ink = "#fff" if share >= HEAT_TOP / 2 else "#1f2a30"
    return (
        f'<td class="n" style="background:{heat_colour(share)};color:{ink}">{share * 100:.0f}%</td>'
    )


def retention_section(r: RetentionReport, currency: str) -> str:
    """The section: the month's patient figures beside the twelve cohorts up to it."""
    m = r.min_cell
    rows = [("Rebooking rate", share_text(r.rebooking, m))]
    rows += [(f"Return within {n} days", share_text(r.returns[n], m)) for n in RETURN_DAYS]
    rows += [
        ("New patients' revenue", amount_text(r.revenue_new, m, currency)),
        ("Returning patients' revenue", amount_text(r.revenue_returning, m, currency)),
        ("Members", count_text(r.members, m)),
        ("New / churned members", f"{count_text(r.new_members, m)} / "
         f"{count_text(r.churned_members, m)}"),
        ("Membership revenue", money(r.membership_revenue_cents, currency, whole=True)),
    ]  # fmt: skip
    change = r.membership_change
    figures = "".join(
        f'<tr><td class="w">{_e(label)}</td><td class="n">{_e(value)}</td></tr>'
        for label, value in rows
    )
    more = (
        "" if change is None else f"Membership revenue {signed_pct(change)} on the month before. "
    )
    figures_panel = (
        '<div class="panel"><h2>Patients</h2><div class="scroll"><table><tbody>'
        f"{figures}</tbody></table></div>"
        f'<p class="note">{_e(more)}Whole practice; no patient identifier is kept. '
        f"&lt;{m}: over fewer than {m} patients, not shown.</p></div>"
    )
    head = "".join(f'<th class="n">+{k}</th>' for k in range(1, 13))
    body = []
    for c in r.cohorts:
        size = count_text(c.size, m) if c.size.suppressed else count(c.size.base)
        cells = "".join(_heat_cell(f, m) for f in c.months)
        body.append(
            f'<tr><td>{_e(f"{c.month:%b %Y}")}</td><td class="n">{_e(size)}</td>{cells}</tr>'
        )
    p = r.pass_info
    cohorts_panel = (
        '<div class="panel"><h2>Retention cohorts</h2><div class="scroll"><table>'
        f'<thead><tr><th>Cohort</th><th class="n">New</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
        '<p class="note">Share of each month\'s new patients with a completed visit in each '
        "month after; … not over yet. From the patient pass of "
        f"{_e(f'{p.computed_at:%Y-%m-%d}')} over the history since "
        f"{_e(p.history_from.isoformat())}.</p></div>"
    )
    return f'<section class="grid2 wide">{cohorts_panel}{figures_panel}</section>'
