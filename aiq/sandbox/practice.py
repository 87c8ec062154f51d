"""One practice (one AR account): its data, its clock, and the queries the API answers.

Records enter through a time-ordered queue of events: a booking becomes visible at `booked_at`
(and gets the next appointment id, as in AR), an invoice at `created_at`, a reschedule moves an
appointment to its new date's window, a deletion removes it. Generating the practice pushes the
planned history and `HORIZON_DAYS` of future into the queue and releases everything up to "now";
advancing the clock plans one more day per day and releases what has come due.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import heapq
import pickle
import random
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from aiq.sandbox.catalog import Catalog, Clinic, build_catalog
from aiq.sandbox.config import AccountSpec
from aiq.sandbox.generator import HORIZON_DAYS, DemandModel
from aiq.sandbox.people import Patient, make_patient
from aiq.sandbox.records import (
    CANCELED,
    OUT_OF_OFFICE,
    Appointment,
    Invoice,
    Serializer,
    money,
)

_BOOK, _INVOICE, _RESCHEDULE, _DELETE = 0, 1, 2, 3
_DAY = dt.timedelta(days=1)
NOON = dt.time(12, 0)
_QUERY_CACHE = 32
_PAGE_CACHE_BYTES = 32 << 20  # the answers kept (a sync of the default practice reads ~70 MB)


def derive_seed(*parts: object) -> int:
    """A stable 32-bit seed from parts (crc32: Python's str hash changes between processes)."""
    return zlib.crc32(":".join(map(str, parts)).encode())


@dataclass
class _Generated:
    """A generated practice kept for reuse: the practice itself, shared read-only by every
    sandbox of its config until one changes its data; its state as generated, pickled when the
    first copy is made; and its truth at that state."""

    shared: Practice
    state: bytes | None = None
    truth: bytes | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def copy(self) -> Practice:
        """A private copy of the practice as generated."""
        with self.lock:
            if self.state is None:
                self.state = pickle.dumps(self.shared, protocol=pickle.HIGHEST_PROTOCOL)
        practice: Practice = pickle.loads(self.state)
        practice._generated = self
        return practice


_KEEP_GENERATED = 0
_GENERATED: OrderedDict[tuple[Any, ...], _Generated] = OrderedDict()
_GENERATED_LOCK = threading.Lock()


def keep_generated(practices: int = 8) -> None:
    """Keep the last `practices` generated practices in memory, so that another sandbox of the
    same config and account uses the same data instead of generating it again.

    For a process that builds many sandboxes alike (a test suite, a benchmark). The sandboxes
    share the practice read-only, its query cache and its truth (see `Practice.truth`) included;
    one whose data changes (the clock moved, an anomaly injected) works on a private copy from
    then on, made from the state as generated (a copy takes about two thirds of the time
    generating does). A practice costs some megabytes while kept. Off (0) by default.
    """
    global _KEEP_GENERATED
    with _GENERATED_LOCK:
        _KEEP_GENERATED = max(0, practices)
        while len(_GENERATED) > _KEEP_GENERATED:
            _GENERATED.popitem(last=False)


def new_practice(
    spec: AccountSpec, seed: int, n_clinics: int, years: int, today: dt.date
) -> Practice:
    """The practice of `spec`: generated, or, while practices are kept (see `keep_generated`),
    the kept one, shared: its `shared` is True, and its holder must `copy()` it before
    changing its data (`Sandbox` does)."""
    if not _KEEP_GENERATED:
        return Practice(spec, seed, n_clinics, years, today)
    key = (spec, seed, n_clinics, years, today)
    with _GENERATED_LOCK:
        kept = _GENERATED.get(key)
        if kept is not None:
            _GENERATED.move_to_end(key)
    if kept is None:
        practice = Practice(spec, seed, n_clinics, years, today)
        practice.shared = True
        kept = practice._generated = _Generated(practice)
        with _GENERATED_LOCK:
            _GENERATED[key] = kept
            while len(_GENERATED) > _KEEP_GENERATED:
                _GENERATED.popitem(last=False)
    return kept.shared


class Practice:
    """The dataset of one account, generated on construction."""

    def __init__(
        self, spec: AccountSpec, seed: int, n_clinics: int, years: int, today: dt.date
    ) -> None:
        self.spec = spec
        self.seed = derive_seed(seed, spec.account_id)
        self.today = today
        self.now = dt.datetime.combine(today, NOON)
        self.history_start = today - dt.timedelta(days=round(365.25 * years))
        rng = random.Random(self.seed)
        self.catalog: Catalog = build_catalog(
            rng, spec.name, spec.email, max(1, n_clinics), self.history_start, today
        )
        self._next_appt_id = rng.randrange(1, 9) * 1_000_000 + 1
        self._next_invoice_id = rng.randrange(1, 9) * 1_000_000 + 1
        self._patient_base = rng.randrange(1, 9) * 100_000
        self.patients: list[Patient] = []
        self.appointments: dict[int, Appointment] = {}
        self.invoices: dict[int, Invoice] = {}
        self.appts_by_day: dict[dt.date, list[Appointment]] = {}
        self.invoices_by_day: dict[dt.date, list[Invoice]] = {}
        self._queue: list[tuple[dt.datetime, int, int, Any]] = []
        self._seq = 0
        self._bulk = True  # while generating, events are sorted once rather than heaped
        self.version = 0
        self.shared = False  # shared by several sandboxes (new_practice): read-only
        self._cache: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()
        self._pages: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._page_bytes = 0
        self._truth: tuple[int, bytes] | None = None
        self._generated: _Generated | None = None
        self.model = DemandModel(self.catalog, self.history_start, today, self._new_patient)
        self.serializer = Serializer(
            self.patient, {s.id: (s.name, s.minutes) for s in self.catalog.services}
        )
        self._planned_until = self.history_start - _DAY
        # Generating makes hundreds of thousands of long-lived objects and no garbage cycles:
        # the collector would only walk the growing dataset again and again.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._plan_until(today + dt.timedelta(days=HORIZON_DAYS))
            self._queue.sort()  # a sorted list is a heap
            self._bulk = False
            self._release()
        finally:
            if collecting:
                gc.enable()

    # -- patients -------------------------------------------------------------------------

    def patient(self, patient_id: int) -> Patient:
        """A patient by id."""
        return self.patients[patient_id - self._patient_base - 1]

    def _new_patient(self, rng: random.Random, clinic: Clinic) -> int:
        pid = self._patient_base + len(self.patients) + 1
        self.patients.append(
            make_patient(rng, pid, self.today, clinic.city, clinic.state, clinic.zip)
        )
        return pid

    # -- the event queue --------------------------------------------------------------------

    def _push(self, when: dt.datetime, kind: int, obj: Any) -> None:
        self._seq += 1
        if self._bulk:
            self._queue.append((when, self._seq, kind, obj))
        else:
            heapq.heappush(self._queue, (when, self._seq, kind, obj))

    def _plan_until(self, last_day: dt.date) -> None:
        day = self._planned_until + _DAY
        while day <= last_day:
            for clinic in self.catalog.clinics:
                rng = random.Random(derive_seed(self.seed, clinic.id, day.toordinal()))
                plan = self.model.plan_day(rng, clinic, day)
                for a in plan.appointments:
                    self._push(a.booked_at, _BOOK, a)
                for when, inv in plan.invoices:
                    self._push(when, _INVOICE, inv)
            day += _DAY
        self._planned_until = last_day

    def _release(self) -> None:
        """Apply every queued event whose time has come."""
        queue, now = self._queue, self.now
        while queue and queue[0][0] <= now:
            _, _, kind, obj = heapq.heappop(queue)
            if kind == _BOOK:
                a: Appointment = obj
                if a.deleted:
                    continue
                a.id = self._next_appt_id
                self._next_appt_id += 1
                self.appointments[a.id] = a
                self.appts_by_day.setdefault(a.start.date(), []).append(a)
                if a.resched_at is not None:
                    self._push(a.resched_at, _RESCHEDULE, a)
                if a.delete_at is not None:
                    self._push(a.delete_at, _DELETE, a)
            elif kind == _INVOICE:
                inv: Invoice = obj
                if inv.dead:
                    continue
                inv.id = self._next_invoice_id
                self._next_invoice_id += 1
                self.invoices[inv.id] = inv
                self.invoices_by_day.setdefault(inv.created_at.date(), []).append(inv)
            elif kind == _RESCHEDULE:
                a = obj
                if a.deleted or a.new_start is None:
                    continue
                self.appts_by_day[a.start.date()].remove(a)
                a.start = a.new_start
                self.appts_by_day.setdefault(a.start.date(), []).append(a)
            else:
                a = obj
                if not a.deleted:
                    self._drop_appointment(a)

    def _drop_appointment(self, a: Appointment) -> None:
        a.deleted = True
        if a.id:
            del self.appointments[a.id]
            self.appts_by_day[a.start.date()].remove(a)

    def copy(self) -> Practice:
        """A private copy of this practice, to change (of a shared one: as generated)."""
        if self._generated is not None and self.version == 0:
            return self._generated.copy()
        practice: Practice = pickle.loads(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))
        return practice

    def _changing(self) -> None:
        if self.shared:
            raise RuntimeError("a shared practice is read-only: change a copy() of it")

    def advance(self, days: int) -> None:
        """Move the clock `days` days forward, one day at a time (so 2 x 1 day == 2 days)."""
        self._changing()
        for _ in range(days):
            self.now += _DAY
            self._plan_until(self.now.date() + dt.timedelta(days=HORIZON_DAYS))
            self._release()
        self.version += 1
        self._cache.clear()
        self._pages.clear()
        self._page_bytes = 0

    # -- queries ----------------------------------------------------------------------------

    # The query cache of a shared practice is used by the threads of several sandboxes: each
    # step holds up alone, and one that races another (the same key dropped twice) is skipped.

    def _cached(self, key: tuple[Any, ...]) -> list[Any] | None:
        hit = self._cache.get(key)
        if hit is not None:
            with contextlib.suppress(KeyError):
                self._cache.move_to_end(key)
        return hit

    def _store(self, key: tuple[Any, ...], rows: list[Any]) -> list[Any]:
        self._cache[key] = rows
        if len(self._cache) > _QUERY_CACHE:
            with contextlib.suppress(KeyError):
                self._cache.popitem(last=False)
        return rows

    def page(self, key: tuple[Any, ...], make: Callable[[], bytes]) -> bytes:
        """The answer ``key`` names (a query and a page of it), made by ``make`` unless kept.

        An answer depends only on the data and the clock, which change together with the
        version: kept answers go when they do. Sandboxes that share a practice share its answers
        (a test suite asks for the same pages again and again)."""
        hit = self._pages.get(key)
        if hit is not None:
            return hit
        body = make()
        self._pages[key] = body
        self._page_bytes += len(body)
        while self._page_bytes > _PAGE_CACHE_BYTES and self._pages:
            with contextlib.suppress(KeyError):
                self._page_bytes -= len(self._pages.popitem(last=False)[1])
        return body

    @staticmethod
    def _days(index: dict[dt.date, list[Any]], start: dt.date, end: dt.date) -> list[Any]:
        rows: list[Any] = []
        if not index or end < start:
            return rows
        lo, hi = max(start, min(index)), min(end, max(index))
        day = lo
        while day <= hi:
            rows.extend(index.get(day, ()))
            day += _DAY
        return rows

    def find_appointments(
        self,
        start: dt.date,
        end: dt.date,
        clinic_id: int | None = None,
        provider_id: int | None = None,
    ) -> list[Appointment]:
        """Appointments whose scheduled start falls on a local date in [start, end], by id."""
        key = ("a", start, end, clinic_id, provider_id)
        rows = self._cached(key)
        if rows is None:
            rows = [
                a
                for a in self._days(self.appts_by_day, start, end)
                if (clinic_id is None or a.clinic_id == clinic_id)
                and (provider_id is None or a.provider_id == provider_id)
            ]
            rows.sort(key=_by_id)
            self._store(key, rows)
        return rows

    def find_invoices(
        self,
        start: dt.date,
        end: dt.date,
        clinic_ids: frozenset[int] = frozenset(),
        user_ids: frozenset[int] = frozenset(),
        statuses: frozenset[str] = frozenset(),
    ) -> list[Invoice]:
        """Invoices created on a local date in [start, end], by id, filtered as AR filters."""
        key = ("i", start, end, clinic_ids, user_ids, statuses)
        rows = self._cached(key)
        if rows is None:
            now = self.now
            rows = [
                i
                for i in self._days(self.invoices_by_day, start, end)
                if (not clinic_ids or i.clinic_id in clinic_ids)
                and (not user_ids or i.employee_id in user_ids)
                and (not statuses or i.state(now)[0] in statuses)
            ]
            rows.sort(key=_by_id)
            self._store(key, rows)
        return rows

    # -- wire views of reference data --------------------------------------------------------

    def clinics(self) -> list[dict[str, Any]]:
        """`GET /api/clinics` records."""
        return [
            {
                "id": c.id,
                "name": c.name,
                "timezone": c.timezone,
                "address": {"city": c.city, "state": c.state, "zip": c.zip},
                "is_active": True,
            }
            for c in self.catalog.clinics
        ]

    def users(self) -> list[dict[str, Any]]:
        """`GET /api/users` records: staff hired by now; those who left are inactive."""
        today = self.now.date()
        rows = []
        for s in sorted(self.catalog.staff, key=lambda s: s.id):
            if s.active_from > today:
                continue
            rows.append(
                {
                    "id": s.id,
                    "firstname": s.firstname,
                    "lastname": s.lastname,
                    "email": s.email,
                    "phone": s.phone,
                    "role": s.role,
                    "is_provider": s.is_provider,
                    "clinic_ids": s.clinic_ids,
                    "commission_rate": money(s.commission_rate),
                    "goals": None
                    if s.goals is None
                    else {"procedures_per_month": s.goals[0], "sales_per_month": money(s.goals[1])},
                    "is_active": s.active_until is None or s.active_until >= today,
                }
            )
        return rows

    def services(self) -> list[dict[str, Any]]:
        """`GET /api/services` records."""
        return [
            {
                "id": s.id,
                "name": s.name,
                "category_id": s.category_id,
                "price": money(s.price),
                "duration_minutes": s.minutes,
                "is_active": s.is_active,
            }
            for s in self.catalog.services
        ]

    def products(self) -> list[dict[str, Any]]:
        """`GET /api/products` records."""
        return [
            {
                "id": p.id,
                "name": p.name,
                "inventory_type": p.inventory_type,
                "category_id": p.category_id,
                "price": None if p.price is None else money(p.price),
                "cost_to_company": money(p.cost),
                "is_active": p.is_active,
            }
            for p in self.catalog.products
        ]

    def product_categories(self) -> list[dict[str, Any]]:
        """`GET /api/product-categories` records (service categories share the list)."""
        return [{"id": cid, "name": name} for cid, name in self.catalog.categories]

    def truth(self) -> dict[str, list[dict[str, Any]]]:
        """Every record the practice holds now, as the API serialises it, ordered by id.

        The records go through JSON, so they are exactly what a client decodes, and a caller
        may change them without touching the sandbox (the serialiser shares patient dicts).
        The JSON is kept until the data changes: tests ask for the truth again and again.
        """
        if self._truth is None or self._truth[0] != self.version:
            kept = self._generated if self.version == 0 else None
            data = kept.truth if kept is not None else None
            if data is None:
                data = orjson.dumps(self._truth_records())
                if kept is not None:
                    kept.truth = data
            self._truth = (self.version, data)
        copied: dict[str, list[dict[str, Any]]] = orjson.loads(self._truth[1])
        return copied

    def _truth_records(self) -> dict[str, list[dict[str, Any]]]:
        now, ser = self.now, self.serializer
        return {
            "clinics": self.clinics(),
            "users": self.users(),
            "services": self.services(),
            "products": self.products(),
            "product_categories": self.product_categories(),
            "appointments": [
                ser.appointment(self.appointments[k], now) for k in sorted(self.appointments)
            ],
            "invoices": [ser.invoice(self.invoices[k], now) for k in sorted(self.invoices)],
        }

    def __getstate__(self) -> dict[str, Any]:
        # A copy starts with no caches of its own and no tie to a kept practice.
        state = self.__dict__.copy()
        state.update(
            _cache=OrderedDict(),
            _pages=OrderedDict(),
            _page_bytes=0,
            _truth=None,
            _generated=None,
            shared=False,
        )
        return state

    # -- anomalies --------------------------------------------------------------------------

    def inject_cancellations(self, clinic_id: int, day: dt.date, share: float = 0.6) -> int:
        """Cancel `share` of a clinic's appointments on `day` (a bad day, for alert tests).

        Their checkout invoices and fees disappear as if they had never been rung up. Returns
        how many appointments were canceled.
        """
        self._changing()
        rng = random.Random(derive_seed(self.seed, "anomaly", clinic_id, day.toordinal()))
        targets = [
            a
            for a in self.appts_by_day.get(day, [])
            if a.clinic_id == clinic_id and a.kind != OUT_OF_OFFICE and a.outcome != CANCELED
        ]
        targets += [
            obj
            for _, _, kind, obj in self._queue
            if kind == _BOOK
            and obj.clinic_id == clinic_id
            and obj.start.date() == day
            and obj.kind != OUT_OF_OFFICE
            and obj.outcome != CANCELED
        ]
        chosen = {id(a) for a in targets if rng.random() < share}
        for a in targets:
            if id(a) not in chosen:
                continue
            a.outcome = CANCELED
            a.cancel_at = max(
                a.start - dt.timedelta(hours=rng.randrange(1, 20)),
                (a.resched_at or a.booked_at) + dt.timedelta(minutes=5),
            )
            a.resolve_at = None
        for inv in list(self.invoices.values()):
            if _follows(inv, chosen):
                self._drop_invoice(inv)
        for _, _, kind, obj in self._queue:
            if kind == _INVOICE and _follows(obj, chosen):
                obj.dead = True
        self.version += 1
        self._cache.clear()
        self._pages.clear()
        self._page_bytes = 0
        return len(chosen)

    def _drop_invoice(self, inv: Invoice) -> None:
        inv.dead = True
        if inv.id:
            del self.invoices[inv.id]
            self.invoices_by_day[inv.created_at.date()].remove(inv)


def _by_id(record: Appointment | Invoice) -> int:
    return record.id


def _follows(inv: Invoice, appointments: set[int]) -> bool:
    """Whether an invoice was rung up because one of these appointments happened (not a deposit)."""
    return (
        inv.appointment is not None
        and id(inv.appointment) in appointments
        and inv.invoice_type != "deposit"
    )
