"""The detectors: each looks at the store after a sync and returns what is wrong now.

A detector returns ``Findings``: the problems it sees (each with a fingerprint) and which open
alerts it is in a position to clear. An open alert of the detector's kind that it no longer finds
is resolved, unless it lies outside what the detector looked at (an anomaly of a day no longer
checked), in which case it expires without a message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from aiq.alerts import figures
from aiq.alerts.model import Finding
from aiq.clock import utcnow
from aiq.store.db import Store
from aiq.store.models import (
    Category,
    Clinic,
    Staff,
    SyncRun,
    SyncRunStream,
    SyncStreamState,
    table_of,
)

MISSING_FIELD = re.compile(r"required field '([^']+)' is missing")


@dataclass
class Findings:
    """What one detector found, and which of its kind's open alerts it may judge."""

    kind: str
    found: list[Finding] = field(default_factory=list)
    in_scope: Callable[[Any], bool] = lambda alert: True
    hold: bool = False
    """The detector could not judge this time: its open alerts stay as they are."""


def plural(n: float, word: str) -> str:
    """``1 minute``, ``2 minutes``, ``1.5 days``."""
    shown = f"{n:g}" if isinstance(n, int) or float(n).is_integer() else f"{n:.1f}"
    return f"{shown} {word}" + ("" if shown == "1" else "s")


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return plural(minutes, "minute")
    hours = minutes / 60
    if hours < 48:
        return plural(round(hours), "hour")
    return plural(round(hours / 24, 1), "day")


def _every(interval: timedelta) -> str:
    """``every minute``, ``every 30 minutes``."""
    span = _ago(interval)
    return "every " + span.removeprefix("1 ")


