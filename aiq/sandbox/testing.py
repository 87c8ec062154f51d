"""Pytest fixtures for the sandbox, to re-export from a conftest:

    from aiq.sandbox.testing import sandbox_client, sandbox_factory, sandbox_server  # noqa: F401

`sandbox_server` serves a small practice (2 clinics, 1 year, a fixed date) on a free port for one
test; `sandbox_factory(**overrides)` starts others (SandboxConfig fields, and `otp=` for the
default account's 2FA code). `sandbox_client` is an `httpx.Client` on `sandbox_server`, already
signed in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from aiq.sandbox.config import AccountSpec, SandboxConfig
from aiq.sandbox.core import Sandbox
from aiq.sandbox.server import RunningSandbox, serve_in_thread

if TYPE_CHECKING:
    import httpx

TEST_TODAY = dt.date(2026, 11, 26)
"""The fixed "today" of test sandboxes, so that tests do not depend on the real date."""
_SMALL = {"seed": 7, "clinics": 2, "years": 1, "today": TEST_TODAY}


def make_config(**overrides: Any) -> SandboxConfig:
    """A small test config, with `overrides` (and `otp=` for the default account's 2FA)."""
    otp = overrides.pop("otp", None)
    fields = {**_SMALL, **overrides}
    if otp is not None and "accounts" not in fields:
        fields["accounts"] = (AccountSpec(otp=otp),)
    return SandboxConfig(**fields)


def sign_in(client: httpx.Client, account: AccountSpec | None = None) -> str:
    """Sign in (answering 2FA when asked) and set the client's bearer token; returns it."""
    account = account or AccountSpec()
    resp = client.post("/api/login", json={"email": account.email, "password": account.password})
    resp.raise_for_status()
    data = resp.json()["data"]
    if data.get("requires_2fa"):
        resp = client.post(
            "/api/login/2fa", json={"challenge": data["challenge"], "code": account.otp}
        )
        resp.raise_for_status()
        data = resp.json()["data"]
    client.headers["Authorization"] = f"Bearer {data['token']}"
    return str(data["token"])


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., RunningSandbox]]:
    """Start sandboxes with `make_config` overrides: `sandbox_factory(clinics=3, otp="123456")`.

    Each is served on its own free port and stopped when the test ends.
    """
    with contextlib.ExitStack() as stack:

        def start(**overrides: Any) -> RunningSandbox:
            return stack.enter_context(serve_in_thread(Sandbox(make_config(**overrides))))

        yield start


@pytest.fixture
def sandbox_server(sandbox_factory: Callable[..., RunningSandbox]) -> RunningSandbox:
    """A small sandbox served over real HTTP on 127.0.0.1 for one test (`.base_url`, `.sandbox`)."""
    return sandbox_factory()


@pytest.fixture
def sandbox_client(sandbox_server: RunningSandbox) -> Iterator[httpx.Client]:
    """An httpx.Client on `sandbox_server`, signed in to the default account."""
    import httpx

    with httpx.Client(base_url=sandbox_server.base_url, timeout=30) as client:
        sign_in(client, next(iter(sandbox_server.sandbox.accounts.values())))
        yield client
