"""The mapping's row tuples line up with the tables the writer puts them in."""

from __future__ import annotations

import pytest

from aiq.ar import mapping
from aiq.store.models import (
    Appointment,
    AppointmentService,
    Invoice,
    InvoiceItem,
    Payment,
    Refund,
    table_of,
)


@pytest.mark.parametrize(
    ("columns", "model"),
    [
        (mapping.APPOINTMENT_COLUMNS, Appointment),
        (mapping.APPOINTMENT_SERVICE_COLUMNS, AppointmentService),
        (mapping.INVOICE_COLUMNS, Invoice),
        (mapping.INVOICE_ITEM_COLUMNS, InvoiceItem),
        (mapping.PAYMENT_COLUMNS, Payment),
        (mapping.REFUND_COLUMNS, Refund),
    ],
)
def test_row_columns_are_the_tables_columns(columns: tuple[str, ...], model: type) -> None:
    assert columns == tuple(c.name for c in table_of(model).columns)
    assert columns[mapping.ID] in ("id", "appointment_id")
    if "row_hash" in columns:
        assert columns[mapping.ROW_HASH] == "row_hash"
