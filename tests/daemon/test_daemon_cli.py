"""`aiq daemon start|stop|status|install`, the pidfile, sd_notify, SIGHUP, and `aiq alerts`."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest

from aiq.daemon.pidfile import PidFile, running
from aiq.daemon.runner import deep_due
from aiq.daemon.service import cron_schedules, merge_crontab, systemd_timer_units
from aiq.errors import Locked, UsageError
from tests.helpers import aiq, aiq_process


def test_start_status_stop_in_the_background(tmp_path: Path) -> None:
    started = aiq_process("daemon", "start", "--interval-seconds", "60", env=dict(os.environ))
    assert started.code == 0, started.err
    assert "aiq daemon started (pid" in started.err
    try:
        status = aiq_process("daemon", "status", "--format", "json", env=dict(os.environ))
        assert status.code == 0, status.err
        doc = json.loads(status.out)
        assert doc["running"] and doc["pid"] > 0 and doc["uptime"]
        assert doc["schedule"].startswith("1 min")
        table = aiq_process("daemon", "status", env=dict(os.environ))
        assert f"running, pid {doc['pid']}" in table.out
        again = aiq_process("daemon", "start", env=dict(os.environ))
        assert again.code == 5 and "already running" in again.err
    finally:
        stopped = aiq_process("daemon", "stop", env=dict(os.environ))
    assert stopped.code == 0, stopped.err
    assert f"stopped (pid {doc['pid']})" in stopped.err
    after = aiq_process("daemon", "status", "--format", "json", env=dict(os.environ))
    # (Exit code 1 once aiq.cli.run returns the code of typer.Exit raised by a command.)
    assert json.loads(after.out)["running"] is False
    log = (tmp_path / "data" / "daemon.log").read_text()
    assert "aiq daemon started" in log and "aiq daemon stopped" in log
    assert aiq_process("daemon", "stop", env=dict(os.environ)).code == 0  # idempotent


def test_a_stale_pidfile_is_harmless_and_a_held_one_refuses(tmp_path: Path) -> None:
    path = tmp_path / "d.pid"
    path.write_text('{"pid": 999999, "host": "gone", "started_at": "2020-01-01"}')
    assert running(path) is None
    with PidFile(path):
        holder = running(path)
        assert holder is not None and holder.pid == os.getpid()
        with pytest.raises(Locked, match="already running"):
            PidFile(path).acquire()
    assert running(path) is None


def test_sd_notify_ready_watchdog_stopping_and_sighup_reload(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=address, WATCHDOG_USEC="1000000")
    log = tmp_path / "run.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiq", "daemon", "run", "--log-file", str(log)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seen: list[str] = []

        def until(word: str) -> None:
            while not any(word in m for m in seen):
                seen.append(sock.recv(4096).decode())

        until("READY=1")
        until("WATCHDOG=1")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while "configuration reloaded" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        until("STOPPING=1")
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        sock.close()
    assert "SIGTERM received" in log.read_text()


def test_install_prints_systemd_units_and_a_crontab_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key = tmp_path / "master-key.cred"
    unit = aiq(capsys, "daemon", "install", "--systemd", "--print", "--key-credential", str(key))
    assert unit.code == 0, unit.err
    assert "Type=notify" in unit.out and "daemon run" in unit.out
    assert f"LoadCredentialEncrypted=aiq-master-key:{key}" in unit.out
    assert "WatchdogSec=" in unit.out and "ExecReload=/bin/kill -HUP $MAINPID" in unit.out
    assert f"AIQ_DATA_DIR={tmp_path / 'data'}" in unit.out

    timer = aiq(capsys, "daemon", "install", "--systemd", "--timer", "--print")
    assert "# aiq-sync.timer" in timer.out and "OnUnitActiveSec=30min" in timer.out
    assert "SuccessExitStatus=5" in timer.out and "alerts check --quiet" in timer.out
    assert "ExecStartPost" not in timer.out  # skipped by systemd when the sync fails

    cron = aiq(capsys, "daemon", "install", "--cron", "--print")
    assert cron.code == 0, cron.err
    line = cron.out.strip().splitlines()[-1]
    assert line.startswith("*/30 * * * * ") and "sync --quiet" in line

    written = aiq(capsys, "daemon", "install", "--systemd", "--dir", str(tmp_path / "units"))
    assert written.code == 0 and (tmp_path / "units" / "aiq.service").exists()
    assert aiq(capsys, "daemon", "install", "--print").code == 2  # neither --systemd nor --cron


def test_schedule_helpers() -> None:
    assert cron_schedules(5) == ["*/5 * * * *"] and cron_schedules(120) == ["0 */2 * * *"]
    marker = "# aiq (written by aiq daemon install --cron)"
    old = f"MAILTO=me\n{marker}\n*/5 * * * * x -m aiq sync --quiet\n"
    assert merge_crontab(old, [marker, "new"]) == f"MAILTO=me\n{marker}\nnew\n"
    # 03:00 in Phoenix (no DST) is 10:00 UTC.
    at = datetime(2026, 11, 26, 10, 15)
    assert deep_due(at, "America/Phoenix", 3, None)
    assert not deep_due(at, "America/Phoenix", 3, date(2026, 11, 26))
    assert not deep_due(at, "America/Chicago", 3, None)  # 04:15 there


def test_alerts_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert aiq(capsys, "alerts", "list").err.strip().endswith("No alerts yet.")
    assert aiq(capsys, "alerts", "list", "--open", "--format", "json").out.strip() == "[]"
    muted = aiq(capsys, "alerts", "mute", "anomaly", "--for", "7d")
    assert muted.code == 0 and "anomaly alerts are muted until" in muted.err
    assert aiq(capsys, "alerts", "mute", "nonsense").code == 2
    assert aiq(capsys, "alerts", "mute", "stale", "--for", "soon").code == 2
    assert "sent again" in aiq(capsys, "alerts", "unmute", "anomaly").err
    assert "Email alerts are off" in aiq(capsys, "alerts", "email", "off").err
    assert "Email alerts are on" in aiq(capsys, "alerts", "email", "on").err
    none = aiq(capsys, "alerts", "test")
    assert none.code == 2 and "no notifier is configured" in none.err
    assert aiq(capsys, "alerts", "check").code == 0


def test_the_timer_checks_alerts_after_a_failed_sync_too() -> None:
    service, _ = systemd_timer_units(env={}, key=None, user=None, interval_minutes=45)
    settings = [
        line.partition("=")
        for line in service.text.splitlines()
        if "=" in line and not line.startswith("#")
    ]
    execs = {key: value for key, _, value in settings if key.startswith("Exec")}
    # ExecStartPost= runs only when ExecStart= succeeded; ExecStopPost= runs however it ended.
    assert set(execs) == {"ExecStart", "ExecStopPost"}
    assert execs["ExecStart"].endswith(" -m aiq sync --quiet")
    assert execs["ExecStopPost"].endswith(" -m aiq alerts check --quiet")
    assert ("TimeoutStopSec", "=", "300") in settings  # room to send the alert


def _cron_values(field: str, top: int) -> set[int]:
    """The values a crontab field matches (the forms cron accepts that aiq writes)."""
    out: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = 0, top
        elif "-" in span:
            first, last = (int(v) for v in span.split("-"))
        else:
            first = last = int(span)
        out.update(range(first, last + 1, int(step or 1)))
    return out


def _cron_runs(lines: list[str], days: int) -> list[int]:
    """Every minute (from midnight of the first day) at which one of ``lines`` fires."""
    runs: list[int] = []
    for line in lines:
        minute, hour, dom, month, dow = line.split()[:5]
        assert (dom, month, dow) == ("*", "*", "*")
        minutes, hours = _cron_values(minute, 59), _cron_values(hour, 23)
        assert minutes <= set(range(60)) and hours <= set(range(24))
        runs += [d * 1440 + h * 60 + m for d in range(days) for h in sorted(hours) for m in minutes]
    return sorted(runs)


def test_a_cron_schedule_keeps_its_interval_exactly_or_is_refused() -> None:
    kept = []
    for interval in range(1, 1441):  # every interval config.toml allows
        if 1440 % interval:
            with pytest.raises(UsageError, match="divides a day") as info:
                cron_schedules(interval)
            # It names intervals that work, each of which does.
            named = {int(n) for n in re.findall(r"\b(\d+)\b", str(info.value))} - {interval}
            assert named and all(1440 % n == 0 for n in named), (interval, named)
            continue
        lines = cron_schedules(interval)
        assert len(lines) <= 12, (interval, lines)
        runs = _cron_runs(lines, days=7)
        assert len(runs) == len(set(runs)), f"{interval}: two lines fire in the same minute"
        assert runs[0] == 0
        gaps = {b - a for a, b in itertools.pairwise(runs)}
        assert gaps == {interval}, (interval, lines, sorted(gaps))  # across hours and midnight
        kept.append(interval)
    assert {5, 10, 15, 30, 45, 60, 90, 120, 1440} <= set(kept) and 7 not in kept


@pytest.mark.parametrize(("interval", "code"), [(45, 0), (90, 0), (7, 2), (100, 2)])
def test_install_cron_writes_several_lines_or_refuses(
    capsys: pytest.CaptureFixture[str], isolated_dirs: Path, interval: int, code: int
) -> None:
    cfg = isolated_dirs / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f"[daemon]\ninterval_minutes = {interval}\n")
    cfg.chmod(0o600)
    r = aiq(capsys, "daemon", "install", "--cron", "--print")
    assert r.code == code, r.err
    if code:
        assert r.err.count("\n") == 1 and "Traceback" not in r.err
        assert f"every {interval} minutes" in r.err and "--systemd" in r.err
        return
    lines = [line for line in r.out.splitlines() if not line.startswith("#")]
    assert _cron_runs(lines, days=2)[:3] == [0, interval, 2 * interval]
    assert all("sync --quiet" in line for line in lines)
