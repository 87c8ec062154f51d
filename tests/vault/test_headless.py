"""Headless use: no D-Bus, no desktop keyring; and the password prompt on a real terminal."""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path

import pytest

from aiq.sandbox.server import RunningSandbox
from tests.vault.fixtures import EMAIL, PASSWORD, REPO, aiq_child


def headless_env(tmp_path: Path) -> dict[str, str]:
    """A server's environment: no D-Bus session, no display, keyring left to detect on its own."""
    drop = ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "PYTHON_KEYRING_BACKEND")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(runtime)  # empty: no session bus socket to find
    return env


def test_headless_login_uses_the_file_key_and_says_so_when_created(
    ar: RunningSandbox, isolated_dirs: Path, tmp_path: Path
) -> None:
    env = headless_env(tmp_path)
    key = isolated_dirs / "data" / "master.key"
    r = aiq_child(
        "login", "--email", EMAIL, "--password-stdin", "--base-url", ar.base_url,
        env=env, input=PASSWORD + "\n",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert r.err.count(str(key)) == 1, r.err
    assert r.err.count("no usable OS keyring") == 1
    assert key.stat().st_mode & 0o777 == 0o600
    assert (isolated_dirs / "data").stat().st_mode & 0o777 == 0o700

    r = aiq_child(
        "login", "--email", EMAIL, "--password-stdin", "--base-url", ar.base_url,
        env=env, input=PASSWORD + "\n",
    )  # fmt: skip
    assert r.code == 0, r.err
    # Which key is used belongs in `aiq status` (and --debug), not on every run.
    assert "Master key" not in r.err

    r = aiq_child("status", env=env)
    assert r.code == 0 and f"the key file {key}" in r.out


def test_headless_sync_uses_the_file_key(
    ar: RunningSandbox, isolated_dirs: Path, tmp_path: Path
) -> None:
    env = headless_env(tmp_path)
    env["AIQ_SYNC_SINCE_MONTHS"] = "1"  # the key is the point here, not how much is synced
    commands = aiq_child("--help", env=env)
    if " sync " not in commands.out:
        pytest.skip("`aiq sync` is not registered yet")
    r = aiq_child(
        "login", "--email", EMAIL, "--password-stdin", "--base-url", ar.base_url,
        env=env, input=PASSWORD + "\n",
    )  # fmt: skip
    assert r.code == 0, r.err
    r = aiq_child("sync", env=env, timeout=300)
    assert r.code == 0, r.err
    assert "Master key" not in r.err
    r = aiq_child("--debug", "sync", env=env, timeout=300)
    assert r.code == 0, r.err
    assert r.err.count("Master key: the key file") == 1, r.err


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX terminal")
def test_password_prompt_does_not_echo(ar: RunningSandbox, isolated_dirs: Path) -> None:
    import pty
    import termios

    env = dict(os.environ)
    code = "import sys\nfrom aiq.cli import run\nsys.exit(run(sys.argv[1:]))\n"
    args = [sys.executable, "-c", code, "login", "--email", EMAIL, "--base-url", ar.base_url]
    pid, fd = pty.fork()
    if pid == 0:  # the child, on the terminal
        os.chdir(REPO)
        os.execve(sys.executable, args, env)
    output = b""

    def read_until(needle: bytes, timeout: float) -> None:
        nonlocal output
        deadline = time.monotonic() + timeout
        while needle not in output.lower() and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    return
                if not chunk:
                    return
                output += chunk

    read_until(b"password", 60)
    assert b"password" in output.lower(), output
    # Type only once the prompt has switched echo off (as a person would, a moment later):
    # input typed before that is flushed by getpass.
    deadline = time.monotonic() + 30
    while termios.tcgetattr(fd)[3] & termios.ECHO and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not termios.tcgetattr(fd)[3] & termios.ECHO, "the password prompt left echo on"
    os.write(fd, PASSWORD.encode() + b"\n")
    read_until(b"signed in for", 60)
    read_until(b"\x00never", 1)  # drain what is left
    for _ in range(300):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail(f"aiq login did not finish: {output!r}")
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert b"signed in for glow med spa" in output.lower()
    assert PASSWORD.encode() not in output
