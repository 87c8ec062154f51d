"""What a leak scan looks for: every piece of patient data the sandbox handed out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiq.sandbox.people import PHI_MARKERS

if TYPE_CHECKING:
    from aiq.sandbox.core import Sandbox

__all__ = ["PHI_MARKERS", "phi_values"]

_PATIENT_FIELDS = ("firstname", "lastname", "email", "phone", "date_of_birth", "address")


def phi_values(sb: Sandbox, account_id: int | None = None) -> set[str]:
    """Every distinct patient string the sandbox serves for an account: names (first, last and
    "first last"), emails, phones, dates of birth, addresses, patient ids (as text) and notes.

    Scan a database file, an export or a log for these to prove that none of it was kept. Dates
    of birth and ids are short and can match unrelated text by chance; scan for them in
    structured places (a column's values), and for the rest anywhere.
    """
    truth = sb.truth(account_id)
    values: set[str] = set()
    for record in (*truth["appointments"], *truth["invoices"]):
        patient = record.get("patient")
        if patient:
            for name in _PATIENT_FIELDS:
                values.add(str(patient[name]))
            values.add(f"{patient['firstname']} {patient['lastname']}")
            values.add(str(patient["id"]))
        if record.get("notes"):
            values.add(record["notes"])
    return values