def _stamp(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


# --- sync failures ------------------------------------------------------------------------------


def _advice(error: str) -> str:
    low = error.lower()
    if "master key" in low:
        return "Restore the master key (see docs/security.md) so aiq can open the AR sign-in."
    if "aiq login" in low or "credentials" in low:
        return "Sign in again with `aiq login`: the stored AR sign-in no longer works."
    if "did not answer" in low or "unavailable" in low or "timed out" in low:
        return (
            "AR did not answer; aiq keeps trying on schedule. If it lasts, check AR's status, "
            "then run `aiq sync --debug`."
        )
    return "Run `aiq sync --debug` to see the error in full, and `aiq daemon status` for history."


def _failing(
    store: Store,
    org_id: int,
    threshold: int,
    daemon_failures: int,
    daemon_error: str | None,
    daemon_since: datetime | None,
) -> tuple[int, str | None, datetime | None]:
    """How many syncs failed in a row up to now, the last error, and when the streak began."""
    st = table_of(SyncStreamState)
    runs = table_of(SyncRun)
    with store.connect() as conn:
        failures = int(
            conn.execute(
                select(st.c.consecutive_failures)
                .where(st.c.org_id == org_id)
                .order_by(st.c.consecutive_failures.desc())
                .limit(1)
            ).scalar()
            or 0
        )
        recent = conn.execute(
            select(runs.c.started_at, runs.c.status, runs.c.error)
            .where(runs.c.org_id == org_id, runs.c.status != "running")
            .order_by(runs.c.started_at.desc())
            .limit(max(threshold, failures, 1) + 1)
        ).all()
    streak = []
    for r in recent:
        if r.status != "failed":
            break
        streak.append(r)
    failures = max(failures, len(streak))
    error = streak[0].error if streak else None
    since = streak[-1].started_at if streak else None
    if daemon_failures > failures:
        failures, error, since = daemon_failures, daemon_error, daemon_since
    return failures, error, since


def sync_failures(
    store: Store,
    org_id: int,
    threshold: int,
    *,
    daemon_failures: int = 0,
    daemon_error: str | None = None,
    daemon_since: datetime | None = None,
    stale: Finding | None = None,
) -> Findings:
    """A sync that failed ``threshold`` times in a row (in the run log, or before it started).

    With ``stale`` (what :func:`freshness` found), the alert opens at the first failure and its
    words say how old the data is: the outage is one incident, told once (see :func:`outage`).
    """
    out = Findings("sync_failed")
    failures, error, since = _failing(
        store, org_id, threshold, daemon_failures, daemon_error, daemon_since
    )
    if failures < (1 if stale is not None else max(1, threshold)):
        return out
    error = (error or "unknown error").rstrip(".")
    since = since or utcnow()
    what = (
        f"aiq could not bring in data from Aesthetic Record: the last "
        f"{plural(failures, 'sync')} failed. Last error: {error}"
        if failures > 1
        else f"aiq could not bring in data from Aesthetic Record: the last sync failed. "
        f"Last error: {error}"
    )
    title = f"sync failed {failures} times in a row" if failures > 1 else "the last sync failed"
    how_far = f"{plural(failures, 'failure')} in a row (the alert threshold is {threshold})"
    facts: dict[str, Any] = {"failures": failures, "last_error": error}
    if stale is not None:
        title += f", data {stale.facts['age']} old"
        what += f". {stale.what}"
        how_far += f"; {stale.how_far}"
        facts |= {k: stale.facts[k] for k in ("level", "last_success_at")}
    out.found.append(
        Finding(
            kind="sync_failed",
            fingerprint=f"sync_failed:{org_id}",
            title=title,
            what=what,
            how_far=how_far,
            action=_advice(error),
            since=since,
            severity="critical",
            facts=facts,
        )
    )
    return out


# --- freshness ----------------------------------------------------------------------------------


def freshness_level(age: timedelta, interval: timedelta) -> str:
    """``fresh`` within one interval of the last success, ``delayed`` past one, ``stale`` two."""
    if age > 2 * interval:
        return "stale"
    if age > interval:
        return "delayed"
    return "fresh"


def freshness(
    store: Store,
    org_id: int,
    interval: timedelta,
    level: str = "stale",
    now: datetime | None = None,
) -> Findings:
    """Data older than the schedule allows: the least recently synced stream decides."""
    out = Findings("stale")
    now = now or utcnow()
    st = table_of(SyncStreamState)
    with store.connect() as conn:
        rows = conn.execute(
            select(st.c.stream, st.c.last_success_at).where(st.c.org_id == org_id)
        ).all()
    synced = [(r.stream, r.last_success_at) for r in rows if r.last_success_at is not None]
    if not synced:
        return out  # never synced: the sync_failed detector speaks for a first sync that fails
    stream, last = min(synced, key=lambda r: r[1])
    age = now - last
    seen = freshness_level(age, interval)
    wanted = ("delayed", "stale") if level == "delayed" else ("stale",)
    if seen not in wanted:
        return out
    # In an owner's words: the data as a whole, never a stream's name (the facts keep it).
    out.found.append(
        Finding(
            kind="stale",
            fingerprint=f"stale:{org_id}",
            title=f"data is {seen}: last synced {_ago(age)} ago",
            what=f"Reports show Aesthetic Record data up to {_stamp(last)} ({_ago(age)} ago) "
            "and miss what happened since.",
            how_far=f"the data is {_ago(age)} old and the schedule syncs {_every(interval)} "
            f"({seen}: past {'two intervals' if seen == 'stale' else 'one interval'})",
            action="Check that the daemon runs (`aiq daemon status`) and what the last sync "
            "said; run `aiq sync` by hand to see any error.",
            since=last + interval,
            severity="critical" if seen == "stale" else "warning",
            facts={
                "level": seen,
                "last_success_at": last.isoformat(),
                "age": _ago(age),
                "stream": stream,
            },
        )
    )
    return out


def outage(
    store: Store,
    org_id: int,
    threshold: int,
    interval: timedelta,
    level: str = "stale",
    *,
    now: datetime | None = None,
    daemon_failures: int = 0,
    daemon_error: str | None = None,
    daemon_since: datetime | None = None,
) -> tuple[Findings, Findings]:
    """Failed syncs and stale data, as one incident: (``sync_failed``, ``stale``) findings.

    Data goes stale *because* the syncs fail, so while the last sync failed the staleness is
    told inside the ``sync_failed`` alert (which then opens at the first failure rather than
    waiting for ``threshold``), and the ``stale`` detector holds: it opens nothing and leaves an
    alert it opened earlier as it is (resolved once a sync succeeds). A ``stale`` alert of its
    own is left for data that ages with no sync failing: a daemon that does not run.
    """
    stale = freshness(store, org_id, interval, level, now=now)
    failing, _, _ = _failing(store, org_id, threshold, daemon_failures, daemon_error, daemon_since)
    failed = sync_failures(
        store,
        org_id,
        threshold,
        daemon_failures=daemon_failures,
        daemon_error=daemon_error,
        daemon_since=daemon_since,
        stale=stale.found[0] if failing and stale.found else None,
    )
    return failed, (Findings("stale", hold=True) if failing else stale)


# --- upstream fields ----------------------------------------------------------------------------


def schema_changes(store: Store, org_id: int) -> Findings:
    """Fields AR started sending (that aiq ignores), and required fields AR stopped sending."""
    out = Findings("schema_change")
    st = table_of(SyncStreamState)
    rs = table_of(SyncRunStream)
    with store.connect() as conn:
        states = conn.execute(
            select(st.c.stream, st.c.known_fields, st.c.last_success_at).where(
                st.c.org_id == org_id
            )
        ).all()
        latest: dict[str, Any] = {}
        for r in conn.execute(
            select(rs.c.stream, rs.c.started_at, rs.c.rows_skipped, rs.c.error)
            .where(rs.c.org_id == org_id, rs.c.status != "running")
            .order_by(rs.c.started_at.desc())
            .limit(200)
        ):
            latest.setdefault(r.stream, r)
    now = utcnow()
    for s in states:
        for name in sorted(s.known_fields or []):
            out.found.append(
                Finding(
                    kind="schema_change",
                    fingerprint=f"schema_change:{org_id}:{s.stream}:+{name}",
                    title=f"AR started sending a new field in {s.stream}: {name}",
                    what=f"Aesthetic Record now sends a field named {name!r} in {s.stream} "
                    "that aiq does not know. aiq ignores it and never stores it; no figure "
                    "changes.",
                    how_far="a change in AR's data format",
                    action="Nothing is lost. If AR announced a change, check that reports still "
                    "match Business Insights, and update aiq when a release supports it.",
                    since=s.last_success_at or now,
                    severity="info",
                    facts={"stream": s.stream, "field": name, "change": "appeared"},
                )
            )
    for stream, r in latest.items():
        match = MISSING_FIELD.search(r.error or "")
        if not r.rows_skipped or match is None:
            continue
        name = match.group(1)
        out.found.append(
            Finding(
                kind="schema_change",
                fingerprint=f"schema_change:{org_id}:{stream}:-{name}",
                title=f"AR stopped sending {name} in {stream}: {r.rows_skipped} records skipped",
                what=f"Aesthetic Record sent {stream} records without the field {name!r} that "
                f"aiq needs, so the last sync skipped {r.rows_skipped} of them; reports miss "
                "them.",
                how_far=f"{r.rows_skipped} records skipped in the last sync",
                action="Check AR for a change in its data, and update aiq; the records are read "
                "again on the next sync once AR sends the field.",
                since=r.started_at,
                severity="warning",
                facts={"stream": stream, "field": name, "change": "vanished"},
            )
        )
    return out


# --- business anomalies -------------------------------------------------------------------------


def _money(cents: float) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.0f}"


