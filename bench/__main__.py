"""Run every benchmark in turn: `python -m bench` (or `make bench`). Each writes its section of
docs/benchmarks.md with the machine and the date. One benchmark: `python -m bench.bench_sync`."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "bench_startup",
    "bench_sandbox",
    "bench_sync",
    "bench_reports",
    "bench_export",
    "bench_daemon",
    "bench_network",  # about 25 minutes: a full sync at 60 requests a minute (`limited`)
    "bench_storm",  # about 25 minutes: twenty syncs in a fault storm on each database
    "bench_patient_pass",  # about 35 minutes: the nightly patient pass, 20 of them at `limited`
)


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"== {name}", file=sys.stderr, flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
