"""The daemon's loop: sync every org on schedule, check alerts after each sync, obey signals.

One loop on one thread decides what is due (each org's next run, and the ``schedule`` library's
fixed-time jobs) and starts runs, up to ``[daemon] max_parallel`` at once; between them it sleeps
in ``select`` on a self-pipe until the next run (or a signal) wakes it, so an idle daemon uses no
CPU. Each run (a sync and the alert check after it) happens in an
`aiq daemon worker` child process (``aiq.daemon.worker``): the loop never imports database or
HTTP code, and whatever memory a sync needed goes back to the system when the worker exits.

Signals: SIGTERM and SIGINT set the stop flag and are passed to a running worker, whose sync stops
between batches (the engine's ``should_stop``), commits what it finished and releases its lock;
then the daemon exits 0. SIGHUP re-reads the configuration before the next run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import random
import select
import signal
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiq.clock import utcnow
from aiq.daemon import sdnotify
from aiq.daemon.pidfile import PidFile, write_status
from aiq.errors import AiqError

if TYPE_CHECKING:
    import schedule

    from aiq.config import Settings

log = logging.getLogger("aiq.daemon")
MAX_SLEEP = 60.0
RECENT_FAILURES = 20


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds") + "Z"


@dataclass
class DaemonOptions:
    """What `aiq daemon run` was asked for."""

    config_path: Path | None = None
    db_url: str | None = None
    pidfile: Path | None = None
    interval_seconds: float | None = None  # overrides [daemon] interval_minutes (tests)
    today: date | None = None  # the date syncs and detectors take as today (tests)
    once: bool = False  # run every org once, then exit
    log_file: Path | None = None  # where workers append their log lines too


@dataclass
class OrgState:
    """What the daemon knows about one org between runs."""

    org_id: int
    name: str
    zone: str = "UTC"
    last_started: datetime | None = None
    last_ended: datetime | None = None
    last_status: str | None = None
    last_error: str | None = None
    last_deep_day: date | None = None
    runs: int = 0
    trouble: dict[str, Any] = field(default_factory=dict)
    next_run: datetime | None = None  # naive UTC; None until the org is scheduled


def deep_due(now_utc: datetime, zone: str, deep_hour: int, last_deep_day: date | None) -> bool:
    """Whether it is the practice's quiet hour (its local time) and no deep read ran today."""
    local = now_utc.replace(tzinfo=UTC).astimezone(_zone(zone))
    return local.hour == deep_hour and last_deep_day != local.date()


