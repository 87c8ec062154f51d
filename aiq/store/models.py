"""The tables of the store.

Business facts mirror what ``ar-api.md`` lets aiq keep and nothing else: no patient object, no
notes, no staff email or phone. Every business row carries ``org_id`` and is keyed by
``(org_id, AR id)``. Money is integer cents; quantities are integer thousandths. Timestamps are
naive UTC (``*_at``); ``local_date`` is the clinic's calendar date that reports group by.

``row_hash`` is a 63-bit digest of a record's kept content (for an invoice, with its items,
payments and refunds) so that a sync rewrites only what changed.

Rollups (``rollup_*``) are derived from the facts by ``aiq.store.rollups`` for the dates a sync
touched; reports read them instead of scanning years of facts.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, String, Table
from sqlmodel import Field, SQLModel


def _big(primary_key: bool = False, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(BigInteger, primary_key=primary_key, nullable=nullable, index=index),
    )


def _ts(nullable: bool = False) -> Any:
    # Naive UTC on both dialects: ``timestamp without time zone`` on Postgres, so no session
    # time zone setting can shift a stored value.
    return Field(
        default=None if nullable else ...,
        sa_column=Column(DateTime(timezone=False), nullable=nullable),
    )


class Org(SQLModel, table=True):
    """A practice: one AR account. A shared Postgres holds many."""

    __tablename__ = "org"

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    name: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    ar_account_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    ar_base_url: str = Field(default="", sa_column=Column(String(500), nullable=False, default=""))
    currency: str = Field(default="USD", max_length=3)
    status: str = Field(default="active", max_length=20)
    created_at: datetime = _ts()
    deleted_at: datetime | None = _ts(nullable=True)


class Clinic(SQLModel, table=True):
    """A clinic (location) of the practice, with its IANA time zone."""

    __tablename__ = "clinic"

    org_id: int = Field(primary_key=True, foreign_key="org.id")
    id: int = _big(primary_key=True)
    name: str
    timezone: str = Field(max_length=64)
    city: str | None = None
    state: str | None = None
    zip: str | None = Field(default=None, max_length=20)
    is_active: bool = True
    row_hash: int = _big()


class Staff(SQLModel, table=True):
    """A staff member. Only the display name (first name + last initial) is kept."""

    __tablename__ = "staff"

    org_id: int = Field(primary_key=True, foreign_key="org.id")
    id: int = _big(primary_key=True)
    display_name: str
    role: str = Field(max_length=40)
    is_provider: bool = False
    clinic_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    commission_bp: int | None = None  # basis points: 4000 is 40.00 %
    goal_procedures_per_month: int | None = None
    goal_sales_per_month_cents: int | None = _big(nullable=True)
    is_active: bool = True
    row_hash: int = _big()


class Category(SQLModel, table=True):
    """A product or service category (AR keeps one list for both)."""

    __tablename__ = "category"

    org_id: int = Field(primary_key=True, foreign_key="org.id")
    id: int = _big(primary_key=True)
    name: str
    row_hash: int = _big()


class Service(SQLModel, table=True):
    """A service in the catalogue."""

    __tablename__ = "service"

    org_id: int = Field(primary_key=True, foreign_key="org.id")
    id: int = _big(primary_key=True)
    name: str
    category_id: int | None = _big(nullable=True)
    price_cents: int | None = _big(nullable=True)
    duration_minutes: int | None = None
    is_active: bool = True
    row_hash: int = _big()


class Product(SQLModel, table=True):
    """An inventory product: retail, used in a service, or a medical supply."""

    __tablename__ = "product"

    org_id: int = Field(primary_key=True, foreign_key="org.id")
    id: int = _big(primary_key=True)
    name: str
    inventory_type: str = Field(max_length=20)
    category_id: int | None = _big(nullable=True)
    price_cents: int | None = _big(nullable=True)
    cost_cents: int | None = _big(nullable=True)
    is_active: bool = True
    row_hash: int = _big()


class Appointment(SQLModel, table=True):
    """An appointment. ``local_date`` is the clinic-local date of its scheduled start."""

    __tablename__ = "appointment"
    __table_args__ = (
        Index("ix_appointment_org_date", "org_id", "local_date"),
        Index("ix_appointment_org_provider_date", "org_id", "provider_id", "local_date"),
    )

    org_id: int = Field(primary_key=True, foreign_key="org.id")
    id: int = _big(primary_key=True)
    clinic_id: int = _big()
    provider_id: int | None = _big(nullable=True)
    kind: str = Field(max_length=20)
    status: str = Field(max_length=20)
    start_at: datetime = _ts()
    end_at: datetime = _ts()
    local_date: date
    duration_minutes: int = 0
    booked_at: datetime | None = _ts(nullable=True)
    canceled_at: datetime | None = _ts(nullable=True)
    cancel_lead_minutes: int | None = None  # start minus cancellation; under 1440 is "late"
    booked_via: str | None = Field(default=None, max_length=20)
    is_new_patient: bool = False
    updated_at: datetime | None = _ts(nullable=True)
    row_hash: int = _big()


class AppointmentService(SQLModel, table=True):
    """A service booked in an appointment, in the order AR lists them."""

    __tablename__ = "appointment_service"

    org_id: int = Field(primary_key=True)
    appointment_id: int = _big(primary_key=True)
    position: int = Field(primary_key=True)
    service_id: int | None = _big(nullable=True)
    duration_minutes: int | None = None


class Invoice(SQLModel, table=True):
    """An invoice. ``local_date`` is the clinic-local date of ``created_at``."""

    __tablename__ = "invoice"
    __table_args__ = (
        Index("ix_invoice_org_date", "org_id", "local_date"),
        Index("ix_invoice_org_employee_date", "org_id", "employee_id", "local_date"),
    )

    org_id: int = Field(primary_key=True, foreign_key="org.id")
    id: int = _big(primary_key=True)
    invoice_number: str | None = Field(default=None, max_length=64)
    clinic_id: int = _big()
    status: str = Field(max_length=24)
    invoice_type: str = Field(max_length=24)
    appointment_id: int | None = _big(nullable=True)
    employee_id: int | None = _big(nullable=True)
    created_at: datetime = _ts()
    local_date: date
    paid_at: datetime | None = _ts(nullable=True)
    voided_at: datetime | None = _ts(nullable=True)
    subtotal_cents: int = _big()
    discount_cents: int = _big()
    tax_cents: int = _big()
    tip_cents: int = _big()
    processing_fee_cents: int = _big()
    total_cents: int = _big()
    updated_at: datetime | None = _ts(nullable=True)
    row_hash: int = _big()


class InvoiceItem(SQLModel, table=True):
    """A line of an invoice. ``value_cents`` is unit price times quantity, before discounts."""

    __tablename__ = "invoice_item"
    __table_args__ = (Index("ix_invoice_item_org_invoice", "org_id", "invoice_id"),)

    org_id: int = Field(primary_key=True)
    id: int = _big(primary_key=True)
    invoice_id: int = _big()
    item_type: str = Field(max_length=24)
    service_id: int | None = _big(nullable=True)
    product_id: int | None = _big(nullable=True)
    name: str | None = None
    category_id: int | None = _big(nullable=True)
    quantity_milli: int = _big()
    unit_price_cents: int = _big()
    value_cents: int = _big()
    discount_cents: int = _big()
    tax_cents: int = _big()
    total_cents: int = _big()
    employee_id: int | None = _big(nullable=True)
    wallet_debit_cents: int = _big()


class Payment(SQLModel, table=True):
    """A payment on an invoice; it counts on the clinic-local date of ``paid_at``."""

    __tablename__ = "payment"
    __table_args__ = (
        Index("ix_payment_org_invoice", "org_id", "invoice_id"),
        Index("ix_payment_org_date", "org_id", "local_date"),
    )

    org_id: int = Field(primary_key=True)
    id: int = _big(primary_key=True)
    invoice_id: int = _big()
    method: str = Field(max_length=24)
    amount_cents: int = _big()
    paid_at: datetime | None = _ts(nullable=True)
    local_date: date | None = None


class Refund(SQLModel, table=True):
    """A refund of an invoice; it counts on the clinic-local date of ``refunded_at``."""

    __tablename__ = "refund"
    __table_args__ = (
        Index("ix_refund_org_invoice", "org_id", "invoice_id"),
        Index("ix_refund_org_date", "org_id", "local_date"),
    )

    org_id: int = Field(primary_key=True)
    id: int = _big(primary_key=True)
    invoice_id: int = _big()
    amount_cents: int = _big()
    refunded_at: datetime | None = _ts(nullable=True)
    local_date: date | None = None
    destination: str | None = Field(default=None, max_length=24)


# --- sync state and the run log ---------------------------------------------------------------


class SyncWindow(SQLModel, table=True):
    """A date window of a windowed stream that was read completely, and when."""

    __tablename__ = "sync_window"

    org_id: int = Field(primary_key=True)
    stream: str = Field(primary_key=True, max_length=32)
    window_start: date = Field(primary_key=True)
    window_end: date
    rows: int = 0
    read_at: datetime = _ts()


class SyncStreamState(SQLModel, table=True):
    """What a stream has read so far: the backfill start, the forward edge, the last deep read."""

    __tablename__ = "sync_stream_state"

    org_id: int = Field(primary_key=True)
    stream: str = Field(primary_key=True, max_length=32)
    backfill_from: date | None = None
    last_success_at: datetime | None = _ts(nullable=True)
    last_deep_at: datetime | None = _ts(nullable=True)
    consecutive_failures: int = 0
    known_fields: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class SyncRun(SQLModel, table=True):
    """One run of `aiq sync` for one org."""

    __tablename__ = "sync_run"
    __table_args__ = (Index("ix_sync_run_org_started", "org_id", "started_at"),)

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    org_id: int
    started_at: datetime = _ts()
    ended_at: datetime | None = _ts(nullable=True)
    status: str = Field(default="running", max_length=16)  # running | ok | partial | failed
    mode: str = Field(default="incremental", max_length=16)  # full | incremental | deep
    windows: int = 0
    requests: int = 0
    rows_inserted: int = 0
    rows_changed: int = 0
    rows_removed: int = 0
    rows_skipped: int = 0
    error: str | None = None


class SyncRunStream(SQLModel, table=True):
    """One stream's part of a sync run."""

    __tablename__ = "sync_run_stream"

    run_id: int = Field(primary_key=True)
    stream: str = Field(primary_key=True, max_length=32)
    org_id: int
    started_at: datetime = _ts()
    ended_at: datetime | None = _ts(nullable=True)
    status: str = Field(default="running", max_length=16)
    windows: int = 0
    requests: int = 0
    rows_inserted: int = 0
    rows_changed: int = 0
    rows_removed: int = 0
    rows_skipped: int = 0
    error: str | None = None


