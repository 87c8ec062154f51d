"""Leak scans: find any of the sandbox's fake patient data in some bytes, in one pass."""

from __future__ import annotations

import re

from aiq.sandbox import PHI_MARKERS, Sandbox, phi_values

# Shapes of the sandbox's patient strings; every match is looked up among the values it served.
_SHAPES = re.compile(
    rb"[\w.+-]+@[\w.-]+"  # emails
    rb"|\+1-555-\d{4}-\d{4}"  # phones
    rb"|\d+ [A-Z][A-Za-z. ]+, [A-Z][A-Za-z .]+, [A-Z]{2} \d{5}"  # addresses
    rb"|[A-Z][a-z'-]+ [A-Z][a-z'-]+"  # "First Last"
)


def find_phi(data: bytes, sb: Sandbox, account_id: int | None = None) -> list[str]:
    """Every patient string (or marker) of the sandbox found in ``data``; empty when clean."""
    found = [m for m in PHI_MARKERS if m.encode() in data]
    # Ids and birth dates are short and collide with business numbers and dates by chance;
    # names, emails, phones and addresses are long enough to mean a leak.
    values = {
        v for v in phi_values(sb, account_id) if len(v) >= 8 and not v.replace("-", "").isdigit()
    }
    for m in _SHAPES.finditer(data):
        token = m.group().decode(errors="replace")
        if token in values:
            found.append(token)
    return found
