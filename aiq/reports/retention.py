"""`aiq report retention`: do patients come back? From the patient pass's figures.

The patient pass (``aiq.sync.patients``) leaves counts and sums per month in ``patient_figure``;
this module reads one month of them (and the cohort table up to it) and applies the small-cell
rule again with today's ``[privacy] min_cell``: a larger one hides more at once, and a figure the
pass hid stays hidden (its numbers were never stored). Definitions: docs/reports.md, "Patient
figures".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from aiq.errors import DataMissing
from aiq.reports.sync_health import Freshness, data_freshness
from aiq.store.reader import as_date, as_datetime

if TYPE_CHECKING:
    from aiq.reports.scope import Scope
    from aiq.store.reader import Reader

RETURN_DAYS = (30, 90, 180)
COHORT_MONTHS = 12
COHORTS_SHOWN = 12


def add_months(month: date, k: int) -> date:
    y, m = divmod(month.year * 12 + month.month - 1 + k, 12)
    return date(y, m + 1, 1)


@dataclass(frozen=True)
class Figure:
    """One stored patient figure as a report shows it: a share (``count / base``), a count, or
    an amount; or why it has none (suppressed: too few patients; pending: not over yet)."""

    count: int | None = None
    base: int | None = None
    patients: int | None = None
    amount_cents: int | None = None
    suppressed: bool = False
    pending: bool = False

    @property
    def share(self) -> float | None:
        if self.suppressed or self.pending or self.count is None or not self.base:
            return None
        return self.count / self.base

    def hidden(self) -> Figure:
        return Figure(suppressed=True, pending=self.pending)

    def under(self, min_cell: int) -> Figure:
        """This figure, suppressed if it is over fewer than ``min_cell`` patients."""
        if not self.suppressed and self.patients is not None and 0 < self.patients < min_cell:
            return self.hidden()
        return self


NOTHING = Figure()


@dataclass(frozen=True)
class PassInfo:
    """The patient pass the figures come from."""

    computed_at: datetime
    as_of: date
    history_from: date
    min_cell: int


@dataclass
class Breakdown:
    """The rebooking rate of one clinic or provider."""

    kind: str  # clinic | provider
    id: int
    name: str
    rebooking: Figure


@dataclass
class Cohort:
    """A cohort: the new patients of a month, and the share of them seen in each month after."""

    month: date
    size: Figure
    months: list[Figure]  # 1 to 12 months after


@dataclass
class RetentionReport:
    """One month's patient figures and the cohort table up to it."""

    scope: Scope
    month: date
    today: date
    min_cell: int
    freshness: Freshness
    pass_info: PassInfo
    rebooking: Figure = NOTHING
    by: str | None = None
    breakdown: list[Breakdown] = field(default_factory=list)
    returns: dict[int, Figure] = field(default_factory=dict)
    revenue_new: Figure = NOTHING
    revenue_returning: Figure = NOTHING
    members: Figure = NOTHING
    new_members: Figure = NOTHING
    churned_members: Figure = NOTHING
    membership_revenue_cents: int | None = None
    previous_membership_revenue_cents: int | None = None
    cohorts: list[Cohort] = field(default_factory=list)

    @property
    def in_history(self) -> bool:
        """Whether the month is inside the history the pass read."""
        return self.month >= self.pass_info.history_from.replace(day=1)

    @property
    def membership_change(self) -> float | None:
        now, before = self.membership_revenue_cents, self.previous_membership_revenue_cents
        if now is None or not before:
            return None
        return (now - before) / before


_Key = tuple[date, str, str, int, int]


def _load(db: Reader, org_id: int, start: date, end: date) -> dict[_Key, Figure]:
    rows = db.rows(
        "select month, figure, scope, scope_id, months_after, count, base, patients,"
        " amount_cents, suppressed, pending from patient_figure"
        " where org_id = :org and month >= :start and month <= :end",
        org=org_id,
        start=start,
        end=end,
    )
    out: dict[_Key, Figure] = {}
    for month, figure, scope, sid, after, count, base, patients, amount, hidden, pending in rows:
        out[(as_date(month), str(figure), str(scope), int(sid), int(after))] = Figure(
            count=None if count is None else int(count),
            base=None if base is None else int(base),
            patients=None if patients is None else int(patients),
            amount_cents=None if amount is None else int(amount),
            suppressed=bool(hidden),
            pending=bool(pending),
        )
    return out


def _pass_info(db: Reader, org_id: int) -> PassInfo | None:
    rows = db.rows(
        "select computed_at, as_of, history_from, min_cell from patient_pass where org_id = :org",
        org=org_id,
    )
    if not rows:
        return None
    computed, as_of, start, min_cell = rows[0]
    at = as_datetime(computed)
    assert at is not None
    return PassInfo(at, as_date(as_of), as_date(start), int(min_cell))


