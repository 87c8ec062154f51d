"""The store: one object that owns the engine, the schema version and the dialect's fast paths."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from aiq.errors import AiqError, DatabaseTooNew
from aiq.store import models
from aiq.store.engine import make_engine, redact_url, translate_operational_error
from aiq.store.reader import Reader, driver_error

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration this version of aiq knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    """Every migration revision this version of aiq knows."""
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}


@dataclass
class TableCount:
    """A table and how many rows it holds."""

    table: str
    rows: int


class Store:
    """The database aiq keeps its facts in: SQLite by default, or a shared Postgres."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, echo=echo)
        self.dialect: str = self.engine.dialect.name

    @property
    def display_url(self) -> str:
        """The URL fit to show (no password)."""
        return redact_url(self.engine.url)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection, with driver errors about reaching the database translated."""
        try:
            conn = self.engine.connect()
        except (OperationalError, DBAPIError) as exc:
            raise translate_operational_error(exc, self.engine.url) from exc
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside one write transaction, committed on success."""
        with self.connect() as conn:
            conn = conn.execution_options(aiq_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """A ``Reader`` (plain SQL, one read-only snapshot) over one of the store's connections."""
        with self.connect() as conn:
            reader = Reader(conn.connection.driver_connection, self.dialect)
            with reader.snapshot():
                yield reader

    # --- schema ---------------------------------------------------------------------------------

    def current_revision(self) -> str | None:
        """The migration the database is at, or None when aiq has never touched it."""
        from alembic.runtime.migration import MigrationContext

        with self.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def check_revision(self) -> str | None:
        """The current revision, refusing a database newer than this aiq."""
        current = self.current_revision()
        if current is not None and current not in known_revisions():
            raise DatabaseTooNew(
                f"the database {self.display_url} is at migration {current}, "
                "newer than this aiq knows",
                hint="upgrade aiq (pip install -U aiq) or point --db at another database",
            )
        return current

    def upgrade(self, announce: Callable[[str], None] | None = None) -> tuple[str | None, str]:
        """Bring the schema to the newest migration; return (before, after)."""
        from alembic import command

        before = self.check_revision()
        head = head_revision()
        if before == head:
            return before, head
        if announce is not None:
            if before is None:
                announce(f"Creating the aiq schema in {self.display_url} (migration {head}).")
            else:
                announce(f"Upgrading the aiq schema in {self.display_url} from {before} to {head}.")
        try:
            with self.engine.begin() as conn:
                command.upgrade(_alembic_config(conn), "head")
        except (OperationalError, DBAPIError) as exc:
            raise translate_operational_error(exc, self.engine.url) from exc
        return before, head

    def stored_revision(self) -> str | None:
        """The migration recorded in the database, read with plain SQL (no Alembic import)."""
        with self.connect() as conn:
            try:
                value = conn.execute(text("select version_num from alembic_version")).scalar()
            except DBAPIError:
                return None  # no alembic_version table: aiq has never touched this database
        return None if value is None else str(value)

    def ensure_schema(self) -> None:
        """Migrate on first use (with a message on stderr); refuse a database that is too new."""
        from aiq.store.migrations import HEAD

        if self.stored_revision() == HEAD:
            return  # the common case, without loading Alembic and its scripts (~0.1 s)
        self.upgrade(announce=lambda msg: print(msg, file=sys.stderr))

    def table_counts(self) -> list[TableCount]:
        """Row counts of every aiq table, in schema order."""
        counts = []
        with self.connect() as conn:
            for table in models.metadata.sorted_tables:
                n = conn.execute(select(func.count()).select_from(table)).scalar_one()
                counts.append(TableCount(table.name, int(n)))
        return counts

    def server_version(self) -> str:
        """The database server's version string."""
        with self.connect() as conn:
            if self.dialect == "sqlite":
                return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
            return str(conn.execute(text("show server_version")).scalar_one()).split()[0]

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = True, echo: bool = False) -> Store:
    """Open the store at ``url``, migrating it on first use unless ``migrate`` is False."""
    store = Store(url, echo=echo)
    if migrate:
        try:
            store.ensure_schema()
        except BaseException:
            store.dispose()  # no pooled connection is left for the garbage collector
            raise
    return store


def guard_store_errors(exc: BaseException) -> AiqError | None:
    """Map a stray driver exception to an aiq error, or None if it is not a database error."""
    if isinstance(exc, OperationalError | DBAPIError):
        return driver_error(exc)
    return None
