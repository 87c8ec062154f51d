"""What a report is about: the practice, and optionally one clinic and one provider.

``load_scope`` turns the names a person types (``--clinic austin``, ``--provider "Mia R."``)
into ids, suggesting the close names when one is unknown, and says "run aiq sync first" when the
database holds nothing to report on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from aiq.errors import DataMissing, UsageError
from aiq.names import unknown_name_hint
from aiq.store.reader import as_list

if TYPE_CHECKING:
    from aiq.store.reader import Reader

_SYNC_FIRST = "run aiq sync first (or aiq demo to try the sandbox)"


@dataclass(frozen=True)
class StaffInfo:
    """A staff member as reports name them."""

    id: int
    name: str
    role: str
    is_provider: bool
    is_active: bool
    clinic_ids: tuple[int, ...]
    commission_bp: int | None
    goal_procedures: int | None
    goal_sales_cents: int | None


@dataclass(frozen=True)
class Scope:
    """The practice a report covers, with the clinic and provider filters in force."""

    org_id: int
    org_name: str
    currency: str
    clinics: dict[int, str] = field(default_factory=dict)
    staff: dict[int, StaffInfo] = field(default_factory=dict)
    clinic_id: int | None = None
    provider_id: int | None = None

    @property
    def clinic_name(self) -> str | None:
        return None if self.clinic_id is None else self.clinics.get(self.clinic_id)

    @property
    def provider_name(self) -> str | None:
        if self.provider_id is None:
            return None
        info = self.staff.get(self.provider_id)
        return info.name if info else str(self.provider_id)

    def staff_name(self, staff_id: int | None) -> str:
        """A staff member's display name; 0 or None is "(none)"."""
        if not staff_id:
            return "(none)"
        info = self.staff.get(staff_id)
        return info.name if info else f"staff {staff_id}"

    def clinic(self, clinic_id: int) -> str:
        return self.clinics.get(clinic_id, f"clinic {clinic_id}")

    def describe(self) -> str:
        """``Glow Med Spa``, ``Glow Med Spa, Austin``, ``Glow Med Spa, Austin, Mia R.``."""
        parts = [self.org_name]
        if self.clinic_name:
            parts.append(self.clinic_name)
        if self.provider_name:
            parts.append(self.provider_name)
        return ", ".join(parts)

    def params(self, start: date, end: date) -> dict[str, Any]:
        """The SQL parameters a report query of ``[start, end]`` in this scope binds."""
        return {
            "org": self.org_id,
            "start": start,
            "end": end,
            "clinic": self.clinic_id,
            "provider": self.provider_id,
        }

    def filters(self) -> dict[str, str | None]:
        return {"clinic": self.clinic_name, "provider": self.provider_name}


def match_name(kind: str, text: str, names: dict[int, str]) -> int:
    """The id of the one ``kind`` called ``text``: exactly, by id, or by a unique prefix.

    Unknown or ambiguous names are usage errors that list the close names.
    """
    wanted = text.strip().casefold()
    exact = [i for i, n in names.items() if n.casefold() == wanted]
    if len(exact) == 1:
        return exact[0]
    if wanted.isdigit() and int(wanted) in names:
        return int(wanted)
    partial = [i for i, n in names.items() if n.casefold().startswith(wanted)] or [
        i for i, n in names.items() if wanted in n.casefold()
    ]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        choices = ", ".join(sorted(names[i] for i in partial))
        raise UsageError(f"{text!r} matches several {kind}s: {choices}", hint="be more precise")
    hint = unknown_name_hint(text, names.values())
    raise UsageError(f"there is no {kind} called {text!r}", hint=hint)


def _org_row(db: Reader, org_name: str | None) -> tuple[int, str, str]:
    rows = db.rows("select id, name, currency from org where deleted_at is null order by name")
    if not rows:
        raise DataMissing("the database holds no practice yet", hint=_SYNC_FIRST)
    if org_name is not None:
        names = {int(r[0]): str(r[1]) for r in rows}
        org_id = match_name("practice", org_name, names)
        row = next(r for r in rows if int(r[0]) == org_id)
    elif len(rows) > 1:
        raise UsageError(
            f"the database holds {len(rows)} practices: {', '.join(str(r[1]) for r in rows)}",
            hint="choose one with --org NAME",
        )
    else:
        row = rows[0]
    return int(row[0]), str(row[1]), str(row[2] or "")


def load_scope(
    db: Reader,
    org_name: str | None = None,
    clinic: str | None = None,
    provider: str | None = None,
    *,
    currency: str | None = None,
) -> Scope:
    """The scope of a report, resolved inside ``db``."""
    org_id, name, org_currency = _org_row(db, org_name)
    clinics = {
        int(cid): str(cname)
        for cid, cname in db.rows(
            "select id, name from clinic where org_id = :org order by id", org=org_id
        )
    }
    if not clinics:
        raise DataMissing(f"nothing has been synced for {name} yet", hint=_SYNC_FIRST)
    staff = {
        int(r["id"]): StaffInfo(
            id=int(r["id"]),
            name=str(r["display_name"]),
            role=str(r["role"]),
            is_provider=bool(r["is_provider"]),
            is_active=bool(r["is_active"]),
            clinic_ids=tuple(int(x) for x in as_list(r["clinic_ids"])),
            commission_bp=r["commission_bp"],
            goal_procedures=r["goal_procedures_per_month"],
            goal_sales_cents=r["goal_sales_per_month_cents"],
        )
        for r in db.dicts(
            "select id, display_name, role, is_provider, is_active, clinic_ids, commission_bp,"
            " goal_procedures_per_month, goal_sales_per_month_cents"
            " from staff where org_id = :org order by id",
            org=org_id,
        )
    }
    clinic_id = match_name("clinic", clinic, clinics) if clinic is not None else None
    provider_id = None
    if provider is not None:
        providers = {i: st.name for i, st in staff.items() if st.is_provider}
        provider_id = match_name("provider", provider, providers)
    return Scope(
        org_id=org_id,
        org_name=name,
        currency=(currency or org_currency or "USD").upper(),
        clinics=clinics,
        staff=staff,
        clinic_id=clinic_id,
        provider_id=provider_id,
    )