def _pair(a: Figure, b: Figure) -> tuple[Figure, Figure]:
    """Two figures that give each other away: both shown, or both hidden."""
    if a.suppressed or b.suppressed:
        return a.hidden(), b.hidden()
    return a, b


def _complementary(cells: list[Breakdown], min_cell: int) -> list[Breakdown]:
    """The breakdown with today's ``min_cell``, and where exactly one cell is hidden, the
    smallest other one too (else the practice's total less the others would show it)."""
    cells = [Breakdown(c.kind, c.id, c.name, c.rebooking.under(min_cell)) for c in cells]
    hidden = [c for c in cells if c.rebooking.suppressed]
    shown = [c for c in cells if not c.rebooking.suppressed]
    if len(hidden) == 1 and shown:
        smallest = min(shown, key=lambda c: (c.rebooking.patients or 0, c.id))
        smallest.rebooking = smallest.rebooking.hidden()
    return cells


def rebooking_by_month(
    db: Reader, scope: Scope, months: list[date], min_cell: int
) -> dict[date, Figure]:
    """The rebooking rate of each of ``months`` (first days) in the report's scope: the practice,
    its clinic or its provider (a clinic and a provider together: none is stored)."""
    if scope.clinic_id is not None and scope.provider_id is not None:
        return {}
    kind, sid = "practice", 0
    if scope.provider_id is not None:
        kind, sid = "provider", scope.provider_id
    elif scope.clinic_id is not None:
        kind, sid = "clinic", scope.clinic_id
    if not months:
        return {}
    found = _load(db, scope.org_id, min(months), max(months))
    return {m: found.get((m, "rebooking", kind, sid, 0), NOTHING).under(min_cell) for m in months}


def retention_report(
    db: Reader,
    scope: Scope,
    month: date,
    *,
    today: date,
    now: datetime,
    interval_minutes: int,
    min_cell: int,
    by: str | None = None,
) -> RetentionReport:
    """The patient figures of ``month`` (its first day) and the cohorts of the year up to it."""
    info = _pass_info(db, scope.org_id)
    if info is None:
        raise DataMissing(
            "no patient figures yet: the patient pass has not run for this practice",
            hint="run aiq sync --patients (the first sync and the nightly run make them too)",
        )
    first = add_months(month, -COHORTS_SHOWN + 1)
    figures = _load(db, scope.org_id, min(first, add_months(month, -1)), month)

    def get(figure: str, m: date = month, scope_: str = "practice", sid: int = 0) -> Figure:
        return figures.get((m, figure, scope_, sid, 0), NOTHING).under(min_cell)

    r = RetentionReport(
        scope=scope,
        month=month,
        today=today,
        min_cell=min_cell,
        freshness=data_freshness(db, scope.org_id, now, interval_minutes),
        pass_info=info,
        by=by,
    )
    r.rebooking = get("rebooking")
    if by in ("clinic", "provider"):
        names = scope.clinics if by == "clinic" else {i: s.name for i, s in scope.staff.items()}
        cells = [
            Breakdown(by, sid, names.get(sid, str(sid)), fig)
            for (m, figure, sc, sid, _), fig in figures.items()
            if m == month and figure == "rebooking" and sc == by
        ]
        cells.sort(key=lambda c: c.name)
        r.breakdown = _complementary(cells, min_cell)
    r.returns = {n: get(f"return_{n}") for n in RETURN_DAYS}
    r.revenue_new, r.revenue_returning = _pair(get("revenue_new"), get("revenue_returning"))
    r.members = get("members")
    r.new_members, r.churned_members = _pair(get("new_members"), get("churned_members"))
    if r.members.suppressed or get("members", add_months(month, -1)).suppressed:
        r.new_members, r.churned_members = r.new_members.hidden(), r.churned_members.hidden()
    r.membership_revenue_cents = get("membership_revenue").amount_cents
    r.previous_membership_revenue_cents = get(
        "membership_revenue", add_months(month, -1)
    ).amount_cents
    for k in range(COHORTS_SHOWN):
        cm = add_months(first, k)
        if cm < info.history_from.replace(day=1):
            continue
        size = figures.get((cm, "cohort", "practice", 0, 0), NOTHING).under(min_cell)
        months = []
        for after in range(1, COHORT_MONTHS + 1):
            f = figures.get((cm, "cohort", "practice", 0, after), NOTHING)
            months.append(f.hidden() if size.suppressed else f)
        r.cohorts.append(Cohort(cm, size, months))
    return r


def figure_document(f: Figure) -> dict[str, Any]:
    """A figure in JSON: its value (a share, else a count), its counts, and why it has none."""
    value: float | int | None
    if f.suppressed or f.pending:
        value = None
    elif f.base is not None:
        value = f.share
    else:
        value = f.count
    return {
        "value": value,
        "count": None if f.suppressed else f.count,
        "base": None if f.suppressed else f.base,
        "patients": None if f.suppressed else f.patients,
        "suppressed": f.suppressed,
        "pending": f.pending,
    }
