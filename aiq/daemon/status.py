"""What `aiq daemon status` shows: the pidfile's lock, the daemon's status file, the run log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiq.daemon.pidfile import read_status, running


def _uptime(started: str | None) -> str | None:
    if not started:
        return None
    try:
        at = datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - at).total_seconds())
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s"


def _schedule(doc: dict[str, Any]) -> str:
    seconds = float(doc.get("interval_seconds") or 0)
    every = f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
    jitter = int(doc.get("jitter_seconds") or 0)
    deep = doc.get("deep_hour")
    parts = [every + (f" (+ up to {jitter}s jitter)" if jitter else "")]
    if deep is not None:
        parts.append(f"deep re-read daily at {int(deep):02d}:00 practice time")
    return "; ".join(parts)


def _last_runs(state: Any) -> dict[int, dict[str, Any]]:
    """The last run of each org from the run log (manual and cron runs count too)."""
    try:
        from sqlalchemy import func, select

        from aiq.store.models import SyncRun, table_of

        store = state.store()
        r = table_of(SyncRun)
        latest = select(r.c.org_id, func.max(r.c.id).label("id")).group_by(r.c.org_id).subquery()
        with store.connect() as conn:
            rows = conn.execute(
                select(r.c.org_id, r.c.started_at, r.c.status, r.c.error).join(
                    latest, latest.c.id == r.c.id
                )
            ).all()
    except Exception:  # status must work without a reachable database
        return {}
    return {
        int(row.org_id): {
            "started_at": row.started_at.isoformat(timespec="seconds") + "Z",
            "status": row.status,
            "error": row.error,
        }
        for row in rows
    }


def gather(state: Any, pidfile: Path) -> dict[str, Any]:
    """The daemon's status as a JSON-ready document."""
    holder = running(pidfile)
    doc = read_status(pidfile.with_suffix(".json"))
    live = holder is not None and doc.get("pid") == holder.pid
    runs = _last_runs(state)
    orgs = []
    for o in doc.get("orgs", []) if live else []:
        last = runs.get(int(o.get("org_id", 0)))
        entry = dict(o)
        if last and (not o.get("last_run_at") or last["started_at"] > o["last_run_at"]):
            entry["last_run_at"] = last["started_at"]
            entry["last_status"] = last["status"]
            entry["last_error"] = last["error"]
        orgs.append(entry)
    return {
        "running": holder is not None,
        "pid": holder.pid if holder else None,
        "started_at": holder.started_at if holder else None,
        "uptime": _uptime(holder.started_at) if holder else None,
        "state": doc.get("state") if live else None,
        "pidfile": str(pidfile),
        "interval_seconds": doc.get("interval_seconds") if live else None,
        "schedule": _schedule(doc) if live else None,
        "orgs": orgs,
        "recent_failures": doc.get("recent_failures", []) if live else [],
    }