def format_figure(figure: str, value: float) -> str:
    """A figure as an owner reads it."""
    if figure == "net_sales":
        return _money(value)
    if figure == "cancellation_rate":
        return f"{value * 100:.0f}%"
    return f"{value:g}"


def _names(store: Store, org_id: int) -> tuple[dict[int, Any], dict[int, str], dict[int, str]]:
    c, s, k = table_of(Clinic), table_of(Staff), table_of(Category)
    with store.connect() as conn:
        clinics = {
            int(r.id): r
            for r in conn.execute(
                select(c.c.id, c.c.name, c.c.timezone).where(c.c.org_id == org_id)
            )
        }
        staff = {
            int(r.id): str(r.display_name)
            for r in conn.execute(select(s.c.id, s.c.display_name).where(s.c.org_id == org_id))
        }
        cats = {
            int(r.id): str(r.name)
            for r in conn.execute(select(k.c.id, k.c.name).where(k.c.org_id == org_id))
        }
    return clinics, staff, cats


def clinic_today(timezone: str, today: date | None = None) -> date:
    """The clinic's local date now (or ``today`` when a test fixes it)."""
    if today is not None:
        return today
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.now(zone).date()


def anomalies(
    store: Store,
    org_id: int,
    thresholds: figures.Thresholds,
    *,
    days: int = 3,
    today: date | None = None,
    first: date | None = None,
    last: date | None = None,
) -> Findings:
    """Clinic-days whose figures sit far from the same weekday's baseline (docs/reports.md).

    By default the ``days`` complete local days before each clinic's today are judged; ``first``
    and ``last`` judge a range instead (a quarter, in tests and `aiq alerts check`).
    """
    clinics, staff, cats = _names(store, org_id)
    wanted: list[tuple[int, date]] = []
    for cid, c in clinics.items():
        if first is not None and last is not None:
            span = (last - first).days
            wanted += [(cid, first + timedelta(days=i)) for i in range(span + 1)]
        else:
            local = clinic_today(str(c.timezone), today)
            wanted += [(cid, local - timedelta(days=i)) for i in range(1, days + 1)]
    checked = set(wanted)
    out = Findings("anomaly", in_scope=lambda alert: (alert.clinic_id, alert.day) in checked)
    for (cid, day), devs in sorted(figures.scan(store, org_id, wanted, thresholds).items()):
        name = str(clinics[cid].name)
        devs.sort(key=lambda d: -abs(d.deviations))
        main = devs[0]
        parts, facts = [], []
        for d in devs:
            driver = _driver_text(d, staff, cats)
            pct = f"{d.percent:+.0f}%" if d.percent is not None else "from zero"
            parts.append(
                f"{figures.LABELS[d.figure]} {format_figure(d.figure, d.value)} against a usual "
                f"{format_figure(d.figure, d.baseline)} ({pct}, {abs(d.deviations):.1f} "
                f"deviations {d.direction})" + (f"; likely driver: {driver}" if driver else "")
            )
            facts.append(
                {
                    "figure": d.figure,
                    "value": d.value,
                    "baseline": d.baseline,
                    "deviations": round(d.deviations, 2),
                    "percent": None if d.percent is None else round(d.percent, 1),
                    "driver": None
                    if d.driver is None
                    else {
                        "kind": d.driver[0],
                        "id": d.driver[1],
                        "name": _driver_name(d.driver, staff, cats),
                        "change": d.driver_change,
                        "share": round(d.driver_share, 2),
                    },
                }
            )
        weekday = f"{day:%A}"
        out.found.append(
            Finding(
                kind="anomaly",
                fingerprint=f"anomaly:{org_id}:{cid}:{day.isoformat()}",
                title=f"{figures.LABELS[main.figure]} {format_figure(main.figure, main.value)} "
                f"on {weekday} {day.isoformat()} (usual "
                f"{format_figure(main.figure, main.baseline)})",
                what=f"{name} on {weekday} {day.isoformat()}: " + "; ".join(parts) + ".",
                how_far="; ".join(
                    f"{figures.LABELS[d.figure]} {abs(d.deviations):.1f} deviations "
                    f"{d.direction} the median of the last {thresholds.weeks} {weekday}s"
                    for d in devs
                ),
                action=_anomaly_advice(main),
                since=datetime.combine(day, datetime.min.time()),
                severity="warning",
                clinic_id=cid,
                clinic=name,
                day=day,
                facts={"figures": facts},
            )
        )
    return out


