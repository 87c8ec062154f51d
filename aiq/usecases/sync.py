"""Sync one practice: its credentials, an AR client built from the settings, and the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiq.roles import Action, require

if TYPE_CHECKING:
    from aiq.ar.client import ARClient
    from aiq.config import Settings
    from aiq.store.db import Store
    from aiq.store.orgs import OrgRef
    from aiq.sync.engine import ProgressFn, SyncOptions, SyncReport
    from aiq.vault.credentials import Credentials


def ar_client(settings: Settings, creds: Credentials) -> ARClient:
    """An AR client for ``creds`` with the configured timeouts, retries, size cap, pace and
    connection pool."""
    from aiq.ar.client import ARClient

    return ARClient(
        creds.base_url,
        email=creds.email,
        password=creds.password,
        timeout=settings.ar.timeout_seconds,
        max_retries=settings.ar.max_retries,
        max_connections=max(4, settings.sync.concurrency * 2),
        deadline=settings.ar.request_deadline_seconds,
        max_response_bytes=int(settings.ar.max_response_mb * 1024 * 1024),
        max_requests_per_minute=settings.sync.max_requests_per_minute or None,
    )


def sync_org(
    store: Store,
    settings: Settings,
    org: OrgRef,
    options: SyncOptions,
    *,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    announce: Callable[[str], None] | None = None,
    started: Callable[[], None] | None = None,
) -> SyncReport:
    """One sync of ``org``: what ``aiq sync``, the daemon and the demo all run.

    Checks that the caller may sync the practice, decrypts its AR sign-in (``announce`` hears
    which master key was used), and runs the engine; the engine writes the run log. ``started``
    is called once the engine is about to run (after the sign-in was read), so a caller can tell
    a failure the run log records from one before it.
    """
    from aiq.sync.engine import SyncEngine
    from aiq.vault.credentials import load_credentials

    require(store, org.id, Action.SYNC, org_name=org.name)
    creds = load_credentials(store, settings, org, announce=announce)
    with ar_client(settings, creds) as client:
        engine = SyncEngine(
            store,
            client,
            org.id,
            settings.sync,
            options,
            progress=progress,
            should_stop=should_stop,
            privacy=settings.privacy,
        )
        if started is not None:
            started()
        return engine.run()
