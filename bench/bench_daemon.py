"""Benchmark the idle daemon: memory and CPU between runs, after a real first sync.

    .venv/bin/python -m bench.bench_daemon [--clinics 3] [--years 2] [--idle 60] [--db URL]
                                           [--no-write]

Serves a sandbox from its own process, signs in with the real `aiq login`, starts the real
`aiq daemon run` (interval 10 minutes, so the catch-up sync runs at once and the next one not
during the measurement), waits for the first sync to finish, then samples the daemon's RSS and
CPU time from /proc for ``--idle`` seconds. The target: under 80 MB RSS and near zero CPU while
idle. Figures go to docs/benchmarks.md (section bench_daemon) unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.common import EMAIL, PASSWORD, TODAY, machine, sandbox_process, write_section

TICKS = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    """Current and peak resident memory of ``pid``, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    parts = stat[stat.rindex(")") + 2 :].split()
    return (int(parts[11]) + int(parts[12])) / TICKS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clinics", type=int, default=3)
    ap.add_argument("--years", type=int, default=2)
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of idle measured")
    ap.add_argument("--db", default=None, help="database URL (default: a SQLite file)")
    ap.add_argument("--no-write", action="store_true", help="print; do not touch benchmarks.md")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="aiq-bench-daemon-"))
    env = dict(
        os.environ,
        AIQ_CONFIG_DIR=str(work / "config"),
        AIQ_DATA_DIR=str(work / "data"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    if args.db:
        env["AIQ_DATABASE_URL"] = args.db
    aiq = [sys.executable, "-m", "aiq"]
    with sandbox_process(args.clinics, args.years) as url:
        login = subprocess.run(
            [*aiq, "login", "--email", EMAIL, "--password-stdin", "--base-url", url],
            input=PASSWORD + "\n", text=True, capture_output=True, env=env, check=False,
        )  # fmt: skip
        if login.returncode != 0:
            raise SystemExit(f"login failed: {login.stderr}")
        log = work / "daemon.log"
        started = time.monotonic()
        proc = subprocess.Popen(
            [*aiq, "daemon", "run", "--interval-seconds", "600", "--today", TODAY.isoformat(),
             "--log-file", str(log)],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            while " sync ok " not in (log.read_text() if log.exists() else ""):
                if proc.poll() is not None or time.monotonic() - started > 900:
                    raise SystemExit(f"the first sync did not finish:\n{log.read_text()}")
                time.sleep(0.2)
            first_sync = time.monotonic() - started
            time.sleep(2.0)  # let the alert check after the sync finish
            rss0, peak = rss_mb(proc.pid)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            samples = []
            while time.monotonic() - t0 < args.idle:
                time.sleep(1.0)
                samples.append(rss_mb(proc.pid)[0])
            cpu = cpu_seconds(proc.pid) - cpu0
            elapsed = time.monotonic() - t0
        finally:
            proc.terminate()
            proc.wait(30)
    idle_rss = max(samples)
    cpu_pct = cpu / elapsed * 100
    db = "Postgres" if args.db and args.db.startswith("postgres") else "SQLite"
    body = f"""## Idle daemon (`bench/bench_daemon.py`)

Measured {date.today()} on {machine()},
`--clinics {args.clinics} --years {args.years}`, {db}, sandbox date {TODAY}.

| figure | value |
|---|---|
| first sync (catch-up at start, whole history), wall | {first_sync:.1f} s |
| peak RSS of the daemon process | {peak:.0f} MB |
| RSS idle after the sync (max over {elapsed:.0f} s) | **{idle_rss:.0f} MB** ({rss0:.0f} at first) |
| CPU while idle | **{cpu:.2f} s over {elapsed:.0f} s ({cpu_pct:.2f} %)** |

The target is under 80 MB RSS and near zero CPU between runs. Between runs the daemon sleeps in
`select()` until the next job or a signal; each run is a worker child process, so the
daemon holds none of the memory a sync needed.
"""
    print(body)
    if not args.no_write:
        write_section("bench_daemon", body)
        print("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
