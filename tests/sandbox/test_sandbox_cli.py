"""`aiq sandbox serve`: starts fast, documents every option, serves until interrupted."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import typer
import typer.main

from aiq.commands import sandbox as sandbox_commands

# aiq/cli.py mounts the group as `aiq sandbox`; these tests mount it the same way on their own.
_ROOT = (
    "import typer; from aiq.commands import sandbox; root = typer.Typer();"
    "root.add_typer(sandbox.app, name='sandbox'); root.callback()(lambda: None); root()"
)


def test_importing_the_command_loads_no_server_code() -> None:
    code = (
        "import sys, aiq.commands.sandbox; "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_command_and_option_has_help() -> None:
    root = typer.Typer()
    root.add_typer(sandbox_commands.app, name="sandbox")
    root.callback()(lambda: None)
    group = typer.main.get_command(root).commands["sandbox"]  # type: ignore[attr-defined]
    assert group.help
    for command in group.commands.values():
        assert command.help
        for param in command.params:
            assert getattr(param, "help", None), f"{command.name} {param.name} has no help"


def test_serve_prints_its_url_and_sign_in_and_serves() -> None:
    args = [
        "sandbox",
        "serve",
        "--port",
        "0",
        "--clinics",
        "1",
        "--years",
        "1",
        "--today",
        "2026-11-26",
        "--otp",
        "654321",
    ]
    with subprocess.Popen(
        [sys.executable, "-c", _ROOT, *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            assert proc.stderr is not None
            lines: list[str] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any("Ctrl-C" in ln for ln in lines):
                lines.append(proc.stderr.readline())
            text = "".join(lines)
            url = re.search(r"http://127\.0\.0\.1:\d+", text)
            assert url, text
            assert "owner@glowmedspa.example / sandbox-password" in text and "654321" in text
            with httpx.Client(base_url=url.group(0)) as client:
                body = {"email": "owner@glowmedspa.example", "password": "sandbox-password"}
                assert client.post("/api/login", json=body).json()["data"]["requires_2fa"]
                assert client.get("/__sandbox/state").json()["now"] == "2026-11-26 12:00:00"
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
    assert proc.returncode in (0, 130), "Ctrl-C stops the server (130: interrupted)"
