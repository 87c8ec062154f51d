"""The PHI firewall: AR records in, rows of business facts out.

Each record passes through an allow-list. The ``patient`` object, ``notes``, staff email and phone,
and any field not named here are dropped in this module and go no further: not into a log line, a
row, an export or an error report. Unknown field *names* (never values) are collected so that a sync
can report new upstream fields once.

Money strings become integer cents, quantities integer thousandths, local timestamps naive UTC plus
the clinic-local date.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from aiq.errors import RecordInvalid

# Fields aiq keeps, and fields it knows and drops on purpose (so they are not "new upstream").
KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "clinics": frozenset({"id", "name", "timezone", "address", "is_active"}),
    "users": frozenset(
        {
            "id",
            "firstname",
            "lastname",
            "email",
            "phone",
            "role",
            "is_provider",
            "clinic_ids",
            "commission_rate",
            "goals",
            "is_active",
        }
    ),
    "services": frozenset({"id", "name", "category_id", "price", "duration_minutes", "is_active"}),
    "products": frozenset(
        {"id", "name", "inventory_type", "category_id", "price", "cost_to_company", "is_active"}
    ),
    "product_categories": frozenset({"id", "name"}),
    # Appointments and invoices: the kept fields (whose values make the row and its hash, below)
    # plus the nested lists and the fields dropped on purpose.
    "appointments": frozenset(
        {
            "id",
            "clinic_id",
            "provider_id",
            "kind",
            "status",
            "start",
            "end",
            "booked_at",
            "canceled_at",
            "booked_via",
            "is_new_patient",
            "updated_at",
        }
        | {"services", "patient", "notes"}
    ),
    "invoices": frozenset(
        {
            "id",
            "invoice_number",
            "clinic_id",
            "status",
            "invoice_type",
            "appointment_id",
            "employee_id",
            "created_at",
            "paid_at",
            "voided_at",
            "subtotal",
            "discount",
            "tax",
            "tip",
            "processing_fee",
            "total",
            "updated_at",
        }
        | {"items", "payments", "refunds", "patient", "notes"}
    ),
}


@dataclass
class FieldWatch:
    """Collects field names AR sent that aiq does not know (names only, never values).

    A name is kept only when it looks like a field name (a plain identifier): a "name" that is
    anything else could itself be a patient's data, so such names are only counted.
    """

    unknown: dict[str, set[str]] = field(default_factory=dict)

    def check(self, stream: str, record: Any) -> None:
        if type(record) is not dict:
            return  # not a record at all: the mapping skips it, naming what it was
        known = KNOWN_FIELDS[stream]
        if len(record) <= len(known) and record.keys() <= known:
            return
        extra = record.keys() - known
        if not extra:
            return
        plain = {n for n in extra if isinstance(n, str) and _PLAIN_NAME.match(n)}
        names = self.unknown.setdefault(stream, set())
        names.update(plain)
        if len(plain) < len(extra):
            odd = len(extra) - len(plain)
            names.discard(next((n for n in names if n.startswith("(")), ""))
            names.add(f"({odd} field(s) whose names are not identifiers, not shown)")


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


def shape(value: Any) -> str:
    """What a value is, by type and size only, never by content (for error messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"a text of {len(value)} characters"
    if isinstance(value, int | float):
        return f"a {type(value).__name__}"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return f"an object of {len(value)} fields"
    return f"a {type(value).__name__}"


def safe_id(value: Any) -> str:
    """A record id fit for a message: the id when it is a number, else only its shape."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        return value
    return f"({shape(value)} as its id)"


class _Reads(dict[str, Any]):
    """A record that remembers the last field read from it (to name the field a mapping failed
    on, without quoting its value)."""

    last: str | None = None

    def __getitem__(self, key: str) -> Any:
        self.last = key
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.last = key
        return super().get(key, default)


def explain(
    stream: str,
    record: Any,
    mapper: Callable[..., Any],
    *args: Any,
    error: BaseException | None = None,
) -> str:
    """Why ``record`` could not be mapped: the stream, the record's id and the field, with the
    field's value described by type and size only. ``args`` are the mapper's arguments after the
    record (the org id first, as in every mapper); ``error`` is what the mapping raised.

    The field is the one whose value the error quotes (a conversion names what it could not
    convert), else the last field the mapper read before it failed. The error's own text is never
    part of the answer: it quotes AR's data.
    """
    if not isinstance(record, dict):
        return f"{stream}: an entry that is not a record ({shape(record)})"
    reads = _Reads(record)
    with contextlib.suppress(Exception):  # the failure is what is being explained
        mapper(args[0], reads, *args[1:])
    field = reads.last
    if error is not None:
        text = str(error)
        quoted = [
            k
            for k, v in record.items()
            if isinstance(v, str | int | float) and len(str(v)) >= 3 and str(v) in text
        ]
        if len(quoted) == 1:
            field = quoted[0]
    where = f"{stream} record {safe_id(record.get('id'))}"
    if field is None:
        return f"{where}: not usable"
    return f"{where}: field '{field}' is not usable ({shape(record.get(field))})"


# --- scalar conversions -------------------------------------------------------------------------


_V = TypeVar("_V")


class _Memo(dict[Any, _V]):
    """A bounded memo of a pure conversion, looked up with ``memo[value]`` (in C when it hits).

    A sync converts the same few strings over and over (``"0.00"``, catalogue prices, a status, a
    day); one dict lookup replaces the parsing. Only strings (and None) are kept as keys, and the
    memo empties itself when full, so memory stays bounded whatever the data.
    """

    __slots__ = ("convert", "limit")

    def __init__(self, convert: Callable[[Any], _V], limit: int) -> None:
        super().__init__()
        self.convert = convert
        self.limit = limit

    def __missing__(self, key: Any) -> _V:
        value = self.convert(key)
        if type(key) is str or key is None:
            if len(self) >= self.limit:
                self.clear()
            self[key] = value
        return value


def _parse_cents(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value * 100
    text = str(value).strip()
    neg = text.startswith("-")
    body = text[1:] if neg else text
    whole, dot, frac = body.partition(".")
    if whole.isdigit() and (not dot or (frac.isdigit() and len(frac) <= 2)):
        n = int(whole) * 100 + (int(frac.ljust(2, "0")) if frac else 0)
        return -n if neg else n
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError("not a money amount") from None
    return int((d * 100).to_integral_value())


def _parse_milli(value: Any) -> int:
    if value is None or value == "":
        return 1000
    try:
        return int((Decimal(str(value)) * 1000).to_integral_value())
    except InvalidOperation:
        raise ValueError("not a quantity") from None


_CENTS = _Memo(_parse_cents, 8192)
_MILLI = _Memo(_parse_milli, 1024)
# Short texts (statuses, kinds, methods, catalogue names): one shared object per distinct value.
_TEXT = _Memo(str, 4096)
_DATES = _Memo(date.fromisoformat, 8192)


def cents(value: Any) -> int:
    """A decimal money string ("450.00") as integer cents. Never goes through a float."""
    return int(_CENTS[value])


def milli(value: Any) -> int:
    """A decimal quantity ("1.00", "0.5") as integer thousandths."""
    return int(_MILLI[value])


def percent_bp(value: Any) -> int | None:
    """A percentage string ("40.00") as basis points (4000)."""
    if value is None or value == "":
        return None
    return int((Decimal(str(value)) * 100).to_integral_value())


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone, cached."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


class Clock:
    """A time zone's clock: AR local timestamps ("YYYY-MM-DD HH:MM:SS", no offset) as naive UTC.

    Same result as ``astimezone`` with fold=0. It remembers each local day's UTC offset (or that
    the offset changes that day, a DST shift, whose timestamps are converted one by one): one
    lookup per day serves every timestamp in it. A mapping takes its record's clock once
    (``clock(tz)``), then converts each timestamp with ``utc``.
    """

    __slots__ = ("_offsets", "tz")

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._offsets: _Memo[timedelta | None] = _Memo(self._day_offset, 20_000)

    def _day_offset(self, day: str) -> timedelta | None:
        d = _DATES[day]
        start = datetime(d.year, d.month, d.day, tzinfo=self.tz).utcoffset()
        end = datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=self.tz).utcoffset()
        return start if start == end else None

    def utc(self, value: str | None) -> datetime | None:
        """The naive UTC time of the local timestamp ``value`` (None for none)."""
        if not value:
            return None
        if len(value) == 19:  # the usual form, with no offset and no fraction
            offset = self._offsets[value[:10]]
            if offset is not None:
                return _fromisoformat(value) - offset
        local = _fromisoformat(value)
        if local.tzinfo is not None:  # tolerate an offset if AR ever sends one
            return local.astimezone(UTC).replace(tzinfo=None)
        offset = local.replace(tzinfo=self.tz).utcoffset()
        assert offset is not None
        return local - offset


_fromisoformat = datetime.fromisoformat
_CLOCKS: dict[ZoneInfo, Clock] = {}


def clock(tz: ZoneInfo) -> Clock:
    """The clock of the zone ``tz`` (one per zone, kept)."""
    c = _CLOCKS.get(tz)
    if c is None:
        c = _CLOCKS.setdefault(tz, Clock(tz))
    return c


def local_to_utc(value: str | None, tz: ZoneInfo) -> datetime | None:
    """An AR local timestamp ("YYYY-MM-DD HH:MM:SS", no offset) as naive UTC (``Clock.utc``)."""
    return clock(tz).utc(value)


def local_date(value: str) -> date:
    """The calendar date of an AR local timestamp."""
    return _DATES[value[:10]]


def row_hash(*parts: Any) -> int:
    """A 63-bit digest of a record's kept content; equal content gives an equal hash."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def content_hash(*parts: Any) -> int:
    """A 63-bit digest of mapped rows (tuples of plain values); equal rows give an equal hash.

    The rows are what is stored, so a change upstream that changes nothing aiq keeps does not
    count as a change. orjson serialises them in one C call (dates and times as ISO text).
    """
    digest = hashlib.blake2b(orjson.dumps(parts), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _req(stream: str, record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    if value is None or value == "":
        raise RecordInvalid(stream, record.get("id", "?"), name)
    return value


ID_LIMIT = 2**63
"""Ids and counts are stored as 64-bit integers: a larger one is not a usable value."""


def _opt_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    n = int(value)
    if not -ID_LIMIT < n < ID_LIMIT:
        raise ValueError("an integer out of range")
    return n


def _ref(value: Any) -> int | None:
    """An optional reference to another record (a provider, a service...)."""
    if type(value) is int and 0 <= value < ID_LIMIT:
        return value
    return _opt_int(value)


def _rid(stream: str, record: dict[str, Any], name: str = "id") -> int:
    """A required id: present, an integer, and one that fits the database."""
    value = record.get(name)
    if value is None or value == "":
        raise RecordInvalid(stream, record.get("id", "?"), name)
    n = value if type(value) is int else int(value)
    if not 0 <= n < ID_LIMIT:
        raise RecordInvalid(stream, "?", name, "is out of range")
    return n


# The values AR documents for its enumerated fields. Anything else may be text a person typed
# (AR has held a patient's name in a status), so it is never stored: an unknown status makes the
# record unusable (a report could not classify it), any other field takes a neutral value.
APPOINTMENT_STATUSES = frozenset(
    {"booked", "confirmed", "checked_in", "completed", "canceled", "no_show"}
)
APPOINTMENT_KINDS = frozenset({"in_person", "virtual", "out_of_office"})
BOOKED_VIA = frozenset({"online", "staff"})
INVOICE_STATUSES = frozenset(
    {"draft", "open", "partially_paid", "paid", "void", "refunded", "partially_refunded"}
)
INVOICE_TYPES = frozenset(
    {"procedure", "retail", "quickpay", "membership", "egift_purchase", "package", "deposit",
     "cancellation_fee"}
)  # fmt: skip
ITEM_TYPES = frozenset(
    {"service", "retail", "membership", "package", "egift", "cancellation_fee", "deposit"}
)
PAYMENT_METHODS = frozenset(
    {"card", "cash", "check", "wallet", "egift", "cherry", "care_credit", "klarna"}
)
REFUND_DESTINATIONS = frozenset({"original", "wallet", "cash", "check"})
OTHER = "other"
"""What an enumerated field not among AR's documented values is stored as."""


def _status(stream: str, rid: int, value: Any, known: frozenset[str]) -> str:
    if value is None or value == "":
        raise RecordInvalid(stream, rid, "status")
    if value not in known:
        raise RecordInvalid(stream, rid, "status", "is not one of the values AR documents")
    return _TEXT[value]


def _one_of(value: Any, known: frozenset[str], default: str | None = OTHER) -> str | None:
    """``value`` when AR documents it; None stays None (when ``default`` is); else ``OTHER``."""
    if value is None or value == "":
        return default
    return _TEXT[value] if value in known else OTHER


def _display_name(first: Any, last: Any) -> str:
    first = str(first or "").strip()
    last = str(last or "").strip()
    return f"{first} {last[:1]}.".strip() if last else first


# --- reference streams --------------------------------------------------------------------------


def map_clinic(org_id: int, r: dict[str, Any]) -> dict[str, Any]:
    """A clinic row."""
    rid = _rid("clinics", r)
    tz = str(_req("clinics", r, "timezone"))
    zone(tz)  # an unknown zone fails the record here, not every timestamp later
    addr = r.get("address") or {}
    row = {
        "org_id": org_id,
        "id": rid,
        "name": str(r.get("name") or f"Clinic {rid}"),
        "timezone": tz,
        "city": addr.get("city"),
        "state": addr.get("state"),
        "zip": addr.get("zip"),
        "is_active": bool(r.get("is_active", True)),
    }
    row["row_hash"] = row_hash(*row.values())
    return row


def map_staff(org_id: int, r: dict[str, Any]) -> dict[str, Any]:
    """A staff row: display name only, never email or phone."""
    rid = _rid("users", r)
    goals = r.get("goals") or {}
    sales_goal = goals.get("sales_per_month")
    row = {
        "org_id": org_id,
        "id": rid,
        "display_name": _display_name(r.get("firstname"), r.get("lastname")) or f"Staff {rid}",
        "role": str(r.get("role") or ""),
        "is_provider": bool(r.get("is_provider", False)),
        "clinic_ids": sorted(int(c) for c in (r.get("clinic_ids") or [])),
        "commission_bp": percent_bp(r.get("commission_rate")),
        "goal_procedures_per_month": _opt_int(goals.get("procedures_per_month")),
        "goal_sales_per_month_cents": None if sales_goal in (None, "") else cents(sales_goal),
        "is_active": bool(r.get("is_active", True)),
    }
    row["row_hash"] = row_hash(*row.values())
    return row


def map_category(org_id: int, r: dict[str, Any]) -> dict[str, Any]:
    """A category row."""
    rid = _rid("product_categories", r)
    row = {"org_id": org_id, "id": rid, "name": str(r.get("name") or f"Category {rid}")}
    row["row_hash"] = row_hash(*row.values())
    return row


def map_service(org_id: int, r: dict[str, Any]) -> dict[str, Any]:
    """A service row."""
    rid = _rid("services", r)
    row = {
        "org_id": org_id,
        "id": rid,
        "name": str(r.get("name") or f"Service {rid}"),
        "category_id": _opt_int(r.get("category_id")),
        "price_cents": None if r.get("price") is None else cents(r.get("price")),
        "duration_minutes": _opt_int(r.get("duration_minutes")),
        "is_active": bool(r.get("is_active", True)),
    }
    row["row_hash"] = row_hash(*row.values())
    return row


def map_product(org_id: int, r: dict[str, Any]) -> dict[str, Any]:
    """A product row."""
    rid = _rid("products", r)
    row = {
        "org_id": org_id,
        "id": rid,
        "name": str(r.get("name") or f"Product {rid}"),
        "inventory_type": str(r.get("inventory_type") or "retail"),
        "category_id": _opt_int(r.get("category_id")),
        "price_cents": None if r.get("price") is None else cents(r.get("price")),
        "cost_cents": None if r.get("cost_to_company") is None else cents(r.get("cost_to_company")),
        "is_active": bool(r.get("is_active", True)),
    }
    row["row_hash"] = row_hash(*row.values())
    return row


# --- windowed streams ---------------------------------------------------------------------------

# Appointments and invoices are many: they map straight into tuples in their tables' column order
# (what the bulk writers take), not dicts. The names below are those columns, in that order.
APPOINTMENT_COLUMNS = (
    "org_id",
    "id",
    "clinic_id",
    "provider_id",
    "kind",
    "status",
    "start_at",
    "end_at",
    "local_date",
    "duration_minutes",
    "booked_at",
    "canceled_at",
    "cancel_lead_minutes",
    "booked_via",
    "is_new_patient",
    "updated_at",
    "row_hash",
)
APPOINTMENT_SERVICE_COLUMNS = (
    "org_id",
    "appointment_id",
    "position",
    "service_id",
    "duration_minutes",
)
INVOICE_COLUMNS = (
    "org_id",
    "id",
    "invoice_number",
    "clinic_id",
    "status",
    "invoice_type",
    "appointment_id",
    "employee_id",
    "created_at",
    "local_date",
    "paid_at",
    "voided_at",
    "subtotal_cents",
    "discount_cents",
    "tax_cents",
    "tip_cents",
    "processing_fee_cents",
    "total_cents",
    "updated_at",
    "row_hash",
)
INVOICE_ITEM_COLUMNS = (
    "org_id",
    "id",
    "invoice_id",
    "item_type",
    "service_id",
    "product_id",
    "name",
    "category_id",
    "quantity_milli",
    "unit_price_cents",
    "value_cents",
    "discount_cents",
    "tax_cents",
    "total_cents",
    "employee_id",
    "wallet_debit_cents",
)
PAYMENT_COLUMNS = ("org_id", "id", "invoice_id", "method", "amount_cents", "paid_at", "local_date")
REFUND_COLUMNS = (
    "org_id",
    "id",
    "invoice_id",
    "amount_cents",
    "refunded_at",
    "local_date",
    "destination",
)

# Positions the writer reads: every row's id (a service link's appointment id) is at 1; each
# table's local date and the row hash where they are.
ID = 1
APPOINTMENT_LOCAL_DATE = APPOINTMENT_COLUMNS.index("local_date")
INVOICE_LOCAL_DATE = INVOICE_COLUMNS.index("local_date")
PAYMENT_LOCAL_DATE = PAYMENT_COLUMNS.index("local_date")
REFUND_LOCAL_DATE = REFUND_COLUMNS.index("local_date")
ROW_HASH = -1

Row = tuple[Any, ...]
_MINUTE = timedelta(minutes=1)


def as_dict(columns: tuple[str, ...], row: Row) -> dict[str, Any]:
    """A mapped row as a dict of column to value (for tests and tools; the sync keeps tuples)."""
    return dict(zip(columns, row, strict=True))


class MappedAppointment:
    """An appointment row and its service links, as tuples in column order.

    Tuples of plain values, not lists: the garbage collector stops tracking such a tuple at its
    first pass, so the rows a sync holds between writes cost it nothing after that.
    """

    __slots__ = ("row", "services")

    def __init__(self, row: Row, services: tuple[Row, ...]) -> None:
        self.row = row
        self.services = services

    def __repr__(self) -> str:
        return f"MappedAppointment({self.row!r}, {self.services!r})"


class MappedInvoice:
    """An invoice row with its items, payments and refunds, as tuples in column order (tuples,
    like ``MappedAppointment``'s)."""

    __slots__ = ("items", "payments", "refunds", "row")

    def __init__(
        self,
        row: Row,
        items: tuple[Row, ...],
        payments: tuple[Row, ...],
        refunds: tuple[Row, ...],
    ) -> None:
        self.row = row
        self.items = items
        self.payments = payments
        self.refunds = refunds

    def __repr__(self) -> str:
        return f"MappedInvoice({self.row!r}, {self.items!r}, {self.payments!r}, {self.refunds!r})"


def _missing(stream: str, record: dict[str, Any], name: str) -> RecordInvalid:
    return RecordInvalid(stream, record.get("id", "?"), name)


def map_appointment(
    org_id: int, r: dict[str, Any], zones: dict[int, ZoneInfo]
) -> MappedAppointment:
    """An appointment row; the patient object and notes are not read."""
    s = "appointments"
    get = r.get
    rid = _rid(s, r)
    clinic_id = _rid(s, r, "clinic_id")
    tz = zones.get(clinic_id)
    if tz is None:
        raise RecordInvalid(s, rid, "clinic_id (unknown clinic)")
    start_local = get("start")
    if start_local is None or start_local == "":
        raise _missing(s, r, "start")
    end_local = get("end")
    if end_local is None or end_local == "":
        raise _missing(s, r, "end")
    status = _status(s, rid, get("status"), APPOINTMENT_STATUSES)
    start_local, end_local = str(start_local), str(end_local)
    utc = clock(tz).utc
    start_at = utc(start_local)
    end_at = utc(end_local)
    assert start_at is not None and end_at is not None
    canceled_at = utc(get("canceled_at"))
    provider_id = get("provider_id")
    booked_via = get("booked_via")
    services = tuple(
        [
            (
                org_id,
                rid,
                i,
                _ref(sv.get("id")),
                _opt_int(sv.get("duration_minutes")),
            )
            for i, sv in enumerate(get("services") or ())
        ]
    )
    row = (
        org_id,
        rid,
        clinic_id,
        _ref(provider_id),
        _one_of(get("kind"), APPOINTMENT_KINDS, "in_person"),
        status,
        start_at,
        end_at,
        _DATES[start_local[:10]],
        int((end_at - start_at) / _MINUTE),
        utc(get("booked_at")),
        canceled_at,
        None if canceled_at is None else int((start_at - canceled_at) / _MINUTE),
        _one_of(booked_via, BOOKED_VIA, None),
        bool(get("is_new_patient", False)),
        utc(get("updated_at")),
    )
    return MappedAppointment((*row, content_hash(row, services)), services)


CUSTOM_ITEM = "custom item"
"""The name an invoice item keeps when its name is not one of the catalogue's: AR lets staff type
a line item's name, and that text can be a patient's name or email."""


def map_invoice(
    org_id: int,
    r: dict[str, Any],
    zones: dict[int, ZoneInfo],
    item_names: Container[str] = frozenset(),
) -> MappedInvoice:
    """An invoice row with its children; the patient object and notes are not read.

    An item's name is kept only when it is a catalogue name (``item_names``: the practice's
    service and product names), else it is ``CUSTOM_ITEM``.
    """
    s = "invoices"
    get = r.get
    rid = _rid(s, r)
    clinic_id = _rid(s, r, "clinic_id")
    tz = zones.get(clinic_id)
    if tz is None:
        raise RecordInvalid(s, rid, "clinic_id (unknown clinic)")
    status = _status(s, rid, get("status"), INVOICE_STATUSES)
    created_local = get("created_at")
    if created_local is None or created_local == "":
        raise _missing(s, r, "created_at")
    subtotal = get("subtotal")
    if subtotal is None or subtotal == "":
        raise _missing(s, r, "subtotal")
    total = get("total")
    if total is None or total == "":
        raise _missing(s, r, "total")
    created_local = str(created_local)
    day = _DATES[created_local[:10]]
    number = get("invoice_number")
    appointment_id = get("appointment_id")
    employee_id = get("employee_id")
    money = _CENTS
    utc = clock(tz).utc
    row = (
        org_id,
        rid,
        None if number is None else str(number),
        clinic_id,
        status,
        _one_of(get("invoice_type"), INVOICE_TYPES, "procedure"),
        _ref(appointment_id),
        _ref(employee_id),
        utc(created_local),
        day,
        utc(get("paid_at")),
        utc(get("voided_at")),
        money[subtotal],
        money[get("discount")],
        money[get("tax")],
        money[get("tip")],
        money[get("processing_fee")],
        money[total],
        utc(get("updated_at")),
    )
    items = []
    for it in get("items") or ():
        iget = it.get
        item_id = _rid(s, it)
        item_type = iget("item_type")
        if item_type is None or item_type == "":
            raise _missing(s, it, "item_type")
        qty = _MILLI[iget("quantity")]
        unit = money[iget("unit_price")]
        name = iget("name")
        service_id, product_id = iget("service_id"), iget("product_id")
        category_id, item_employee = iget("category_id"), iget("employee_id")
        items.append(
            (
                org_id,
                item_id,
                rid,
                _one_of(item_type, ITEM_TYPES),
                _ref(service_id),
                _ref(product_id),
                None if name is None else _TEXT[name] if name in item_names else CUSTOM_ITEM,
                _ref(category_id),
                qty,
                unit,
                # Item value is unit price times quantity, before discounts (AR's "subtotal").
                (unit * qty + 500) // 1000,
                money[iget("discount")],
                money[iget("tax")],
                money[iget("total")],
                _ref(item_employee),
                money[iget("wallet_debit")],
            )
        )
    payments = []
    for p in get("payments") or ():
        pay_id = _rid(s, p)
        paid = p.get("paid_at")
        payments.append(
            (
                org_id,
                pay_id,
                rid,
                _one_of(p.get("method"), PAYMENT_METHODS),
                money[p.get("amount")],
                utc(paid),
                _DATES[paid[:10]] if paid else day,
            )
        )
    refunds: list[Row] = []
    raw_refunds = get("refunds")
    if raw_refunds:
        for f in raw_refunds:
            refund_id = _rid(s, f)
            when = f.get("refunded_at")
            destination = f.get("destination")
            refunds.append(
                (
                    org_id,
                    refund_id,
                    rid,
                    money[f.get("amount")],
                    utc(when),
                    _DATES[when[:10]] if when else day,
                    _one_of(destination, REFUND_DESTINATIONS, None),
                )
            )
    h = content_hash(row, items, payments, refunds)
    return MappedInvoice((*row, h), tuple(items), tuple(payments), tuple(refunds))
