"""What an export holds: the tables, their columns as exported, and the query that streams them.

Every synced business table and the sync run log are exported by default; the daily rollups can be
asked for by name. Nothing secret is exportable: the ``credential``, ``ar_login`` and ``vault_key``
tables (sealed credentials, key ids) are never on the list, nor the sync bookkeeping
(``sync_window``, ``sync_stream_state``) or the internal ``row_hash`` of a row.

Columns are shaped once here, for every format:

- money (``*_cents``) keeps its integer cents column and gains a decimal amount beside it
  (``total_cents`` 12345 and ``total`` "123.45"), with the org's ``currency`` as the last column;
- quantities in thousandths (``*_milli``) gain a decimal beside them the same way;
- timestamps (stored as naive UTC) are written in ISO 8601 with their ``+00:00`` offset; tables
  whose rows belong to a clinic-local day carry it in ``local_date``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Select, Table, select
from sqlmodel import SQLModel

from aiq.errors import UsageError
from aiq.store.models import (
    BUSINESS_TABLES,
    ROLLUP_TABLES,
    Appointment,
    Invoice,
    PatientFigure,
    PatientPass,
    SyncRun,
    SyncRunStream,
    table_of,
)

_DEFAULT_MODELS: tuple[type[SQLModel], ...] = (*BUSINESS_TABLES, SyncRun, SyncRunStream)
DEFAULT_TABLES: tuple[Table, ...] = tuple(table_of(m) for m in _DEFAULT_MODELS)
"""Exported when no ``--tables`` are given: the business facts and the sync run log."""

_OPTIONAL_MODELS: tuple[type[SQLModel], ...] = (*ROLLUP_TABLES, PatientFigure, PatientPass)
OPTIONAL_TABLES: tuple[Table, ...] = tuple(table_of(m) for m in _OPTIONAL_MODELS)
"""Exported only when named: derived daily rollups, and the patient pass's figures."""

SECRET_TABLES = frozenset({"credential", "ar_login", "vault_key"})
"""Never exported, whatever is asked."""

HIDDEN_COLUMNS = frozenset({"row_hash"})

MONEY_SUFFIX = "_cents"
QUANTITY_SUFFIX = "_milli"


@dataclass(frozen=True)
class Column:
    """One exported column.

    ``source`` is the index of the value in the query's row (None for the constant currency);
    ``kind`` is one of integer, string, boolean, date, timestamp, decimal, json. A decimal column
    is an integer source (cents or thousandths) shown with ``scale`` digits after the point.
    """

    name: str
    kind: str
    source: int | None
    nullable: bool
    scale: int = 0
    description: str = ""
    constant: Any = None

    def manifest(self) -> dict[str, Any]:
        """How the manifest describes this column."""
        kind = f"decimal(18,{self.scale})" if self.kind == "decimal" else self.kind
        doc: dict[str, Any] = {"name": self.name, "type": kind, "nullable": self.nullable}
        if self.description:
            doc["description"] = self.description
        return doc


@dataclass
class TablePlan:
    """One table to export: its columns and the query streaming its rows in key order."""

    name: str
    columns: list[Column]
    query: Select[Any]
    period: str | None
    totals: list[tuple[str, int]] = field(default_factory=list)
    """Integer columns (cents and thousandths) whose sums the manifest records: (name, source)."""


def _kind(col: Any) -> str:
    t = col.type
    if isinstance(t, Boolean):
        return "boolean"
    if isinstance(t, DateTime):
        return "timestamp"
    if isinstance(t, Date):
        return "date"
    if isinstance(t, Integer):
        return "integer"
    if isinstance(t, JSON):
        return "json"
    return "string"


def _derived_name(base: str, taken: set[str]) -> str:
    return base if base not in taken else f"{base}_amount"


