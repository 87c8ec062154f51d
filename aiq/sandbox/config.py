"""What a sandbox serves: its accounts (practices), their size, the seed and the clock's start."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiq.sandbox.network import NetworkProfile

DEFAULT_EMAIL = "owner@glowmedspa.example"
DEFAULT_PASSWORD = "sandbox-password"
DEFAULT_ACCOUNT_ID = 4411


@dataclass(frozen=True)
class AccountSpec:
    """One AR account (one practice): its sign-in and, when `otp` is set, its 2FA code."""

    account_id: int = DEFAULT_ACCOUNT_ID
    name: str = "Glow Med Spa"
    email: str = DEFAULT_EMAIL
    password: str = DEFAULT_PASSWORD
    otp: str | None = None


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that decides what a sandbox holds and how it behaves.

    The same config (and the same sequence of `advance` calls) gives the same data, byte for byte.
    `today=None` means the real local date; the sandbox's "now" is noon of `today` in every clinic.
    """

    seed: int = 42
    clinics: int = 3
    years: int = 2
    today: dt.date | None = None
    accounts: Sequence[AccountSpec] | None = None
    token_ttl: int = 3600
    """Seconds a login token lives (real time); also the `expires_in` that login reports."""
    lockout_after: int = 5
    """Consecutive failed sign-ins (per email) after which the account answers 423."""
    lockout_seconds: float = 900.0
    """How long a lockout lasts (real time)."""
    slow_seconds: float = 2.0
    """Default delay of the `slow` fault."""
    retry_after: int = 1
    """Default `Retry-After` seconds of the 429 faults."""
    network: NetworkProfile = field(default_factory=NetworkProfile)
    """Latency and rate limit of every `/api/...` answer (see `aiq.sandbox.network`)."""

    def account_specs(self) -> tuple[AccountSpec, ...]:
        """The accounts to serve: the configured ones, or the one default account."""
        return tuple(self.accounts) if self.accounts else (AccountSpec(),)

    def start_date(self) -> dt.date:
        """The local date the clock starts at."""
        return self.today if self.today is not None else dt.date.today()
