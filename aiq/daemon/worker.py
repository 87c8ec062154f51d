"""One unit of the daemon's work, in a child process: list the orgs, or sync one and check alerts.

The daemon itself stays small (it imports no database or HTTP code): every run happens in a fresh
`aiq daemon worker` process that reads one JSON request on stdin and writes one JSON result on
stdout, and all the memory a sync needed goes back to the system when it exits. SIGTERM and SIGINT
make a sync stop between batches (finished windows committed, locks released) and the worker
exit 0.
"""

from __future__ import annotations

import logging
import signal
from datetime import date, datetime, timedelta
from typing import Any

from aiq.clock import utcnow
from aiq.errors import AiqError, Interrupted, Locked

log = logging.getLogger("aiq.daemon")


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds")


def _when(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text)


class _Stop:
    flag = False

    @classmethod
    def set(cls, signum: int, frame: Any) -> None:
        cls.flag = True


def org_states(store: Any) -> list[dict[str, Any]]:
    """Every signed-in org with its practice time zone, last good sync and last deep read."""
    from sqlalchemy import func, select

    from aiq.store.models import Clinic, SyncRun, SyncStreamState, table_of
    from aiq.vault.credentials import signed_in_orgs

    c, r, s = table_of(Clinic), table_of(SyncRun), table_of(SyncStreamState)
    out = []
    with store.connect() as conn:
        for org in signed_in_orgs(store):
            zone = conn.execute(
                select(c.c.timezone)
                .where(c.c.org_id == org.id)
                .group_by(c.c.timezone)
                .order_by(func.count().desc(), c.c.timezone)
                .limit(1)
            ).scalar()
            last_ok = conn.execute(
                select(func.max(r.c.started_at)).where(
                    r.c.org_id == org.id, r.c.status.in_(("ok", "partial"))
                )
            ).scalar()
            last_deep = conn.execute(
                select(func.max(s.c.last_deep_at)).where(s.c.org_id == org.id)
            ).scalar()
            out.append(
                {
                    "id": org.id,
                    "name": org.name,
                    "zone": str(zone or "UTC"),
                    "last_ok": _iso(last_ok),
                    "last_deep": _iso(last_deep),
                }
            )
    return out


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """Do what ``request`` asks and return the result document."""
    from aiq import observability
    from aiq.config import load_settings
    from aiq.store.db import open_store

    signal.signal(signal.SIGTERM, _Stop.set)
    signal.signal(signal.SIGINT, _Stop.set)
    settings = load_settings()
    observability.setup(settings)
    if not settings.database.url:
        settings.ensure_dirs()
    store = open_store(settings.database_url, migrate=True)
    try:
        if request["action"] == "orgs":
            return {"orgs": org_states(store)}
        if request["action"] == "housekeeping":
            return housekeeping(store, settings)
        result = run_org(store, settings, request)
        result["orgs"] = org_states(store)
        return result
    finally:
        store.dispose()
        observability.shutdown_sentry()


def housekeeping(store: Any, settings: Any) -> dict[str, Any]:
    """The daily chores: purge practices past their retention, prune old backups, and take
    the daily backup when configured (the privacy policy's retention and backup promises)."""
    from aiq.usecases.backups import backup
    from aiq.usecases.practices import apply_retention

    result: dict[str, Any] = {"action": "housekeeping"}
    try:
        retention = apply_retention(store, settings)
        result["retention"] = repr(retention)
        if settings.data.daily_backup:
            result["backup"] = str(backup(store, settings).result.path)
    except Exception as exc:
        log.error("housekeeping failed: %s", _unexpected(exc))
        result["error"] = _unexpected(exc)
    return result


