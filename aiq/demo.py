"""`aiq demo`: the whole product on a fresh machine, with no AR account.

Serves the sandbox on loopback, signs in to it through the real vault, and syncs into the
configured database (by default the SQLite file in the data directory). Running it again is quick:
the sign-in is replaced and the sync is incremental.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiq.sync.engine import ProgressFn, SyncOptions, SyncReport

if TYPE_CHECKING:
    from aiq.config import Settings
    from aiq.sandbox.server import RunningSandbox
    from aiq.store.db import Store

DEMO_PORT = 8765  # the port `aiq sandbox serve` uses too, so the demo org keeps working with it
DEMO_ORG = "Glow Med Spa (sandbox)"
DEMO_CLINICS = 3
DEMO_YEARS = 2


@dataclass
class DemoResult:
    """What the demo did."""

    base_url: str
    org_id: int
    org_name: str
    report: SyncReport


@contextmanager
def demo_sandbox(today: dt.date | None = None) -> Iterator[RunningSandbox]:
    """The demo practice, served on 127.0.0.1 (port 8765 when free, else any free port)."""
    from aiq.sandbox import Sandbox, SandboxConfig
    from aiq.sandbox.server import serve_in_thread

    sb = Sandbox(SandboxConfig(clinics=DEMO_CLINICS, years=DEMO_YEARS, today=today))
    with ExitStack() as stack:
        try:
            running = stack.enter_context(serve_in_thread(sb, port=DEMO_PORT))
        except OSError:
            # Taken (another demo, a sandbox left running): any port will do.
            running = stack.enter_context(serve_in_thread(sb, port=0))
        yield running


def run_demo(
    store: Store,
    settings: Settings,
    *,
    announce: Callable[[str], None],
    progress: ProgressFn | None = None,
    today: dt.date | None = None,
    prepare: Callable[[RunningSandbox], None] | None = None,
) -> DemoResult:
    """Serve the sandbox, sign in to it and sync; returns what happened.

    ``prepare`` gets the running sandbox before the sign-in: to give it faults, for instance.
    """
    import time

    from aiq.sandbox.config import DEFAULT_EMAIL, DEFAULT_PASSWORD
    from aiq.usecases.access import login
    from aiq.usecases.sync import sync_org

    started = time.perf_counter()
    announce(
        f"Starting the sandbox: a fake practice of {DEMO_CLINICS} clinics, {DEMO_YEARS} years."
    )
    with demo_sandbox(today) as running:
        generated = time.perf_counter() - started
        announce(f"Sandbox ready at {running.base_url} ({generated:.1f}s). Signing in.")
        if prepare is not None:
            prepare(running)
        signed = login(
            store,
            settings,
            email=DEFAULT_EMAIL,
            password=DEFAULT_PASSWORD,
            base_url=running.base_url,
            org_name=DEMO_ORG,
            announce=announce,
        )
        announce(f"Syncing {signed.org.name} into {store.display_url}.")
        report = sync_org(
            store,
            settings,
            signed.org,
            SyncOptions(today=running.sandbox.now.date()),
            progress=progress,
        )
    return DemoResult(running.base_url, signed.org.id, signed.org.name, report)
