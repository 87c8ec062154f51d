"""Shared pieces of the benchmarks: a sandbox in its own process, machine facts, the report file."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"
TODAY = date(2026, 11, 26)
EMAIL, PASSWORD = "owner@glowmedspa.example", "sandbox-password"
ORG_NAME = "bench"
"""The name of the practice a benchmark syncs into its database (``prepare_db``)."""


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). ru_maxrss is inherited from the parent across fork
    and exec on Linux, so a benchmark parent holding much memory would show up in its children."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sandbox_process(
    clinics: int, years: int, seed: int = 42, extra_args: Sequence[str] = ()
) -> Iterator[str]:
    """Serve a sandbox from a separate process (so it does not share our GIL); yields its URL.

    ``extra_args`` go to `aiq sandbox serve` as they are, e.g. ``("--profile", "internet")``."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiq",
            "sandbox",
            "serve",
            "--port",
            str(port),
            "--clinics",
            str(clinics),
            "--years",
            str(years),
            "--seed",
            str(seed),
            "--today",
            TODAY.isoformat(),
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"sandbox exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            try:
                httpx.post(
                    f"{url}/api/login", json={"email": EMAIL, "password": PASSWORD}, timeout=2
                )
                break
            except httpx.TransportError:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def machine() -> str:
    """One line: CPU model, cores, memory, OS and Python."""
    cpu = "unknown CPU"
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"model name\s*:\s*(.+)", text)
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, AttributeError):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores{mem}; {system}; Python {platform.python_version()}"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of docs/benchmarks.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS_MD.write_text(text)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (every thread)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> tuple[float, float]:
    """This process's RSS now and its peak so far (VmRSS, VmHWM), in MB (0 when unknown)."""
    now = peak = 0.0
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    now = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return now, peak


def sandbox_admin(base_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request to the sandbox's admin API (``/__sandbox/...``), its JSON answer."""
    response = httpx.request(method, f"{base_url}{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def revision(paths: Sequence[str] = ("aiq/ar", "aiq/sync", "aiq/store", "aiq/sandbox")) -> str:
    """The commit measured, and the files under ``paths`` (by default what a sync runs, the
    sandbox included) that the working tree had changed: work in progress the run measured too."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = [line[3:] for line in git("status", "--porcelain", "--", *paths).splitlines()]
    if not changed:
        return f"commit {head}"
    return f"commit {head} with uncommitted changes (work in progress) to {', '.join(changed)}"


def seconds(s: float) -> str:
    """A duration for a table: seconds, and minutes too from two minutes on."""
    return f"{s:.1f} s" if s < 120 else f"{s:.0f} s ({s / 60:.1f} min)"


def prepare_db(url: str, base_url: str) -> int:
    """Give the empty database at ``url`` aiq's schema and the bench practice's row (the
    sandbox's default account, served at ``base_url``); returns the practice's id."""
    import datetime as dt

    from sqlalchemy import insert

    from aiq.store.db import open_store
    from aiq.store.models import Org, table_of

    store = open_store(url, migrate=False)
    try:
        store.upgrade()
        with store.begin() as conn:
            key = conn.execute(
                insert(table_of(Org)).values(
                    name=ORG_NAME,
                    ar_account_id=4411,
                    ar_base_url=base_url,
                    currency="USD",
                    status="active",
                    created_at=dt.datetime(2026, 1, 1),
                )
            ).inserted_primary_key
    finally:
        store.dispose()
    assert key is not None
    return int(key[0])


def rate_limit(network: dict[str, Any]) -> tuple[float, int]:
    """A sandbox network profile's rate (requests a second) and burst (the bucket's size), from
    ``GET /__sandbox/network``."""
    per_minute = float(network["rate_limit_per_minute"])
    burst = network["burst"] if network["burst"] is not None else max(1, int(per_minute))
    return per_minute / 60.0, int(burst)
