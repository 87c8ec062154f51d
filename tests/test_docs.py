"""Docs cannot go stale: every command has help text and appears in docs/."""

from __future__ import annotations

from pathlib import Path

import typer.main

from aiq.cli import app

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _commands() -> list[tuple[str, object]]:
    root = typer.main.get_command(app)
    found: list[tuple[str, object]] = []

    def walk(cmd: object, path: str) -> None:
        subs = getattr(cmd, "commands", None)
        if path:
            found.append((path, cmd))
        if subs:
            for name, sub in subs.items():
                walk(sub, f"{path} {name}".strip())

    walk(root, "")
    return found


def test_every_command_has_help() -> None:
    missing = [path for path, cmd in _commands() if not (getattr(cmd, "help", None) or "").strip()]
    assert not missing, f"commands without help text: {missing}"


def test_every_option_has_help() -> None:
    missing = []
    for path, cmd in _commands():
        for param in getattr(cmd, "params", []):
            if getattr(param, "param_type_name", "") == "option" and not (param.help or "").strip():
                missing.append(f"{path} {param.opts[0]}")
    assert not missing, f"options without help text: {missing}"


def test_every_command_is_documented() -> None:
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    text += (DOCS.parent / "README.md").read_text()
    missing = [path for path, _ in _commands() if f"aiq {path}" not in text]
    assert not missing, f"commands missing from docs/: {missing}"
