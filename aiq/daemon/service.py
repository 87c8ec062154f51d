"""The files `aiq daemon install` writes: a systemd service (and timer) or a crontab line.

The systemd service runs `aiq daemon run` with ``Type=notify`` (it says READY once the schedule
is set, and feeds the watchdog); the master key reaches it as a systemd credential
(``LoadCredentialEncrypted=`` for a ``systemd-creds`` file, ``LoadCredential=`` for a key file),
which aiq reads from ``$CREDENTIALS_DIRECTORY/aiq-master-key``. For people who prefer no
long-running process, ``--timer`` writes a oneshot sync service (the alert check in
``ExecStopPost=``, so it runs after a failed sync too) and a timer instead, and cron gets a line
per practice (a few when the interval does not divide an hour: see ``cron_schedules``): `aiq sync
--quiet` (safe every few minutes: the lock makes an overlapping run exit 5 quietly) followed by
`aiq alerts check --quiet`.
"""

from __future__ import annotations

import itertools
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiq.vault.keys import SYSTEMD_CREDENTIAL

CRON_MARKER = "# aiq (written by aiq daemon install --cron)"


@dataclass
class ServiceFile:
    """A file to write: its name and its text."""

    name: str
    text: str


def aiq_argv(*args: str) -> list[str]:
    """The command line that starts this aiq with ``args``: the interpreter that runs it now,
    with ``-P -m aiq``.

    Plain ``python -m aiq`` puts the working directory first on ``sys.path``, so started from a
    directory that holds an ``aiq/`` folder (a checkout, an unpacked release) it imports that
    folder instead of the installed aiq. ``-P`` (Python 3.11's "safe path") leaves the working
    directory out and nothing else; unlike ``-I`` it keeps the user site-packages and
    ``PYTHONPATH``, where ``pip install --user`` and some deployments put aiq. Run the child with
    :func:`child_env`, which drops the entries of ``PYTHONPATH`` that name the working directory.
    """
    return [sys.executable, "-P", "-m", "aiq", *args]


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for a child started with :func:`aiq_argv`: ``PYTHONPATH`` keeps its absolute
    entries only (an empty or relative one means the working directory)."""
    out = dict(env)
    path = out.pop("PYTHONPATH", None)
    if path:
        kept = [p for p in path.split(os.pathsep) if p and os.path.isabs(p)]
        if kept:
            out["PYTHONPATH"] = os.pathsep.join(kept)
    return out


def aiq_command() -> str:
    """How a service should start this aiq (:func:`aiq_argv`, as one shell-quoted string)."""
    return shlex.join(aiq_argv())


def _environment(env: dict[str, str]) -> list[str]:
    return [f'Environment="{k}={v}"' for k, v in sorted(env.items()) if v]


def _credential(key: Path | None) -> list[str]:
    if key is None:
        return [
            "# The master key as a systemd credential (see docs/daemon.md), for example:",
            f"# LoadCredentialEncrypted={SYSTEMD_CREDENTIAL}:/etc/aiq/master-key.cred",
        ]
    if key.suffix == ".cred":
        return [f"LoadCredentialEncrypted={SYSTEMD_CREDENTIAL}:{key}"]
    return [f"LoadCredential={SYSTEMD_CREDENTIAL}:{key}"]


def systemd_daemon_unit(
    *, env: dict[str, str], key: Path | None, user: str | None, watchdog_seconds: int = 300
) -> ServiceFile:
    """``aiq.service``: the daemon, ``Type=notify``, restarted when it fails."""
    lines = [
        "[Unit]",
        "Description=aiq: keep Aesthetic Record business data fresh and raise alerts",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={aiq_command()} daemon run",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=60",
        f"WatchdogSec={watchdog_seconds}",
        "Restart=on-failure",
        "RestartSec=30",
    ]
    if user:
        lines.append(f"User={user}")
    lines += _environment(env)
    lines += _credential(key)
    lines += [
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=full",
        "",
        "[Install]",
        "WantedBy=default.target" if not user else "WantedBy=multi-user.target",
        "",
    ]
    return ServiceFile("aiq.service", "\n".join(lines))


def systemd_timer_units(
    *, env: dict[str, str], key: Path | None, user: str | None, interval_minutes: int
) -> list[ServiceFile]:
    """``aiq-sync.service`` (oneshot: sync, then check alerts) and ``aiq-sync.timer``.

    The alert check is ``ExecStopPost=``, which systemd runs however the sync ended: a failed
    sync is exactly when it must run (``ExecStartPost=`` is skipped when ``ExecStart=`` fails).
    """
    service = [
        "[Unit]",
        "Description=aiq: one sync from Aesthetic Record, then the alert check",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        f"ExecStart={aiq_command()} sync --quiet",
        "# The alert check runs after the sync however it ended: a failed sync included.",
        f"ExecStopPost={aiq_command()} alerts check --quiet",
        "TimeoutStopSec=300",
        "SuccessExitStatus=5",
    ]
    if user:
        service.append(f"User={user}")
    service += _environment(env)
    service += _credential(key)
    service.append("")
    timer = [
        "[Unit]",
        "Description=aiq: sync every few minutes",
        "",
        "[Timer]",
        "OnBootSec=2min",
        f"OnUnitActiveSec={interval_minutes}min",
        "RandomizedDelaySec=60",
        "Persistent=true",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ]
    return [
        ServiceFile("aiq-sync.service", "\n".join(service)),
        ServiceFile("aiq-sync.timer", "\n".join(timer)),
    ]


DAY_MINUTES = 24 * 60
CRON_INTERVALS = tuple(n for n in range(1, DAY_MINUTES + 1) if DAY_MINUTES % n == 0)
"""The intervals cron can keep exactly: those that divide a day (1, 2, 3, 4, 5, 6, 8, 9, 10...)."""


def _cron_field(values: list[int], top: int) -> str:
    """A crontab field for ``values`` (sorted) of ``0..top``: ``*``, ``*/n``, ``a-b/n``, a list."""
    if len(values) == top + 1:
        return "*"
    if len(values) >= 2:
        step = values[1] - values[0]
        if all(b - a == step for a, b in itertools.pairwise(values)):
            if values[0] == 0 and values[-1] + step > top and (top + 1) % step == 0:
                return f"*/{step}"  # only where it means what it reads: 0,45 is not "*/45"
            if len(values) >= 3:
                return f"{values[0]}-{values[-1]}/{step}"
    return ",".join(str(v) for v in values)


def cron_schedules(interval_minutes: int) -> list[str]:
    """The crontab time fields that run every ``interval_minutes``, exactly, one per line.

    Cron counts minutes within an hour and hours within a day, so ``*/45`` runs at :00 and :45
    (gaps of 45 then 15 minutes). An interval that divides a day is kept exactly by listing the
    times of day it gives: 45 minutes is ``0,45 */3``, ``30 1-22/3`` and ``15 2-23/3``. One that
    does not divide a day cannot be kept by cron at all and is refused (a usage error that names
    the nearest intervals that work).
    """
    from aiq.errors import UsageError

    if interval_minutes not in CRON_INTERVALS:
        lower = max(n for n in CRON_INTERVALS if n < interval_minutes)
        upper = min((n for n in CRON_INTERVALS if n > interval_minutes), default=None)
        near = f"{lower} or {upper}" if upper else str(lower)
        raise UsageError(
            f"cron cannot sync every {interval_minutes} minutes with equal gaps: use an interval "
            f"that divides a day, such as {near} (or 5, 10, 15, 20, 30, 45, 60, 90, 120...)",
            hint="set [daemon] interval_minutes, or use --systemd, which keeps any interval",
        )
    hours_at: dict[int, list[int]] = {}
    for start in range(0, DAY_MINUTES, interval_minutes):
        hours_at.setdefault(start % 60, []).append(start // 60)
    minutes_for: dict[tuple[int, ...], list[int]] = {}
    for minute, hours in sorted(hours_at.items()):
        minutes_for.setdefault(tuple(hours), []).append(minute)
    # One line per set of hours, in the order of their first run of the day.
    ordered = sorted(minutes_for.items(), key=lambda item: item[0][0] * 60 + item[1][0])
    return [
        f"{_cron_field(minutes, 59)} {_cron_field(list(hours), 23)} * * *"
        for hours, minutes in ordered
    ]


def cron_lines(
    *, env: dict[str, str], interval_minutes: int, orgs: list[str], log_file: Path | None
) -> list[str]:
    """The crontab lines for each practice (for all of them when there is a single one): one
    line, or a few when the interval does not divide an hour (see :func:`cron_schedules`)."""
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()) if v)
    redirect = f" >>{shlex.quote(str(log_file))} 2>&1" if log_file else ""
    targets = [f" --org {shlex.quote(o)}" for o in orgs] if len(orgs) > 1 else [""]
    out = [CRON_MARKER]
    schedules = cron_schedules(interval_minutes)
    for org in targets:
        command = f"{aiq_command()} sync --quiet{org}; {aiq_command()} alerts check --quiet{org}"
        out += [
            f"{schedule} {prefix + ' ' if prefix else ''}sh -c {shlex.quote(command)}{redirect}"
            for schedule in schedules
        ]
    return out


def merge_crontab(current: str, lines: list[str]) -> str:
    """``current`` with any lines aiq wrote before replaced by ``lines``."""
    kept: list[str] = []
    skip = False
    for line in current.splitlines():
        if line == CRON_MARKER:
            skip = True
            continue
        if skip and "-m aiq sync" in line:
            continue
        skip = False
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join([*kept, *lines]) + "\n" if kept else "\n".join(lines) + "\n"
