"""Which date windows a sync reads.

AR has no "changed since" filter, so a sync re-reads: every window never read completely (a first
backfill, new dates forward, windows a crash left unfinished), a trailing lookback (late refunds,
voids, status changes), appointments' future (new and moved bookings), and from time to time a deep
window. Windows sit on a fixed grid of ``window_days`` (aligned to a Monday), so a window is the
same window in every run and its "done" mark in ``sync_window`` stays meaningful.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

GRID_ORIGIN = date(2000, 1, 3)  # a Monday


@dataclass(frozen=True, order=True)
class Window:
    """An inclusive range of clinic-local dates."""

    start: date
    end: date

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}"


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
) -> StreamPlan:
    """The windows ``stream`` must read today.

    ``done`` holds the start dates of windows already read completely. ``since`` extends the
    backfill backwards when it is earlier than what was read before.
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
        for w in windows_between(today - timedelta(days=lookback_days), horizon, window_days):
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