def _driver_name(driver: tuple[str, int], staff: dict[int, str], cats: dict[int, str]) -> str:
    kind, ident = driver
    if kind == "provider":
        return staff.get(ident, f"provider {ident}")
    return cats.get(ident, f"category {ident}")


def _driver_text(d: figures.Deviation, staff: dict[int, str], cats: dict[int, str]) -> str:
    if d.driver is None:
        return ""
    name = _driver_name(d.driver, staff, cats)
    what = {
        "net_sales": _money(d.driver_change),
        "completed": f"{d.driver_change:+g} completed",
        "cancellation_rate": f"{d.driver_change:+g} cancellations",
    }[d.figure]
    if d.figure == "net_sales":
        what = ("+" if d.driver_change > 0 else "") + what
    return f"{d.driver[0]} {name} ({what} against their usual, {d.driver_share:.0%} of the change)"


def _anomaly_advice(d: figures.Deviation) -> str:
    if d.figure == "cancellation_rate":
        return (
            "Look at that day's cancellations in AR (a provider out sick, a booking problem, "
            "weather); call the patients who canceled to rebook."
        )
    if d.figure == "completed":
        return (
            "Check the day's schedule in AR: cancellations, no-shows or a provider away; if the "
            "clinic was closed on purpose, nothing to do."
        )
    return (
        "Check the day's invoices in AR for refunds, voids or unpaid checkouts, and whether "
        "checkouts are missing; `aiq report` shows the breakdown."
    )