def _shape(table: Table) -> tuple[list[Any], list[Column], list[tuple[str, int]]]:
    """The source columns to select, the exported columns, and the columns to total."""
    sources = [c for c in table.columns if c.name not in HIDDEN_COLUMNS]
    taken = {c.name for c in sources}
    columns: list[Column] = []
    totals: list[tuple[str, int]] = []
    has_money = False
    for i, c in enumerate(sources):
        kind = _kind(c)
        nullable = bool(c.nullable)
        description = "UTC, ISO 8601 with offset" if kind == "timestamp" else ""
        columns.append(Column(c.name, kind, i, nullable, description=description))
        if kind != "integer":
            continue
        if c.name.endswith(MONEY_SUFFIX):
            has_money = True
            base = _derived_name(c.name[: -len(MONEY_SUFFIX)], taken)
            columns.append(
                Column(base, "decimal", i, nullable, scale=2, description=f"{c.name} / 100")
            )
            totals.append((c.name, i))
        elif c.name.endswith(QUANTITY_SUFFIX):
            base = _derived_name(c.name[: -len(QUANTITY_SUFFIX)], taken)
            columns.append(
                Column(base, "decimal", i, nullable, scale=3, description=f"{c.name} / 1000")
            )
            totals.append((c.name, i))
    if has_money:
        columns.append(
            Column("currency", "string", None, False, description="ISO 4217 code of the amounts")
        )
    return sources, columns, totals


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min)


def _period_filter(
    table: Table, org_id: int, date_from: date | None, date_to: date | None
) -> tuple[list[Any], str | None]:
    """The WHERE terms that keep a table to the period, and what they filter on."""
    if date_from is None and date_to is None:
        return [], None

    def between(col: Any) -> list[Any]:
        terms = []
        if date_from is not None:
            terms.append(col >= date_from)
        if date_to is not None:
            terms.append(col <= date_to)
        return terms

    def between_utc(col: Any) -> list[Any]:
        terms = []
        if date_from is not None:
            terms.append(col >= _day_start(date_from))
        if date_to is not None:
            terms.append(col < _day_start(date_to + timedelta(days=1)))
        return terms

    if "local_date" in table.c:
        return between(table.c.local_date), "local_date"
    if table.name == "patient_figure":
        return between(table.c.month), "month (its first day)"
    parents = {
        "invoice_item": ("invoice_id", table_of(Invoice)),
        "appointment_service": ("appointment_id", table_of(Appointment)),
    }
    if table.name in parents:
        fk, parent = parents[table.name]
        ids = select(parent.c.id).where(parent.c.org_id == org_id, *between(parent.c.local_date))
        return [table.c[fk].in_(ids)], f"{parent.name}.local_date"
    if "started_at" in table.c:
        return between_utc(table.c.started_at), "started_at (UTC date)"
    return [], None


def exportable_tables() -> dict[str, Table]:
    """Every table an export may name, by name (never a secret one)."""
    tables = {t.name: t for t in (*DEFAULT_TABLES, *OPTIONAL_TABLES)}
    return {n: t for n, t in tables.items() if n not in SECRET_TABLES}


def choose_tables(names: list[str] | None) -> list[Table]:
    """The tables to export: ``names`` (checked), or the default set."""
    if not names:
        return list(DEFAULT_TABLES)
    known = exportable_tables()
    chosen: list[Table] = []
    for name in names:
        if name in SECRET_TABLES:
            raise UsageError(f"the table {name!r} holds secrets and is never exported")
        if name not in known:
            raise UsageError(
                f"there is no exportable table {name!r}", hint=f"known: {', '.join(known)}"
            )
        if known[name] not in chosen:
            chosen.append(known[name])
    return chosen


def plan_table(
    table: Table, org_id: int, date_from: date | None = None, date_to: date | None = None
) -> TablePlan:
    """The columns and the streaming query of one table for one org and period."""
    sources, columns, totals = _shape(table)
    terms, period = _period_filter(table, org_id, date_from, date_to)
    query = (
        select(*sources)
        .where(table.c.org_id == org_id, *terms)
        .order_by(*table.primary_key.columns)
    )
    return TablePlan(table.name, columns, query, period, totals)