# --- rollups ------------------------------------------------------------------------------------


class RollupSalesDaily(SQLModel, table=True):
    """Sales of counted invoices per clinic-local day, clinic, employee, category and line.

    ``line`` is an item type (``service``, ``retail``, ...) for item rows, ``invoice`` for the
    invoice-level figures (discount, tax, tip, processing fee: attributed to the invoice's
    employee), ``payment:<method>`` for payments (by the payment's date) and ``refund`` for refunds
    (by the refund's date). ``employee_id`` and ``category_id`` are 0 where they do not apply.
    """

    __tablename__ = "rollup_sales_daily"

    org_id: int = Field(primary_key=True)
    local_date: date = Field(primary_key=True)
    clinic_id: int = _big(primary_key=True)
    employee_id: int = _big(primary_key=True)
    category_id: int = _big(primary_key=True)
    line: str = Field(primary_key=True, max_length=32)
    quantity_milli: int = _big()
    value_cents: int = _big()
    discount_cents: int = _big()
    tax_cents: int = _big()
    tip_cents: int = _big()
    fee_cents: int = _big()
    wallet_debit_cents: int = _big()
    amount_cents: int = _big()
    invoices: int = 0


class RollupAppointmentsDaily(SQLModel, table=True):
    """Appointment counts per clinic-local day, clinic and provider (out-of-office left out)."""

    __tablename__ = "rollup_appointments_daily"

    org_id: int = Field(primary_key=True)
    local_date: date = Field(primary_key=True)
    clinic_id: int = _big(primary_key=True)
    provider_id: int = _big(primary_key=True)
    booked: int = 0
    completed: int = 0
    canceled: int = 0
    no_show: int = 0
    pending: int = 0
    late_canceled: int = 0
    new_patient_completed: int = 0
    online_booked: int = 0
    completed_minutes: int = 0