def run_org(store: Any, settings: Any, request: dict[str, Any]) -> dict[str, Any]:
    """One sync of one org (and the alert check after it)."""
    from aiq import observability
    from aiq.sync.engine import SyncOptions
    from aiq.usecases.sync import sync_org
    from aiq.vault.credentials import signed_in_orgs

    org_id = int(request["org_id"])
    org = next((o for o in signed_in_orgs(store) if o.id == org_id), None)
    if org is None:
        return {"status": "skipped", "error": "no longer signed in"}
    today = date.fromisoformat(request["today"]) if request.get("today") else None
    deep = bool(request.get("deep"))
    trouble = dict(request.get("trouble") or {})
    result: dict[str, Any] = {"status": None, "error": None, "mode": None}
    engine_ran = False

    def engine_started() -> None:
        nonlocal engine_ran
        engine_ran = True  # from here on the run log records a failure

    log.info("%s: %s sync started", org.name, "deep" if deep else "scheduled")
    try:
        report = sync_org(
            store,
            settings,
            org,
            # The nightly run is also the patient pass (a full read, see docs/sync.md).
            SyncOptions(today=today, deep=deep, patients=deep),
            should_stop=lambda: _Stop.flag,
            announce=lambda m: log.info("%s", m),
            started=engine_started,
        )
    except Locked as exc:
        log.info("%s: skipped, %s", org.name, exc)
        return {**result, "status": "skipped", "error": str(exc), "trouble": trouble}
    except Interrupted:
        log.info("%s: sync stopped on request; finished windows are kept", org.name)
        return {**result, "status": "interrupted", "trouble": trouble}
    except Exception as exc:
        message = str(exc) if isinstance(exc, AiqError) else _unexpected(exc)
        log.error("%s: sync failed: %s", org.name, message)
        if not isinstance(exc, AiqError):
            log.debug("traceback", exc_info=exc)
        observability.report_exception(exc)
        result.update(status="failed", error=message)
        if not engine_ran:
            # Nothing reached the run log (no key, no sign-in): count it here for alerts.
            trouble = {
                "failures": int(trouble.get("failures", 0)) + 1,
                "error": message,
                "since": trouble.get("since") or _iso(utcnow()),
            }
    else:
        trouble = {}
        result.update(status=report.status, mode=report.mode)
        t = report.totals()
        log.info(
            "%s: sync %s (%s) in %.1fs: %d requests, %d new, %d changed, %d removed rows",
            org.name,
            report.status,
            report.mode,
            report.seconds,
            report.requests,
            t.inserted,
            t.changed,
            t.removed,
        )
        for s in report.streams:
            if s.error:
                log.warning("%s: %s: %s", org.name, s.stream, s.error)
    result["trouble"] = trouble
    if not _Stop.flag:
        check_alerts(store, settings, org, request, trouble)
    return result


def check_alerts(
    store: Any, settings: Any, org: Any, request: dict[str, Any], trouble: dict[str, Any]
) -> None:
    """The alert check after a run; its own failures are logged, never raised."""
    from aiq import observability
    from aiq.alerts.check import SyncTrouble, check_org

    today = date.fromisoformat(request["today"]) if request.get("today") else None
    try:
        result = check_org(
            store,
            org,
            settings.alerts,
            interval=timedelta(seconds=float(request["interval_seconds"])),
            today=today,
            trouble=SyncTrouble(
                int(trouble.get("failures", 0)), trouble.get("error"), _when(trouble.get("since"))
            ),
        )
    except Exception as exc:
        message = str(exc) if isinstance(exc, AiqError) else _unexpected(exc)
        log.error("%s: alert check failed: %s", org.name, message)
        observability.report_exception(exc)
        return
    if result.opened or result.resolved or result.sent or result.failed:
        log.info(
            "%s: alerts: %d opened, %d resolved, %d open, %d messages sent%s",
            org.name,
            result.opened,
            result.resolved,
            result.open,
            result.sent,
            f", {len(result.failed)} not sent" if result.failed else "",
        )


def _unexpected(exc: BaseException) -> str:
    from aiq.vault.redact import redact

    return f"unexpected error ({type(exc).__name__}: {redact(str(exc))[:200]})"
