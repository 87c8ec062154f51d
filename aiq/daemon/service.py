"""The files `aiq daemon install` writes: a systemd service (and timer) or a crontab line.

The systemd service runs `aiq daemon run` with ``Type=notify`` (it says READY once the schedule
is set, and feeds the watchdog); the master key reaches it as a systemd credential
(``LoadCredentialEncrypted=`` for a ``systemd-creds`` file, ``LoadCredential=`` for a key file),
which aiq reads from ``$CREDENTIALS_DIRECTORY/aiq-master-key``. For people who prefer no
long-running process, ``--timer`` writes a oneshot sync service and a timer instead, and cron gets
one line per practice: `aiq sync --quiet` (safe every few minutes: the lock makes an overlapping
run exit 5 quietly) followed by `aiq alerts check --quiet`.
"""

from __future__ import annotations

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
    """``aiq-sync.service`` (oneshot: sync, then check alerts) and ``aiq-sync.timer``."""
    service = [
        "[Unit]",
        "Description=aiq: one sync from Aesthetic Record, then the alert check",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        f"ExecStart={aiq_command()} sync --quiet",
        f"ExecStartPost={aiq_command()} alerts check --quiet",
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


def cron_schedule(interval_minutes: int) -> str:
    """The crontab time fields closest to every ``interval_minutes``."""
    if interval_minutes <= 1:
        return "* * * * *"
    if interval_minutes < 60:
        return f"*/{interval_minutes} * * * *"
    hours = max(1, min(23, round(interval_minutes / 60)))
    return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"


def cron_lines(
    *, env: dict[str, str], interval_minutes: int, orgs: list[str], log_file: Path | None
) -> list[str]:
    """One crontab line per practice (or one when there is a single practice)."""
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()) if v)
    redirect = f" >>{shlex.quote(str(log_file))} 2>&1" if log_file else ""
    targets = [f" --org {shlex.quote(o)}" for o in orgs] if len(orgs) > 1 else [""]
    out = [CRON_MARKER]
    for org in targets:
        command = f"{aiq_command()} sync --quiet{org}; {aiq_command()} alerts check --quiet{org}"
        out.append(
            f"{cron_schedule(interval_minutes)} {prefix + ' ' if prefix else ''}"
            f"sh -c {shlex.quote(command)}{redirect}"
        )
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