# --- patient figures ------------------------------------------------------------------------------


class PatientPass(SQLModel, table=True):
    """The last patient pass of a practice: when it ran and which history it read.

    The pass follows patients through AR's answers in memory (``aiq.sync.patients``); what it
    leaves here and in ``patient_figure`` are counts and sums, never a patient id.
    """

    __tablename__ = "patient_pass"

    org_id: int = Field(primary_key=True)
    computed_at: datetime = _ts()
    as_of: date  # the business date of the pass: "pending" is judged against it
    history_from: date  # the first date of the history read
    appointments_until: date  # the last appointment date read (today + future days)
    appointments: int = 0  # records read (not patients)
    invoices: int = 0
    min_cell: int = 11  # the small-cell threshold the pass applied


class PatientFigure(SQLModel, table=True):
    """One patient-derived figure of a month, for the practice or one clinic or provider.

    ``figure`` is one of ``aiq.sync.patients.FIGURES``; ``months_after`` is a retention cohort's
    month after its first (0 elsewhere). ``count`` / ``base`` is the figure's numerator and
    denominator (rebooked / completed appointments, returned / patients, active / cohort size,
    members), ``amount_cents`` a sum of money, ``patients`` how many distinct patients it is over.
    A suppressed figure (too few patients) keeps none of them: all are null.
    """

    __tablename__ = "patient_figure"

    org_id: int = Field(primary_key=True)
    month: date = Field(primary_key=True)  # the first day of the month (a cohort's month)
    figure: str = Field(primary_key=True, max_length=24)
    scope: str = Field(primary_key=True, max_length=12)  # practice | clinic | provider
    scope_id: int = _big(primary_key=True)  # the clinic's or provider's AR id; 0: the practice
    months_after: int = Field(default=0, primary_key=True)
    count: int | None = _big(nullable=True)
    base: int | None = _big(nullable=True)
    patients: int | None = Field(default=None)
    amount_cents: int | None = _big(nullable=True)
    suppressed: bool = False
    pending: bool = False


class AuditLog(SQLModel, table=True):
    """Administrative operations, append-only and hash-chained (see ``aiq.audit``)."""

    __tablename__ = "audit_log"

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    at: datetime = _ts()
    actor: str = Field(max_length=200)
    org_id: int | None = None
    action: str = Field(max_length=64)
    target: str | None = None
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    row_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


BUSINESS_TABLES: tuple[type[SQLModel], ...] = (
    Clinic,
    Staff,
    Category,
    Service,
    Product,
    Appointment,
    AppointmentService,
    Invoice,
    InvoiceItem,
    Payment,
    Refund,
)
"""Tables of synced business facts, in an order that respects foreign keys."""

ROLLUP_TABLES: tuple[type[SQLModel], ...] = (RollupSalesDaily, RollupAppointmentsDaily)
SYNC_TABLES: tuple[type[SQLModel], ...] = (SyncWindow, SyncStreamState, SyncRun, SyncRunStream)

metadata = SQLModel.metadata
from aiq.store import vault_models  # noqa: E402, F401


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model (SQLModel does not declare ``__table__`` for type checkers)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


from aiq.store import alert_models, team_models  # noqa: E402, F401
