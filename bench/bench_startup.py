"""Benchmark aiq's start-up: `--version`, `--help`, a completion request and a revenue report,
each against a bare `python -c pass` measured in the same run.

    .venv/bin/python -m bench.bench_startup [--runs 15] [--no-write]

Every measure is a new process, as a user runs it: the `aiq` console script (the entry point
`aiq.startup:main`), best and median wall time and CPU time (user + system, from the children's
resource usage) of N runs after a warm-up. Help and completion are measured twice: the first
request (nothing recorded yet, everything imported and rendered) and the replays after it.
The revenue report runs on a small sandbox practice (1 clinic, 1 year) synced into SQLite and into
a Postgres schema. Targets (issue 17): `--help` and `--version` under 3x the bare interpreter,
the report under 0.5 s wall on either database.

Figures go to docs/benchmarks.md (section bench_startup) with the machine, its load and the date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.bench_sync import pg_schema_url, run_child
from bench.common import TODAY, machine, sandbox_process, write_section

RATIO_TARGET = 3.0
REPORT_TARGET_SECONDS = 0.5
MONTH = "2026-10"


def _aiq_command() -> list[str]:
    script = Path(sys.executable).parent / "aiq"
    return [str(script)] if script.exists() else [sys.executable, "-m", "aiq"]


def _once(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def measure(cmd: Sequence[str], env: dict[str, str], runs: int) -> dict[str, float]:
    """Best and median wall and CPU seconds of ``runs`` runs after a warm-up."""
    _once(cmd, env)
    walls, cpus = zip(*(_once(cmd, env) for _ in range(runs)), strict=True)
    return {
        "best": min(walls),
        "median": statistics.median(walls),
        "cpu_best": min(cpus),
        "cpu_median": statistics.median(cpus),
    }


def first_request(cmd: Sequence[str], env: dict[str, str], runs: int) -> dict[str, float]:
    """The same figures for a request answered for the first time (an empty cache each run)."""
    walls, cpus = [], []
    for i in range(runs):
        with TemporaryDirectory() as cache:
            wall, cpu = _once(cmd, {**env, "AIQ_CACHE_DIR": str(Path(cache) / str(i))})
        walls.append(wall)
        cpus.append(cpu)
    return {
        "best": min(walls),
        "median": statistics.median(walls),
        "cpu_best": min(cpus),
        "cpu_median": statistics.median(cpus),
    }


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    args = parser.parse_args()
    aiq = _aiq_command()
    load_before = _load()
    results: dict[str, dict[str, float]] = {}
    with TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "COLUMNS": "100",
            "AIQ_CONFIG_DIR": str(Path(tmp) / "config"),
            "AIQ_DATA_DIR": str(Path(tmp) / "data"),
            "AIQ_CACHE_DIR": str(Path(tmp) / "cache"),
        }
        complete_env = {
            **env,
            "_AIQ_COMPLETE": "complete_bash",
            "COMP_WORDS": "aiq re",
            "COMP_CWORD": "1",
        }
        results["python -c pass"] = measure([sys.executable, "-c", "pass"], env, args.runs)
        results["aiq --version"] = measure([*aiq, "--version"], env, args.runs)
        results["aiq --help (first time)"] = first_request([*aiq, "--help"], env, args.runs)
        results["aiq --help"] = measure([*aiq, "--help"], env, args.runs)
        results["aiq report revenue --help"] = measure(
            [*aiq, "report", "revenue", "--help"], env, args.runs
        )
        results["completion `aiq re<TAB>` (first time)"] = first_request(aiq, complete_env, 5)
        results["completion `aiq re<TAB>`"] = measure(aiq, complete_env, args.runs)
        results["python -c pass (again)"] = measure([sys.executable, "-c", "pass"], env, args.runs)
        with sandbox_process(1, 1) as base:
            for dialect in ("sqlite", "postgres"):
                url = (
                    f"sqlite:///{Path(tmp) / 'startup.db'}"
                    if dialect == "sqlite"
                    else pg_schema_url("bench_startup")
                )
                run_child(url, base, reset=True)
                report = [
                    *aiq,
                    "--db",
                    url,
                    "report",
                    "revenue",
                    "--month",
                    MONTH,
                    "--today",
                    TODAY.isoformat(),
                ]
                results[f"aiq report revenue ({dialect})"] = measure(report, env, args.runs)
    load_after = _load()
    for name, figures in results.items():
        print(f"{name}: {figures}", file=sys.stderr)

    bare = min(results["python -c pass"]["best"], results["python -c pass (again)"]["best"])
    bare_cpu = min(
        results["python -c pass"]["cpu_best"], results["python -c pass (again)"]["cpu_best"]
    )

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms"

    def verdict(name: str, m: dict[str, float]) -> str:
        if name.startswith("aiq report"):
            return "meets" if m["best"] < REPORT_TARGET_SECONDS else "misses"
        if name in ("aiq --version", "aiq --help"):
            ok = m["best"] / bare < RATIO_TARGET and m["cpu_best"] / bare_cpu < RATIO_TARGET
            return "meets" if ok else "misses"
        return ""

    rows = [
        f"| {name} | {ms(m['best'])} / {ms(m['median'])} | {m['best'] / bare:.1f}x "
        f"| {ms(m['cpu_best'])} / {ms(m['cpu_median'])} | {m['cpu_best'] / bare_cpu:.1f}x "
        f"| {verdict(name, m)} |"
        for name, m in results.items()
    ]
    body = [
        "## Start-up (`bench/bench_startup.py`)",
        "",
        f"Measured {dt.date.today()} on {machine()} with `python -m bench.bench_startup` "
        f"(load average {load_before} before, {load_after} after; best / median of "
        f"{args.runs} runs after a warm-up, each a new process of the `aiq` console script; "
        "'first time' runs each start with an empty help and completion cache). Ratios are "
        "best against best of `python -c pass` measured in the same run. Targets (issue 17): "
        f"`--help` and `--version` under {RATIO_TARGET:.0f}x the bare interpreter in wall and "
        f"CPU time, a revenue report under {REPORT_TARGET_SECONDS} s wall on either database "
        "(1 clinic, 1 year, synced from the sandbox).",
        "",
        "| Command | Wall best / median | x bare | CPU best / median | x bare | Target |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "`--version` is answered before Typer or Rich is imported; help and completion are "
        "rendered once and replayed after (`aiq/startup.py`), so only the first request for a "
        "given help page, terminal and aiq version pays for importing the commands and Rich.",
    ]
    text = "\n".join(body)
    print(text)
    if not args.no_write:
        write_section("bench_startup", text)


if __name__ == "__main__":
    main()
