"""Small helpers for driving the real CLI in tests."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from aiq.cli import run


@dataclass
class Result:
    """What one CLI invocation produced."""

    code: int
    out: str
    err: str


def aiq(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Run `aiq ARGS` in-process through the real entry point and capture its output."""
    capsys.readouterr()
    code = run(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def aiq_process(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 120
) -> Result:
    """Run `python -m aiq ARGS` as a separate process."""
    proc = subprocess.run(
        [sys.executable, "-m", "aiq", *args],
        capture_output=True,
        text=True,
        env=env,
        input=input,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)
