"""The sandbox: its practices, its clock, sign-in and sessions, faults and request counters."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiq.sandbox.config import AccountSpec, SandboxConfig
from aiq.sandbox.faults import Faults
from aiq.sandbox.network import Network
from aiq.sandbox.practice import Practice, new_practice

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from aiq.sandbox.insights import PatientTruth


@dataclass
class Stats:
    """Requests received per endpoint (faulted ones included), so tests can count a sync's calls.

    Endpoint names: login, login_2fa, clinics, users, services, products, product_categories,
    appointments, invoices (and `other` for an unknown /api path).
    """

    requests: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def count(self, endpoint: str) -> None:
        """Count one request."""
        with self._lock:
            self.requests[endpoint] += 1

    def __getitem__(self, endpoint: str) -> int:
        return self.requests[endpoint]

    @property
    def total(self) -> int:
        """All requests counted."""
        return sum(self.requests.values())

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.requests.clear()

    def as_dict(self) -> dict[str, int]:
        """A copy of the counters."""
        with self._lock:
            return dict(self.requests)


@dataclass
class Session:
    """A signed-in token."""

    account_id: int
    user_id: int
    expires_at: float  # time.monotonic()
    ended_as: str | None = None  # the expiry form once a fault has ended this session


class SignInError(Exception):
    """A refused sign-in; `status` is 401 (wrong credentials or code) or 423 (locked)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Sandbox:
    """A local, deterministic stand-in for an AR backend (see docs/sandbox.md)."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.today = self.config.start_date()
        self.accounts: dict[int, AccountSpec] = {
            a.account_id: a for a in self.config.account_specs()
        }
        self._by_email = {a.email.lower(): a for a in self.accounts.values()}
        self._practices: dict[int, Practice] = {}
        self._days_advanced = 0
        self.lock = threading.RLock()
        """Held while data is read or changed: the server thread and a test share the sandbox."""
        self.faults = Faults(self.config.slow_seconds, self.config.retry_after)
        self.network = Network(self.config.network, seed=self.config.seed)
        self.stats = Stats()
        self._sessions: dict[str, Session] = {}
        self._challenges: dict[str, tuple[int, float]] = {}
        self._failures: Counter[str] = Counter()
        self._locked_until: dict[str, float] = {}

    # -- data -------------------------------------------------------------------------------

    @property
    def default_account_id(self) -> int:
        """The first configured account."""
        return next(iter(self.accounts))

    def practice(self, account_id: int | None = None) -> Practice:
        """An account's practice, generated on first use and brought up to the sandbox's clock."""
        account_id = self.default_account_id if account_id is None else account_id
        with self.lock:
            p = self._practices.get(account_id)
            if p is None:
                spec = self.accounts[account_id]
                p = new_practice(
                    spec, self.config.seed, self.config.clinics, self.config.years, self.today
                )
                self._practices[account_id] = p
                if self._days_advanced:
                    p = self._changing(account_id)
                    p.advance(self._days_advanced)
            return p

    def _changing(self, account_id: int) -> Practice:
        """The account's practice, about to change: a private copy if it was shared (see
        `keep_generated`). Called with the lock held."""
        p = self._practices[account_id]
        if p.shared:
            p = self._practices[account_id] = p.copy()
        return p

    def warm(self) -> None:
        """Generate every account's data now rather than on its first request."""
        for account_id in self.accounts:
            self.practice(account_id)

    @property
    def now(self) -> dt.datetime:
        """The sandbox's "now": noon of its current day, in every clinic's local time."""
        return dt.datetime.combine(self.today, dt.time(12, 0)) + dt.timedelta(
            days=self._days_advanced
        )

    def advance(self, days: int = 1) -> dt.datetime:
        """Move the clock forward: new bookings and sales, and the past changes as in AR."""
        if days < 0:
            raise ValueError("the clock only moves forward")
        with self.lock:
            self._days_advanced += days
            for account_id in list(self._practices):
                self._changing(account_id).advance(days)
            return self.now

    def truth(self, account_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """Exactly what the server holds for an account, as the API serialises it."""
        with self.lock:
            return self.practice(account_id).truth()

    def patient_truth(
        self,
        account_id: int | None = None,
        *,
        history_from: dt.date,
        until: dt.date,
        today: dt.date,
    ) -> PatientTruth:
        """The patient figures of an account now, from the sandbox's own records (see
        `aiq.sandbox.insights`): appointments starting in [history_from, until], invoices
        created in [history_from, today]."""
        from aiq.sandbox.insights import patient_truth

        with self.lock:
            return patient_truth(
                self.practice(account_id), history_from=history_from, until=until, today=today
            )

    def inject_anomaly(
        self,
        account_id: int | None,
        clinic_id: int,
        date: dt.date,
        kind: str = "cancellations",
        share: float = 0.6,
    ) -> int:
        """Make one clinic-day anomalous; returns how many records changed.

        Only `kind="cancellations"` exists: `share` of the day's appointments are canceled and
        their checkout invoices vanish.
        """
        if kind != "cancellations":
            raise ValueError(f"unknown anomaly kind {kind!r}")
        with self.lock:
            account_id = self.default_account_id if account_id is None else account_id
            self.practice(account_id)
            return self._changing(account_id).inject_cancellations(clinic_id, date, share)

    # -- sign-in and sessions ---------------------------------------------------------------

    def _check_lock(self, email: str) -> None:
        until = self._locked_until.get(email)
        if until is not None:
            if time.monotonic() < until:
                raise SignInError(423, "Account locked")
            del self._locked_until[email]
            self._failures[email] = 0

    def _fail(self, email: str, message: str) -> SignInError:
        self._failures[email] += 1
        if self._failures[email] >= self.config.lockout_after:
            self._locked_until[email] = time.monotonic() + self.config.lockout_seconds
            return SignInError(423, "Account locked")
        return SignInError(401, message)

    def login(self, email: str, password: str) -> dict[str, Any]:
        """`POST /api/login`: a session, or a 2FA challenge; raises SignInError when refused."""
        key = email.strip().lower()
        with self.lock:
            self._check_lock(key)
            spec = self._by_email.get(key)
            if spec is None or not secrets.compare_digest(spec.password, password):
                raise self._fail(key, "Invalid credentials")
            if spec.otp:
                challenge = secrets.token_urlsafe(24)
                self._challenges[challenge] = (spec.account_id, time.monotonic() + 300)
                return {"requires_2fa": True, "challenge": challenge}
            self._failures[key] = 0
            return self._new_session(spec)

    def login_2fa(self, challenge: str, code: str) -> dict[str, Any]:
        """`POST /api/login/2fa`: the session for a valid challenge and code."""
        with self.lock:
            entry = self._challenges.get(challenge)
            if entry is None or entry[1] < time.monotonic():
                raise SignInError(401, "Invalid or expired challenge")
            spec = self.accounts[entry[0]]
            key = spec.email.lower()
            self._check_lock(key)
            if not secrets.compare_digest(spec.otp or "", str(code)):
                raise self._fail(key, "Invalid code")
            del self._challenges[challenge]
            self._failures[key] = 0
            return self._new_session(spec)

    def _new_session(self, spec: AccountSpec) -> dict[str, Any]:
        practice = self.practice(spec.account_id)
        owner = practice.catalog.owner
        assert owner is not None
        token = secrets.token_urlsafe(32)
        ttl = self.config.token_ttl
        self._sessions[token] = Session(spec.account_id, owner.id, time.monotonic() + ttl)
        return {
            "token": token,
            "expires_in": ttl,
            "account": {"id": spec.account_id, "name": spec.name},
            "user": {"id": owner.id, "role": owner.role},
        }

    def session(self, token: str | None) -> Session | str:
        """The live session of a bearer token, or the expiry form to answer with."""
        with self.lock:
            s = self._sessions.get(token or "")
            if s is None:
                return "expire_401"
            if s.ended_as is not None:
                return s.ended_as
            if s.expires_at <= time.monotonic():
                return "expire_401"
            return s

    def end_session(self, token: str | None, form: str = "expire_401") -> None:
        """End one session; later requests with its token get the same expiry form."""
        with self.lock:
            s = self._sessions.get(token or "")
            if s is not None:
                s.ended_as = form

    def end_all_sessions(self, form: str = "expire_401") -> None:
        """End every session (as if AR logged everyone out)."""
        with self.lock:
            for s in self._sessions.values():
                s.ended_as = form

    def unlock(self) -> None:
        """Clear failed sign-ins and lockouts."""
        with self.lock:
            self._failures.clear()
            self._locked_until.clear()

    # -- serving ----------------------------------------------------------------------------

    def asgi_app(self) -> Starlette:
        """The Starlette app serving this sandbox (faults applied outermost)."""
        from aiq.sandbox.app import build_app

        return build_app(self)
