"""Request windows: neighbouring grid windows joined by what they hold, newest first."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from aiq.sync.plan import (
    PAGES_PER_REQUEST_WINDOW,
    RequestWindow,
    Window,
    density,
    request_windows,
    windows_between,
)

WEEKS = windows_between(date(2025, 1, 6), date(2026, 11, 29), 7)  # 99 grid windows


def test_a_sparse_history_is_one_request_window_not_one_a_week() -> None:
    # 45 records over two years: the deep re-read of a small practice.
    rows = {w.start: (1 if i % 2 else 0) for i, w in enumerate(WEEKS[:90])}
    windows = request_windows(WEEKS, rows, per_page=100, per_day=0.1)
    assert windows == [RequestWindow.of(*WEEKS)]
    assert windows[0].cells == tuple(WEEKS)


def test_dense_windows_are_read_in_pieces_of_about_eight_pages_newest_first() -> None:
    rows = {w.start: 210 for w in WEEKS}  # four and a bit pages of 50 each
    windows = request_windows(WEEKS, rows, per_page=50, per_day=0)
    assert [w.start for w in windows] == sorted((w.start for w in windows), reverse=True)
    assert all(len(w.cells) == 1 for w in windows)  # two would hold 420 > 8 x 50
    windows = request_windows(WEEKS, {w.start: 90 for w in WEEKS}, per_page=50, per_day=0)
    assert {len(w.cells) for w in windows[:-1]} == {4}  # 360 records, then 450 would be too many
    # Every grid window is covered exactly once, and each request window is contiguous.
    cells = [c for w in windows for c in w.cells]
    assert sorted(cells) == sorted(WEEKS) and len(cells) == len(set(cells))
    for w in windows:
        assert all(a.end + timedelta(days=1) == b.start for a, b in itertools.pairwise(w.cells))
        assert (w.start, w.end) == (w.cells[0].start, w.cells[-1].end)


def test_a_window_denser_than_the_target_stands_alone_and_gaps_are_not_bridged() -> None:
    chosen = WEEKS[:3] + WEEKS[5:8]  # windows 3 and 4 were read and are not due
    rows = {WEEKS[6].start: 100 * PAGES_PER_REQUEST_WINDOW * 3}
    windows = request_windows(chosen, rows, per_page=100, per_day=0)
    assert windows == [
        RequestWindow.of(WEEKS[7]),
        RequestWindow.of(WEEKS[6]),
        RequestWindow.of(WEEKS[5]),
        RequestWindow.of(*WEEKS[:3]),
    ]


def test_windows_never_read_are_sized_by_the_stream_s_density() -> None:
    # 20 records a day, 100 a page, 8 pages: 40 days, so five weeks a request window.
    windows = request_windows(WEEKS[:20], {}, per_page=100, per_day=20)
    assert [len(w.cells) for w in windows] == [5, 5, 5, 5]
    assert request_windows([], {}, per_page=100, per_day=20) == []


def test_density_is_records_a_day_over_what_was_read() -> None:
    assert density([]) is None
    assert density([(WEEKS[0], 70), (Window(date(2026, 1, 1), date(2026, 1, 1)), 10)]) == 10.0
