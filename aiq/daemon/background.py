"""`aiq daemon start|stop`: the daemon as a detached background process, without systemd."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiq.daemon.pidfile import Holder, running
from aiq.errors import AiqError, Locked


@dataclass
class Started:
    """A daemon started in the background."""

    pid: int
    log_file: Path


def start(
    pidfile: Path,
    log_file: Path,
    run_args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> Started:
    """Start `aiq daemon run RUN_ARGS` detached; return once it holds its pidfile.

    The child gets its own session (no controlling terminal: closing the shell does not stop it),
    /dev/null for input and output, and its log lines in ``log_file``.
    """
    holder = running(pidfile)
    if holder is not None:
        raise Locked(
            f"an aiq daemon is already running (pid {holder.pid} since {holder.started_at})",
            hint="aiq daemon status shows it; aiq daemon stop stops it",
        )
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    from aiq.daemon.service import aiq_argv, child_env

    args = aiq_argv("daemon", "run", "--pidfile", str(pidfile), "--log-file", str(log_file))
    args += run_args
    with open(os.devnull, "rb") as null_in, open(os.devnull, "wb") as null_out:
        proc = subprocess.Popen(
            args,
            stdin=null_in,
            stdout=null_out,
            stderr=null_out,
            start_new_session=True,
            close_fds=True,
            env=child_env(os.environ if env is None else env),
            cwd="/",
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise AiqError(
                f"the daemon exited at once (exit {code}): {_tail(log_file)}",
                hint=f"see {log_file}",
            )
        holder = running(pidfile)
        if holder is not None and holder.pid == proc.pid:
            # The child lives on after we exit; Popen must not reap or warn about it.
            proc.returncode = 0
            return Started(proc.pid, log_file)
        time.sleep(0.05)
    proc.returncode = 0
    raise AiqError(f"the daemon did not start within {timeout:.0f}s", hint=f"see {log_file}")


def stop(pidfile: Path, *, timeout: float = 30.0) -> Holder | None:
    """Ask the running daemon to stop (SIGTERM) and wait until it has; None when none ran."""
    holder = running(pidfile)
    if holder is None:
        return None
    if holder.pid <= 0:
        raise AiqError(f"{pidfile} is locked but names no pid", hint="stop the daemon by hand")
    try:
        os.kill(holder.pid, signal.SIGTERM)
    except ProcessLookupError:
        return holder
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running(pidfile) is None:
            return holder
        time.sleep(0.05)
    raise AiqError(
        f"the daemon (pid {holder.pid}) did not stop within {timeout:.0f}s",
        hint=f"it may be finishing a batch; wait, or kill -9 {holder.pid}",
    )


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "no log"
