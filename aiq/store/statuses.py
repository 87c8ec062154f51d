"""The status vocabularies the rollups and the reports agree on (docs/reports.md).

A module of its own, with no import, so the report read path can use them without loading the
rollup builder and SQLAlchemy.
"""

from __future__ import annotations

# Invoices that count in sales: paid, partially paid, refunded, partially refunded.
COUNTED_STATUSES = ("paid", "partially_paid", "refunded", "partially_refunded")
# Appointments still to happen.
PENDING_STATUSES = ("booked", "confirmed", "checked_in")
# A cancellation less than this many minutes before the start is a late one.
LATE_CANCEL_MINUTES = 24 * 60
# A sync run found `running` while nobody holds its practice's sync lock: its process is gone.
RUN_INTERRUPTED = "interrupted"
RUN_INTERRUPTED_ERROR = (
    "the process running this sync ended without finishing it (killed, or the database was "
    "restored from a backup taken mid-sync); its finished windows are kept"
)
