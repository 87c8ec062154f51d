"""What aiq stores, column by column, why none of it identifies a patient, and a scan that checks.

Every column of every table has a reason here (a test fails for a column without one), so adding
a column means saying why it is not patient data. ``scan`` reads every text column (JSON included)
of the database and looks for what would be a patient identifier if it were there: email
addresses, phone numbers, US social security numbers, and the sandbox's fake patients (their
names and the markers of their emails, phones and notes). Findings name the table, the column and
the kind of identifier, and a row's key, never the value: the report must not spread what it finds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, String, Table, select
from sqlmodel.sql.sqltypes import AutoString

from aiq.sandbox.people import PATIENT_FIRST, PATIENT_LAST, PHI_MARKERS
from aiq.store.db import Store

# The reason of a column: its (table, column) entry, else its column name's, else its suffix's.
_BY_TABLE: dict[tuple[str, str], str] = {
    ("org", "name"): "the practice's name, as the person who added it typed it",
    ("org", "ar_account_id"): "the practice's account number in AR (a business)",
    ("org", "ar_base_url"): "the address of the practice's AR",
    ("org", "currency"): "the practice's currency",
    ("org", "status"): "whether the practice is active or deleted",
    ("org_member", "db_role"): "the database role of a member of the practice's team (staff)",
    ("org_member", "role"): "that member's aiq role (OWNER, ADMIN, MEMBER)",
    ("org_member", "added_by"): "the database role that added the member (staff)",
    ("audit_log", "at"): "when an administrative command ran (the database's clock)",
    ("audit_log", "prev_hash"): "the previous entry's hash: the chain that shows tampering",
    ("audit_log", "actor"): "who ran an administrative command: an operator, never a patient",
    ("audit_log", "action"): "the command that was run",
    ("audit_log", "target"): "what the command acted on (a practice, a file name)",
    ("audit_log", "details"): "the command's options (never a credential or a record)",
    ("ar_login", "ar_user_id"): "the AR user aiq signs in as (the practice's own staff account)",
    ("ar_login", "ar_user_role"): "that AR user's role",
    ("credential", "name"): "which credential (the AR sign-in)",
    ("credential", "key_id"): "which master key sealed it",
    ("credential", "nonce"): "AES-GCM nonce of the sealed sign-in",
    ("credential", "ciphertext"): "the practice's AR sign-in, sealed with AES-256-GCM",
    ("vault_key", "key_id"): "a master key's id (the key itself is in the OS keyring or a file)",
    ("vault_key", "source"): "where that key lives",
    ("clinic", "name"): "a clinic's business name",
    ("clinic", "timezone"): "the clinic's time zone",
    ("clinic", "city"): "the clinic's business address: city",
    ("clinic", "state"): "the clinic's business address: state",
    ("clinic", "zip"): "the clinic's business address: ZIP code",
    ("staff", "display_name"): "a staff member's working name (providers are named in reports)",
    ("staff", "role"): "the staff member's role in AR",
    ("staff", "clinic_ids"): "the clinics the staff member works at",
    ("staff", "commission_bp"): "the staff member's commission rate",
    ("service", "name"): "a service of the menu (catalogue)",
    ("product", "name"): "a retail product (catalogue)",
    ("product", "inventory_type"): "how the product is stocked",
    ("category", "name"): "a product or service category (catalogue)",
    ("invoice", "invoice_number"): "the invoice's number (a business document, not a person)",
    ("invoice", "invoice_type"): "what the invoice is for",
    ("invoice_item", "name"): "a catalogue name (service or product), else 'custom item': a "
    "typed name is never kept",
    ("invoice_item", "item_type"): "service, retail, membership, package, gift card...",
    ("appointment", "kind"): "in person or virtual",
    ("appointment", "booked_via"): "how it was booked (online, front desk)",
    ("appointment", "is_new_patient"): "AR's flag for a first visit: a yes or no, not who",
    ("appointment", "cancel_lead_minutes"): "how long before the start it was cancelled",
    ("payment", "method"): "how it was paid (card, cash, wallet...), no card or account number",
    ("refund", "destination"): "where the refund went (card, wallet...)",
    ("rollup_sales_daily", "line"): "the kind of sales line summed (services, retail...)",
    ("alert", "fingerprint"): "what makes an alert the same alert again (kind, clinic, day)",
    ("alert", "kind"): "the kind of alert",
    ("alert", "severity"): "how urgent the alert is",
    ("alert", "title"): "the alert's one line, built from business figures",
    ("alert", "details"): "the business figures behind the alert",
    ("alert", "day"): "the business day the alert is about",
    ("alert", "since"): "since when the alert's condition holds",
    ("alert_delivery", "channel"): "where an alert was sent (email, webhook)",
    ("alert_delivery", "event"): "opened or resolved",
    ("alert_delivery", "error"): "why a delivery failed (the mail or web server's answer)",
    ("alert_mute", "kind"): "the kind of alert muted",
    ("alert_mute", "until"): "until when",
    ("sync_run", "mode"): "incremental, deep or full",
    ("sync_stream_state", "known_fields"): "names of AR's fields seen (names, not values)",
    ("sync_stream_state", "backfill_from"): "where the synced history starts",
    ("sync_window", "window_start"): "a date window the sync read",
    ("sync_window", "window_end"): "its last date",
    ("sync_window", "rows"): "how many records the window held",
    ("patient_pass", "as_of"): "the business date the patient pass counted to",
    ("patient_pass", "history_from"): "the first date of the history the pass read",
    ("patient_pass", "appointments_until"): "the last appointment date the pass read",
    ("patient_pass", "appointments"): "how many appointment records the pass read (not patients)",
    ("patient_pass", "invoices"): "how many invoice records the pass read (not patients)",
    ("patient_pass", "min_cell"): "the small-cell threshold the pass applied",
    ("patient_figure", "month"): "the month a figure is of (a cohort's first month)",
    ("patient_figure", "figure"): "which figure (rebooking, a return rate, a cohort, members...)",
    ("patient_figure", "scope"): "whether the figure is of the practice, a clinic or a provider",
    ("patient_figure", "scope_id"): "that clinic's or provider's id (0: the whole practice)",
    ("patient_figure", "months_after"): "a cohort's month after its first (0 elsewhere)",
    ("patient_figure", "count"): "the figure's numerator: a count over at least [privacy] "
    "min_cell patients, else null",
    ("patient_figure", "base"): "its denominator, a count of the same kind (null when suppressed)",
    ("patient_figure", "patients"): "how many distinct patients the figure is over: a count, "
    "never who (null when suppressed)",
    ("patient_figure", "suppressed"): "whether the figure was over too few patients to keep",
    ("patient_figure", "pending"): "whether the figure's period has not ended yet",
}
_BY_NAME: dict[str, str] = {
    "org_id": "which practice the row belongs to",
    "id": "the record's id in AR or in aiq (a business record, not a person)",
    "row_hash": "a hash of the row's own business columns, to skip unchanged rows",
    "clinic_id": "a clinic (business location)",
    "provider_id": "the staff member who provided it",
    "employee_id": "the staff member credited",
    "service_id": "a service of the catalogue",
    "product_id": "a product of the catalogue",
    "category_id": "a category of the catalogue",
    "invoice_id": "the invoice it belongs to",
    "appointment_id": "the appointment (an AR record id, not a patient's)",
    "alert_id": "the alert",
    "run_id": "the sync run",
    "stream": "which kind of AR record (appointments, invoices...)",
    "status": "a record's state (completed, paid, ok...)",
    "error": "what went wrong: names a stream, a record id and a field, never a value",
    "position": "order of a service within its appointment",
    "local_date": "the clinic-local business date",
    "is_active": "whether it is in use",
    "is_provider": "whether the staff member provides services",
    "quantity_milli": "units sold, in thousandths",
    "duration_minutes": "length in minutes",
    "completed_minutes": "minutes of completed appointments",
    "timezone": "a time zone",
    "attempts": "delivery attempts",
}
_BY_SUFFIX: dict[str, str] = {
    "_cents": "an amount of money, in cents",
    "_at": "when it happened (UTC)",
    "_per_month": "a staff goal",
}
_COUNTS = {
    "booked", "completed", "canceled", "no_show", "pending", "late_canceled",
    "new_patient_completed", "online_booked", "invoices", "windows", "requests",
    "rows_inserted", "rows_changed", "rows_removed", "rows_skipped", "consecutive_failures",
}  # fmt: skip
_COUNT_REASON = "a count (of appointments, invoices, requests or rows): an aggregate"


def reason(table: str, column: str) -> str | None:
    """Why ``table.column`` holds no patient data (None: nobody has said, which is a bug)."""
    if (table, column) in _BY_TABLE:
        return _BY_TABLE[(table, column)]
    if column in _BY_NAME:
        return _BY_NAME[column]
    if column in _COUNTS:
        return _COUNT_REASON
    return next((why for suffix, why in _BY_SUFFIX.items() if column.endswith(suffix)), None)


def tables() -> list[Table]:
    """Every table aiq creates, in dependency order."""
    from sqlmodel import SQLModel

    import aiq.store.models  # noqa: F401  (the models register their tables)

    return list(SQLModel.metadata.sorted_tables)


@dataclass(frozen=True)
class Column:
    """A stored column and why it is not patient data."""

    table: str
    column: str
    type: str
    reason: str | None


def columns() -> list[Column]:
    """Every stored column with its reason."""
    return [
        Column(t.name, c.name, str(c.type).lower(), reason(t.name, c.name))
        for t in tables()
        for c in t.columns
    ]


# What would identify a patient, were it stored. Each pattern is tried on every text value.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w.])(?:\+?1[-. ]?)?\(?\d{3}\)?[-. ]\d{3}[-. ]\d{4}(?![\w.])")
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
_NAME = re.compile(
    r"\b(?:" + "|".join(PATIENT_FIRST) + r")\s+(?:" + "|".join(PATIENT_LAST) + r")\b"
)
KINDS = ("email", "phone", "ssn", "patient name", "patient marker")
# Columns that hold the practice's operators or AR's own addresses, where an email is expected.
_OPERATOR_COLUMNS = {
    ("audit_log", "actor"),
    ("org_member", "db_role"),
    ("org_member", "added_by"),
    ("org", "ar_base_url"),
    ("alert_delivery", "error"),
}


def identifiers(text: str, *, operator: bool = False) -> list[str]:
    """The kinds of patient identifier ``text`` holds (``operator``: emails are expected there)."""
    found = []
    if not operator and _EMAIL.search(text):
        found.append("email")
    if _PHONE.search(text):
        found.append("phone")
    if _SSN.search(text):
        found.append("ssn")
    if _NAME.search(text):
        found.append("patient name")
    if any(m in text for m in PHI_MARKERS):
        found.append("patient marker")
    return found


@dataclass
class Finding:
    """Values of one column that look like a patient identifier of one kind."""

    table: str
    column: str
    kind: str
    rows: int = 0
    example_key: dict[str, Any] = field(default_factory=dict)
    """The key of one such row (its primary key columns), to find it; never the value."""


@dataclass
class Audit:
    """The stored columns and what the scan found."""

    columns: list[Column]
    findings: list[Finding]
    scanned_values: int

    @property
    def clean(self) -> bool:
        return not self.findings and all(c.reason for c in self.columns)


def _text_columns(t: Table) -> list[str]:
    """The columns that can hold text: strings of any kind, and JSON."""
    out = []
    for c in t.columns:
        if isinstance(c.type, String | JSON | AutoString):  # AutoString: SQLModel's str
            out.append(c.name)
    return out


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _values(store: Store, t: Table, names: list[str]) -> Iterator[tuple[dict[str, Any], str, str]]:
    keys = [c for c in t.primary_key.columns]
    with store.connect() as conn:
        result = conn.execution_options(yield_per=5000).execute(
            select(*keys, *(t.c[n] for n in names))
        )
        for row in result:
            key = {k.name: row[i] for i, k in enumerate(keys)}
            for j, name in enumerate(names):
                value = row[len(keys) + j]
                if value is not None:
                    yield key, name, _as_text(value)


def scan(store: Store) -> Audit:
    """Read every text column of every table (as the caller's role sees them) and report what
    looks like a patient identifier."""
    findings: dict[tuple[str, str, str], Finding] = {}
    scanned = 0
    for t in tables():
        names = [n for n in _text_columns(t) if (t.name, n) != ("credential", "ciphertext")]
        if not names:
            continue
        for key, name, text in _values(store, t, names):
            scanned += 1
            for kind in identifiers(text, operator=(t.name, name) in _OPERATOR_COLUMNS):
                f = findings.setdefault(
                    (t.name, name, kind), Finding(t.name, name, kind, example_key=key)
                )
                f.rows += 1
    return Audit(columns(), list(findings.values()), scanned)
