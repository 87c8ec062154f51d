"""Which date windows a sync reads, and how they are grouped into requests.

AR has no "changed since" filter, so a sync re-reads: every window never read completely (a first
backfill, new dates forward, windows a crash left unfinished), a trailing lookback (late refunds,
voids, status changes), appointments' future (new and moved bookings), and from time to time a deep
window. Windows sit on a fixed grid of ``window_days`` (aligned to a Monday), so a window is the
same window in every run and its "done" mark in ``sync_window`` stays meaningful.

A request need not cover one grid window: AR paginates inside any date range, and a request costs
the same whether its range is a week or a year. ``request_windows`` joins neighbouring grid windows
into one request window holding about ``PAGES_PER_REQUEST_WINDOW`` pages of records, judged by
what each window held when it was last read (or, never read, by the stream's density), so an empty
stretch costs one request rather than one a week, while a dense one is still read in pieces that
several threads share and a crash loses little. They are ordered newest first: this month's and
last month's figures are complete long before a first sync reaches the oldest history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

GRID_ORIGIN = date(2000, 1, 3)  # a Monday
PAGES_PER_REQUEST_WINDOW = 8
"""How many pages of records a request window is sized to hold: large enough that the partly
filled last page wastes little (one page in sixteen, on average), small enough that the pages of a
first sync spread over the fetch threads and a window held in memory stays a few hundred records."""


@dataclass(frozen=True, order=True)
class Window:
    """An inclusive range of clinic-local dates."""

    start: date
    end: date

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def grid_window(day: date, window_days: int) -> Window:
    """The grid window that holds ``day``."""
    offset = (day - GRID_ORIGIN).days // window_days * window_days
    start = GRID_ORIGIN + timedelta(days=offset)
    return Window(start, start + timedelta(days=window_days - 1))


def windows_between(first: date, last: date, window_days: int) -> list[Window]:
    """Every grid window overlapping ``[first, last]``."""
    if last < first:
        return []
    out = []
    w = grid_window(first, window_days)
    while w.start <= last:
        out.append(w)
        nxt = w.end + timedelta(days=1)
        w = Window(nxt, nxt + timedelta(days=window_days - 1))
    return out


@dataclass(frozen=True)
class StreamPlan:
    """The windows one stream reads in one run, and why."""

    stream: str
    windows: list[Window]
    backfill_from: date
    horizon: date
    deep: bool
    reasons: dict[str, int]


def plan_windows(
    stream: str,
    *,
    today: date,
    since: date,
    future_days: int,
    window_days: int,
    lookback_days: int,
    done: Iterable[date],
    backfill_from: date | None,
    full: bool,
    deep_due: bool,
    deep_days: int,
    settled: Iterable[date] = (),
) -> StreamPlan:
    """The windows ``stream`` must read today.

    ``done`` holds the start dates of windows already read completely. ``since`` extends the
    backfill backwards when it is earlier than what was read before. ``settled`` holds the start
    dates of lookback windows read recently enough to leave out of this run's lookback.
    """
    horizon = today + timedelta(days=future_days)
    start = since if backfill_from is None or full else min(since, backfill_from)
    every = windows_between(start, horizon, window_days)
    done_set = set(done)
    chosen: dict[Window, str] = {}
    if full:
        chosen = dict.fromkeys(every, "full")
    else:
        for w in every:
            if w.start not in done_set:
                chosen[w] = "unread"
        skip = set(settled)
        for w in windows_between(today - timedelta(days=lookback_days), horizon, window_days):
            if w.start not in skip:
                chosen.setdefault(w, "lookback")
        if deep_due:
            for w in windows_between(
                max(start, today - timedelta(days=deep_days)), today, window_days
            ):
                chosen.setdefault(w, "deep")
    reasons: dict[str, int] = {}
    for why in chosen.values():
        reasons[why] = reasons.get(why, 0) + 1
    return StreamPlan(
        stream=stream,
        windows=sorted(chosen),
        backfill_from=start,
        horizon=horizon,
        # A first backfill reads everything, so it counts as a deep read too.
        deep=deep_due or full or backfill_from is None,
        reasons=reasons,
    )


@dataclass(frozen=True)
class RequestWindow:
    """One date range asked of AR (page after page), made of neighbouring grid windows."""

    start: date
    end: date
    cells: tuple[Window, ...]
    """The grid windows it covers; each is marked done when the request window is read whole."""

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}"

    @classmethod
    def of(cls, *cells: Window) -> RequestWindow:
        """The request window made of ``cells`` (neighbours, in date order)."""
        return cls(cells[0].start, cells[-1].end, cells)


def request_windows(
    cells: Iterable[Window],
    rows: Mapping[date, int],
    *,
    per_page: int,
    per_day: float,
    pages: int = PAGES_PER_REQUEST_WINDOW,
) -> list[RequestWindow]:
    """Join neighbouring ``cells`` into request windows of about ``pages`` pages each, newest first.

    ``rows`` holds what a cell held when last read, by its start date; a cell never read is
    expected to hold ``per_day`` records a day. A cell is never split (its done mark is the unit
    of resumption), so a cell denser than the target is a request window of its own.
    """
    target = max(1, per_page * pages)
    out: list[RequestWindow] = []
    group: list[Window] = []
    expected = 0.0
    for cell in sorted(set(cells), reverse=True):
        n = float(rows[cell.start]) if cell.start in rows else per_day * cell.days
        adjacent = bool(group) and cell.end + timedelta(days=1) == group[-1].start
        if group and (not adjacent or expected + n > target):
            out.append(_joined(group))
            group, expected = [], 0.0
        group.append(cell)
        expected += n
    if group:
        out.append(_joined(group))
    return out


def _joined(newest_first: list[Window]) -> RequestWindow:
    return RequestWindow.of(*reversed(newest_first))


def density(read: Iterable[tuple[Window, int]]) -> float | None:
    """Records a day over the windows read before, with what each held (None if none was)."""
    days = records = 0
    for window, rows in read:
        days += window.days
        records += rows
    return records / days if days else None
