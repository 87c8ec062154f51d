"""Periods of clinic-local dates and the periods a report compares them with.

A period is a closed range of calendar dates, ``[start, end]``. ``--month 2026-10`` is the whole
month; ``--from/--to`` any range; no option is the current month. The current month is reported
*to date*: nothing after today exists yet, so its figures are month-to-date figures.

Comparisons (docs/reports.md): the previous period of equal length, and the same period a year
earlier. A calendar month compares with the previous calendar month (the length that matters to an
owner is "one month", not 31 days), and the current month to date with the same days of the
previous month; any other range with the same number of days just before it.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from aiq.errors import UsageError

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the end of a shorter month."""
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = calendar.monthrange(y, m + 1)[1]
    return date(y, m + 1, min(day.day, last))


def days_in_month(day: date) -> int:
    """How many days ``day``'s month has."""
    return calendar.monthrange(day.year, day.month)[1]


@dataclass(frozen=True)
class Period:
    """A closed range of clinic-local dates; ``month`` is set when it is one calendar month."""

    start: date
    end: date
    month: bool = False

    @property
    def days(self) -> int:
        """Calendar days in the period."""
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        """``2026-10`` for a month, else ``2026-10-01..2026-10-15``."""
        if self.month:
            return f"{self.start:%Y-%m}"
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    def dates(self) -> list[date]:
        """Every date of the period, in order."""
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def to_date(self, today: date) -> Period:
        """The part of the period up to ``today`` (itself when it ended already)."""
        if self.end <= today or self.start > today:
            return self
        return Period(self.start, today, False)

    def is_current(self, today: date) -> bool:
        """Whether ``today`` falls inside the period (it is still running)."""
        return self.start <= today <= self.end

    def previous(self) -> Period:
        """The period of equal length just before: the previous month for a month."""
        if self.month:
            first = add_months(self.start, -1)
            return Period(first, month_end(first), True)
        if self.start.day == 1 and self.start == month_start(self.end):
            # Month to date (1st..day N): the same days of the previous month.
            first = add_months(self.start, -1)
            return Period(first, min(add_months(self.end, -1), month_end(first)), False)
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def year_ago(self) -> Period:
        """The same dates a year earlier (29 February becomes the 28th)."""
        return Period(add_months(self.start, -12), add_months(self.end, -12), self.month)

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "label": self.label}


def parse_month(text: str) -> Period:
    """``YYYY-MM`` as a period, or a usage error naming the option."""
    m = _MONTH.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or not FIRST_YEAR <= int(m.group(1)) <= LAST_YEAR:
        raise UsageError(f"--month {text!r} is not a month", hint="use YYYY-MM, e.g. 2026-10")
    first = date(int(m.group(1)), int(m.group(2)), 1)
    return Period(first, month_end(first), True)


FIRST_YEAR, LAST_YEAR = 1900, 2200
"""The years a date option may name: outside them a date is a typo, and would overflow the
comparisons (a year earlier, the previous period) the reports make."""


def parse_date(text: str, option: str) -> date:
    """``YYYY-MM-DD`` in the years aiq handles, or a usage error naming the option."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date", hint="use YYYY-MM-DD") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise UsageError(
            f"{option} {text!r} is outside the years {FIRST_YEAR} to {LAST_YEAR}",
            hint="check the year",
        )
    return day


def resolve_period(
    month: str | None,
    date_from: str | None,
    date_to: str | None,
    today: date,
    *,
    allow_future: bool = False,
) -> Period:
    """The period a report covers, from ``--month`` or ``--from/--to`` (default: this month).

    A period that starts after ``today`` is a usage error unless ``allow_future`` (appointments:
    future bookings are facts already).
    """
    if month is not None and (date_from is not None or date_to is not None):
        raise UsageError("give either --month or --from/--to, not both")
    if month is not None:
        period = parse_month(month)
    elif date_from is not None or date_to is not None:
        start = parse_date(date_from, "--from") if date_from else None
        end = parse_date(date_to, "--to") if date_to else None
        if start is None:
            assert end is not None
            start = month_start(end)
        if end is None:
            end = max(start, today) if start <= today else start
        if start > end:
            raise UsageError(
                f"--from {start} is after --to {end}", hint="give the earlier date first"
            )
        whole_month = start.day == 1 and end == month_end(start)
        period = Period(start, end, whole_month)
    else:
        first = month_start(today)
        period = Period(first, month_end(first), True)
    if period.start > today and not allow_future:
        raise UsageError(
            f"the period {period.label} is in the future (today is {today})",
            hint="choose a period that has started",
        )
    return period


def last_full_month(today: date) -> Period:
    """The last calendar month that has ended."""
    first = add_months(month_start(today), -1)
    return Period(first, month_end(first), True)


def month_of(day: date) -> Period:
    """The calendar month holding ``day``."""
    first = month_start(day)
    return Period(first, month_end(first), True)


def months_up_to(last: Period, count: int) -> list[Period]:
    """``count`` calendar months, oldest first, the last being the month ``last`` starts in."""
    first = month_start(last.start)
    return [month_of(add_months(first, i - count + 1)) for i in range(count)]
