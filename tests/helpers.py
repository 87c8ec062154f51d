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


def login(db_url: str, base_url: str, email: str, password: str, *extra: str) -> None:
    """`aiq login` in this process, for tests about what runs after it (the syncs and daemons
    that use the sign-in are the real processes under test): a process would cost a second of
    start-up for nothing. As in those processes' tests, no OS keyring is used: the master key is
    the data directory's key file, which the children find."""
    import contextlib
    import io

    import keyring
    from keyring.backends import fail

    previous, stdin, err = keyring.get_keyring(), sys.stdin, io.StringIO()
    keyring.set_keyring(fail.Keyring())
    sys.stdin = io.StringIO(password + "\n")
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = run(
                ["--db", db_url, "login", "--email", email, "--password-stdin",
                 "--base-url", base_url, *extra]
            )  # fmt: skip
    finally:
        sys.stdin = stdin
        keyring.set_keyring(previous)
    assert code == 0, err.getvalue()


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
