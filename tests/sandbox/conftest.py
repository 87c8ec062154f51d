"""Fixtures of the sandbox tests: one shared read-only server per module, plus the per-test ones."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from aiq.sandbox import Sandbox
from aiq.sandbox.server import RunningSandbox, serve_in_thread
from aiq.sandbox.testing import (  # noqa: F401 - fixtures
    make_config,
    sandbox_client,
    sandbox_factory,
    sandbox_server,
    sign_in,
)


@pytest.fixture(scope="module")
def shared() -> Iterator[RunningSandbox]:
    """A small sandbox (2 clinics, 1 year) shared by a module's tests that only read."""
    with serve_in_thread(Sandbox(make_config())) as running:
        yield running


@pytest.fixture(scope="module")
def api(shared: RunningSandbox) -> Iterator[httpx.Client]:
    """A signed-in client on the shared sandbox."""
    with httpx.Client(base_url=shared.base_url, timeout=30) as client:
        sign_in(client)
        yield client
