"""Checking that the database holds no patient data."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiq.roles import Action, require_somewhere

if TYPE_CHECKING:
    from aiq.privacy import Audit
    from aiq.store.db import Store


def privacy_audit(store: Store) -> Audit:
    """Every stored column with why it is not patient data, and a scan of every text value (of the
    practices the caller may see) for patient identifiers. Recorded in the audit log."""
    from aiq.audit import record
    from aiq.privacy import scan

    require_somewhere(store, Action.READ_AUDIT)
    result = scan(store)
    record(
        store,
        "privacy audit",
        details={
            "values_scanned": result.scanned_values,
            "findings": len(result.findings),
            "unexplained_columns": sum(1 for c in result.columns if not c.reason),
        },
    )
    return result
