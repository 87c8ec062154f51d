"""Docs cannot go stale: every command has help text and appears in docs/."""

from __future__ import annotations

import re
from pathlib import Path

import typer
import typer.main
from typer.core import TyperGroup

from aiq.cli import app

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _commands() -> list[tuple[str, object]]:
    """Every command and group, as a person reaches them (the root loads its commands lazily)."""
    root = typer.main.get_command(app)
    found: list[tuple[str, object]] = []

    def walk(cmd: object, path: str, ctx: typer.Context) -> None:
        if path:
            found.append((path, cmd))
        if isinstance(cmd, TyperGroup):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, f"aiq {path} {name} is listed but cannot be loaded"
                walk(sub, f"{path} {name}".strip(), typer.Context(sub, parent=ctx, info_name=name))

    walk(root, "", typer.Context(root, info_name="aiq"))
    return found


def test_every_command_is_found() -> None:
    paths = {path for path, _ in _commands()}
    # The root's lazy commands are all reached, groups and their subcommands alike.
    assert {"login", "sync", "restore", "report", "report revenue", "daemon run"} <= paths
    assert len(paths) > 40


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


_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(doc: Path) -> set[str]:
    """The anchors GitHub makes of a page's headings."""
    found = set()
    for line in doc.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            found.add(slug)
    return found


def test_every_relative_link_resolves() -> None:
    pages = [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))]
    broken = []
    for page in pages:
        for target in _LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert len(pages) > 10
    assert not broken, broken


def _section(page: str, heading: str) -> str:
    text = (DOCS / page).read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


# Each fault the sandbox injects, as docs/sync.md ("When AR misbehaves") says what the client
# does with it, and for the server's troubles, as docs/ar-api.md lists them among the transient.
_FAULTS_IN_SYNC = {
    "429": "429s",
    "429_date": "429s",
    "500": "5xx",
    "502": "5xx",
    "503": "5xx",
    "504": "5xx",
    "reset": "connection resets",
    "truncate": "truncated bodies",
    "corrupt_gzip": "bodies that do not decode",
    "trickle": "answers at a crawl",
    "slow": "timeouts",
    "expire_401": "Session expiry",
    "expire_json": "Session expiry",
    "expire_redirect": "Session expiry",
    "expire_html": "Session expiry",
}
_FAULTS_IN_AR_API = {
    "500": "500/502/503/504",
    "reset": "connection resets",
    "truncate": "cut off mid-body",
    "corrupt_gzip": "bodies that do not decode",
}


def test_every_sandbox_fault_is_documented_with_what_the_client_does() -> None:
    from aiq.sandbox.faults import FAULT_KINDS

    assert set(_FAULTS_IN_SYNC) == set(FAULT_KINDS), "a new fault kind: say what sync does"
    sandbox = _section("sandbox.md", "Faults")
    misbehaves = " ".join(_section("sync.md", "When AR misbehaves").split())
    bullets = (DOCS / "ar-api.md").read_text().split("\n- ")
    transient = " ".join(" ".join(b for b in bullets if "are transient" in b).split())
    missing = [f"sandbox.md: `{k}`" for k in FAULT_KINDS if f"`{k}`" not in sandbox]
    missing += [f"sync.md: {p!r} ({k})" for k, p in _FAULTS_IN_SYNC.items() if p not in misbehaves]
    missing += [
        f"ar-api.md: {p!r} ({k})" for k, p in _FAULTS_IN_AR_API.items() if p not in transient
    ]
    assert not missing, missing
