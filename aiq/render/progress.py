"""Rich progress bars for a sync, one per stream, on stderr (used only on a terminal)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class SyncProgress:
    """Shows windows done per stream; ``update`` is the engine's progress callback."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> SyncProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, stream: str, done: int, total: int) -> None:
        """Record that ``done`` of ``total`` units of ``stream`` are finished."""
        task = self._tasks.get(stream)
        if task is None:
            task = self._tasks[stream] = self._progress.add_task(stream, total=total)
        self._progress.update(task, completed=done, total=total)
