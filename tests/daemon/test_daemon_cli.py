"""`aiq daemon start|stop|status|install`, the pidfile, sd_notify, SIGHUP, and `aiq alerts`."""

from __future__ import annotations

import json
import os
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
from aiq.daemon.service import cron_schedule, merge_crontab
from aiq.errors import Locked
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

    cron = aiq(capsys, "daemon", "install", "--cron", "--print")
    assert cron.code == 0, cron.err
    line = cron.out.strip().splitlines()[-1]
    assert line.startswith("*/30 * * * * ") and "sync --quiet" in line

    written = aiq(capsys, "daemon", "install", "--systemd", "--dir", str(tmp_path / "units"))
    assert written.code == 0 and (tmp_path / "units" / "aiq.service").exists()
    assert aiq(capsys, "daemon", "install", "--print").code == 2  # neither --systemd nor --cron


def test_schedule_helpers() -> None:
    assert cron_schedule(5) == "*/5 * * * *" and cron_schedule(120) == "0 */2 * * *"
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