@dataclass
class Daemon:
    """The scheduler loop. ``run`` returns the exit code.

    The loop itself imports no database or HTTP code; each run is an `aiq daemon worker` child
    process (``aiq.daemon.worker``), so the idle daemon stays small whatever a sync needed.
    """

    options: DaemonOptions
    settings: Settings | None = None
    orgs: dict[int, OrgState] = field(default_factory=dict)
    started_at: datetime = field(default_factory=utcnow)
    failures: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_FAILURES))
    _stop: bool = False
    _reload: bool = False
    _said_no_orgs: bool = False
    _state: str = "starting"
    _scheduler: schedule.Scheduler | None = None
    _children: set[subprocess.Popen[bytes]] = field(default_factory=set)
    _running: dict[int, threading.Thread] = field(default_factory=dict)
    _due: deque[int] = field(default_factory=deque)
    _done: queue.SimpleQueue[tuple[int, dict[str, Any] | None]] = field(
        default_factory=queue.SimpleQueue
    )
    _wake_r: int = -1
    _wake_w: int = -1

    # --- signals --------------------------------------------------------------------------------

    def _on_stop(self, signum: int, frame: Any) -> None:
        if not self._stop:
            log.info("%s received: stopping after the current batch", signal.Signals(signum).name)
        self._stop = True
        for child in list(self._children):
            if child.poll() is None:
                with contextlib.suppress(OSError):
                    child.send_signal(signal.SIGTERM)
        self._wake()

    def _on_hup(self, signum: int, frame: Any) -> None:
        self._reload = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _install_signals(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(InterruptedError):
            ready, _, _ = select.select([self._wake_r], [], [], seconds)
            if ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)

    # --- settings and schedule ------------------------------------------------------------------

    def _load_settings(self) -> Settings:
        from aiq.config import load_settings

        return load_settings(self.options.config_path, database_url=self.options.db_url)

    @property
    def interval(self) -> float:
        assert self.settings is not None
        if self.options.interval_seconds:
            return float(self.options.interval_seconds)
        return self.settings.daemon.interval_minutes * 60.0

    @property
    def jitter(self) -> float:
        assert self.settings is not None
        return 0.0 if self.options.interval_seconds else float(self.settings.daemon.jitter_seconds)

    def pidfile_path(self) -> Path:
        """Where the single-instance lock lives."""
        assert self.settings is not None
        return self.options.pidfile or default_pidfile(self.settings)

    def status_path(self) -> Path:
        return self.pidfile_path().with_suffix(".json")

    def _describe_settings(self) -> None:
        assert self.settings is not None
        a = self.settings.alerts
        channels = [
            name
            for name, on in (
                ("smtp", a.smtp_host),
                ("resend", a.resend_api_key),
                ("webhook", a.webhook_url),
            )
            if on
        ]
        log.info(
            "schedule: every %s (jitter %ss), deep re-read at %02d:00 practice time; notifiers: %s",
            _span(self.interval),
            int(self.jitter),
            self.settings.daemon.deep_hour,
            ", ".join(channels) or "none",
        )

    def _build_schedule(self) -> None:
        import schedule

        self._scheduler = schedule.Scheduler()
        for st in self.orgs.values():
            st.next_run = None
        self._refresh_orgs()
        self._scheduler.every().hour.at(":00").do(self._deep_check).tag("deep")
        # Retention, purges and the daily backup, at the quiet hour (this host's clock).
        hour = self.settings.daemon.deep_hour if self.settings is not None else 3
        self._scheduler.every().day.at(f"{hour % 24:02d}:30").do(self._housekeeping).tag("daily")
        self._scheduler.every(max(60, int(self.interval))).seconds.do(self._refresh_orgs).tag(
            "orgs"
        )

    # Each org has its own next run, one interval (plus jitter) after its last run ended. The
    # `schedule` library keeps the fixed-time jobs (the hourly deep check, the daily chores, the
    # org refresh); it has no public way to restart a job's interval from a moment of our choice.

    def _schedule_org(self, st: OrgState, first_in: float) -> None:
        st.next_run = utcnow() + timedelta(seconds=max(0.0, first_in))

    def _next_interval(self) -> float:
        return max(1.0, self.interval) + (random.uniform(0, self.jitter) if self.jitter else 0.0)

    def _enqueue_due(self) -> None:
        now = utcnow()
        for st in self.orgs.values():
            if st.next_run is not None and st.next_run <= now:
                st.next_run = now + timedelta(seconds=self._next_interval())
                self._enqueue(st.org_id)

    def _seconds_to_next_run(self) -> float | None:
        assert self._scheduler is not None
        waits = [self._scheduler.idle_seconds]
        now = utcnow()
        waits += [(st.next_run - now).total_seconds() for st in self.orgs.values() if st.next_run]
        known = [w for w in waits if w is not None]
        return min(known) if known else None

    def _refresh_orgs(self, orgs: list[dict[str, Any]] | None = None) -> None:
        """Follow the orgs that are signed in: new ones are scheduled, gone ones dropped."""
        assert self._scheduler is not None
        if orgs is None:
            result = self._call_worker({"action": "orgs"})
            if result is None or "orgs" not in result:
                return
            orgs = result["orgs"]
        current = {int(o["id"]): o for o in orgs}
        for org_id in list(self.orgs):
            if org_id not in current:
                log.info("%s is no longer signed in; not syncing it", self.orgs[org_id].name)
                del self.orgs[org_id]
        if not current and not self._said_no_orgs:
            log.warning("nobody is signed in to AR yet; run aiq login (checking again regularly)")
            self._said_no_orgs = True
        for org_id, o in current.items():
            st = self.orgs.get(org_id)
            if st is None:
                st = self.orgs[org_id] = OrgState(org_id, str(o["name"]))
                if o.get("last_ok"):
                    st.last_started = datetime.fromisoformat(o["last_ok"])
            st.name, st.zone = str(o["name"]), str(o.get("zone") or "UTC")
            if o.get("last_deep"):
                deep_at = datetime.fromisoformat(o["last_deep"]).replace(tzinfo=UTC)
                st.last_deep_day = deep_at.astimezone(_zone(st.zone)).date()
            if st.next_run is None:
                first = self._first_run_in(st)
                self._schedule_org(st, first)
                log.info(
                    "%s: next sync %s",
                    st.name,
                    "now (overdue)" if first <= 0 else f"in {_span(first)}",
                )

    def _first_run_in(self, st: OrgState) -> float:
        """Seconds until an org's first run: now when overdue (catch-up), else when due."""
        if st.last_started is None:
            return 0.0
        return (st.last_started + timedelta(seconds=self.interval) - utcnow()).total_seconds()

    # --- runs -----------------------------------------------------------------------------------

    def _call_worker(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """Run one `aiq daemon worker` with ``request``; its result, or None when it failed."""
        from aiq.daemon.service import aiq_argv, child_env

        # The installed aiq, whatever the working directory holds (see aiq_argv).
        env = child_env(os.environ)
        if self.options.db_url:
            env["AIQ_DATABASE_URL"] = self.options.db_url
        if self.options.config_path:
            env["AIQ_CONFIG"] = str(self.options.config_path)
        debug = ["--debug"] if self.settings is not None and self.settings.debug else []
        args = aiq_argv(*debug, "daemon", "worker")
        if self.options.log_file is not None:
            args += ["--log-file", str(self.options.log_file)]
        try:
            child = subprocess.Popen(
                args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None
            )
        except OSError as exc:
            log.error("cannot start a worker: %s", exc.strerror)
            return None
        self._children.add(child)
        try:
            out, _ = child.communicate(json.dumps(request).encode())
        finally:
            self._children.discard(child)
        try:
            result = json.loads(out.decode() or "null")
        except ValueError:
            result = None
        if not isinstance(result, dict):
            log.error("the worker ended without a result (exit %s)", child.returncode)
            return None
        return result

    def _housekeeping(self) -> None:
        if self._stop:
            return
        result = self._call_worker({"action": "housekeeping"})
        if result is not None and result.get("error"):
            log.error("daily housekeeping failed: %s", result["error"])
        elif result is not None:
            log.info("daily housekeeping done: %s", result.get("retention", ""))

    def _deep_check(self) -> None:
        assert self.settings is not None
        for st in list(self.orgs.values()):
            if self._stop:
                return
            if deep_due(utcnow(), st.zone, self.settings.daemon.deep_hour, st.last_deep_day):
                self._enqueue(st.org_id)

    # Runs of different orgs proceed side by side (up to `[daemon] max_parallel` worker
    # processes), so no org waits behind a long one. The scheduler only marks orgs due; the
    # loop starts their runs and applies their results, so the scheduler is touched by one thread.

    def _enqueue(self, org_id: int) -> None:
        """Mark an org due (a scheduled job or a deep check); started by ``_dispatch``."""
        if org_id not in self._running and org_id not in self._due:
            self._due.append(org_id)

    def _dispatch(self) -> None:
        assert self.settings is not None
        limit = max(1, self.settings.daemon.max_parallel)
        while self._due and len(self._running) < limit and not self._stop:
            self._start_org(self._due.popleft())

    def _describe_running(self) -> str:
        names = [self.orgs[o].name for o in self._running if o in self.orgs]
        return f"syncing {', '.join(names)}" if names else "idle"

    def _start_org(self, org_id: int) -> None:
        """Start one sync of one org and its alert check, in a worker, on a thread."""
        st = self.orgs.get(org_id)
        if st is None or self._stop:
            return
        assert self.settings is not None
        deep = deep_due(utcnow(), st.zone, self.settings.daemon.deep_hour, st.last_deep_day)
        st.last_started = utcnow()
        st.runs += 1
        request = {
            "action": "run",
            "org_id": org_id,
            "deep": deep,
            "today": self.options.today.isoformat() if self.options.today else None,
            "interval_seconds": self.interval + self.jitter,
            "trouble": st.trouble,
        }

        def work() -> None:
            try:
                result = self._call_worker(request)
            except Exception as exc:  # never let a thread die silently
                log.error("%s: the run could not start: %s", st.name, exc)
                result = None
            self._done.put((org_id, result))
            self._wake()

        thread = threading.Thread(target=work, name=f"aiq-org-{org_id}", daemon=True)
        self._running[org_id] = thread
        self._state = self._describe_running()
        self._write_status()
        thread.start()

    def _collect(self) -> None:
        """Apply the results of runs that ended (on the loop's thread)."""
        while True:
            try:
                org_id, result = self._done.get_nowait()
            except queue.Empty:
                return
            thread = self._running.pop(org_id, None)
            if thread is not None:
                thread.join()
            self._finish_org(org_id, result)

    def _finish_org(self, org_id: int, result: dict[str, Any] | None) -> None:
        st = self.orgs.get(org_id)
        if st is None:
            return
        st.last_ended = utcnow()
        self._state = self._describe_running()
        if result is None:
            st.last_status, st.last_error = "failed", "the worker ended without a result"
        else:
            st.last_status, st.last_error = result.get("status"), result.get("error")
            st.trouble = dict(result.get("trouble") or {})
            if result.get("mode") in ("deep", "full"):
                st.last_deep_day = utcnow().replace(tzinfo=UTC).astimezone(_zone(st.zone)).date()
        if st.last_status == "failed":
            self.failures.appendleft(
                {"org": st.name, "at": _iso(st.last_started), "error": st.last_error}
            )
        if st.next_run is not None:
            # A run (scheduled or deep) counts as the org's interval run.
            st.next_run = utcnow() + timedelta(seconds=self._next_interval())
        if result is not None and "orgs" in result:
            self._refresh_orgs(result["orgs"])
        self._write_status()

    # --- status ---------------------------------------------------------------------------------

    def _write_status(self) -> None:
        if self.settings is None:
            return
        orgs = []
        for st in self.orgs.values():
            next_run = _iso(st.next_run)
            orgs.append(
                {
                    "org_id": st.org_id,
                    "org": st.name,
                    "last_run_at": _iso(st.last_started),
                    "last_run_ended_at": _iso(st.last_ended),
                    "last_status": st.last_status,
                    "last_error": st.last_error,
                    "next_run_at": next_run,
                    "runs": st.runs,
                }
            )
        doc = {
            "pid": os.getpid(),
            "started_at": _iso(self.started_at),
            "updated_at": _iso(utcnow()),
            "state": self._state,
            "interval_seconds": self.interval,
            "jitter_seconds": self.jitter,
            "deep_hour": self.settings.daemon.deep_hour,
            "orgs": orgs,
            "recent_failures": list(self.failures),
        }
        try:
            write_status(self.status_path(), doc)
        except OSError as exc:
            log.warning("cannot write the status file %s: %s", self.status_path(), exc.strerror)

    # --- the loop -------------------------------------------------------------------------------

    def _reload_settings(self) -> None:
        self._reload = False
        try:
            fresh = self._load_settings()
        except AiqError as exc:
            log.error("configuration not reloaded: %s", exc)
            return
        old = self.interval, self.jitter
        self.settings = fresh
        log.info("configuration reloaded")
        self._describe_settings()
        if (self.interval, self.jitter) != old:
            self._build_schedule()
        else:
            self._refresh_orgs()

    def run(self) -> int:
        """Run until stopped; returns the exit code (0 on a requested stop)."""
        self.settings = self._load_settings()
        if not self.settings.database.url:
            self.settings.ensure_dirs()
        self._install_signals()
        pid = PidFile(self.pidfile_path())
        pid.acquire()
        watchdog = sdnotify.watchdog_seconds()
        try:
            log.info("aiq daemon started (pid %d)", os.getpid())
            self._write_status()
            self._describe_settings()
            self._build_schedule()
            self._state = "idle"
            self._write_status()
            sdnotify.notify("READY=1\nSTATUS=idle")
            assert self._scheduler is not None
            while not self._stop:
                if self._reload:
                    self._reload_settings()
                self._scheduler.run_pending()
                self._enqueue_due()
                self._collect()
                self._dispatch()
                if (
                    self.options.once
                    and all(st.runs for st in self.orgs.values())
                    and not self._running
                    and not self._due
                ):
                    break
                if self._stop:
                    break
                if watchdog:
                    sdnotify.notify("WATCHDOG=1")
                idle = self._seconds_to_next_run()
                wait = MAX_SLEEP if idle is None else min(max(idle, 0.0), MAX_SLEEP)
                if watchdog:
                    wait = min(wait, watchdog)
                sdnotify.notify(f"STATUS=idle; {len(self.orgs)} practices")
                self._sleep(wait)
        finally:
            # A stop reaches the workers as SIGTERM: each ends after its current batch.
            for thread in list(self._running.values()):
                thread.join()
            self._collect()
            self._state = "stopped"
            sdnotify.notify("STOPPING=1")
            self._write_status()
            pid.release()
            log.info("aiq daemon stopped")
        return 0


def default_pidfile(settings: Settings) -> Path:
    """The pidfile in the data directory."""
    return settings.data_dir / "daemon.pid"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def setup_logging(log_file: Path | None, debug: bool = False) -> None:
    """Plain lines on stderr, or appended to ``log_file``; secrets redacted."""
    from logging.handlers import WatchedFileHandler

    from aiq.observability import SecretFilter, install_log_redaction

    install_log_redaction()
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = WatchedFileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for noisy in ("httpx", "httpcore", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
