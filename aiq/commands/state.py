"""What the root callback learns from the global options, handed to every command.

Kept light: the settings, the store and the consoles are built on first use, so that `aiq --help`
imports nothing heavy.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from aiq.config import Settings
    from aiq.store.db import Store
    from aiq.store.reader import ReadSource


@dataclass
class AppState:
    """Global options and the lazily built objects commands share."""

    db_url: str | None = None
    config_path: Path | None = None
    debug: bool = False
    no_color: bool = False
    _settings: Settings | None = field(default=None, repr=False)
    _store: Store | None = field(default=None, repr=False)
    _out: Console | None = field(default=None, repr=False)
    _err: Console | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """The settings in force (config file < environment < flags)."""
        if self._settings is None:
            from aiq.config import load_settings

            self._settings = load_settings(
                self.config_path, database_url=self.db_url, debug=self.debug
            )
            from aiq.observability import setup

            setup(self._settings)  # log redaction; Sentry only when a DSN is configured
        return self._settings

    def store(self, *, migrate: bool = True) -> Store:
        """The store, migrated on first use unless ``migrate`` is False."""
        if self._store is None:
            from aiq.store.db import open_store

            settings = self.settings()
            if not settings.database.url:
                settings.ensure_dirs()
            self._store = open_store(settings.database_url, migrate=migrate)
        return self._store

    def source(self) -> ReadSource:
        """Where reports read from: the open store, else the database URL, read directly.

        Reports do not need SQLAlchemy; reading with the driver alone keeps `aiq report` fast.
        """
        if self._store is not None:
            return self._store
        from aiq.store.reader import UrlSource

        settings = self.settings()
        if not settings.database.url:
            settings.ensure_dirs()
        return UrlSource(settings.database_url)

    @property
    def color(self) -> bool:
        return not (self.no_color or os.environ.get("NO_COLOR"))

    def out(self) -> Console:
        """The console for data (stdout)."""
        if self._out is None:
            from rich.console import Console

            self._out = Console(no_color=not self.color, highlight=False, soft_wrap=False)
        return self._out

    def err(self) -> Console:
        """The console for messages and progress (stderr)."""
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, no_color=not self.color, highlight=False)
        return self._err

    def say(self, message: str) -> None:
        """A message for the person at the terminal, on stderr."""
        print(message, file=sys.stderr)

    def close(self) -> None:
        """Release the store's connections."""
        if self._store is not None:
            self._store.dispose()
            self._store = None


_current = AppState()


def get_state(ctx: Any = None) -> AppState:
    """The state of this invocation."""
    if ctx is not None:
        root = ctx.find_root()
        if isinstance(root.obj, AppState):
            return root.obj
    return _current


def set_state(state: AppState) -> None:
    """Install the state for this invocation (the root callback does this)."""
    global _current
    _current = state
