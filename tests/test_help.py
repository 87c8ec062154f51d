"""Help tells the truth: every help page, as rendered, says what its source says (Rich markup eats
no `[parquet]`), option names have one metavar each, and every command group has an example."""

from __future__ import annotations

from typing import Any

import pytest
import typer
import typer.main
from typer.core import TyperGroup

from aiq.cli import app
from tests.helpers import aiq


def _walk() -> list[tuple[list[str], Any]]:
    """Every command and group (the root too), as a person reaches them."""
    root = typer.main.get_command(app)
    found: list[tuple[list[str], Any]] = []

    def walk(cmd: Any, path: list[str], ctx: typer.Context) -> None:
        found.append((path, cmd))
        if isinstance(cmd, TyperGroup):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                walk(sub, [*path, name], typer.Context(sub, parent=ctx, info_name=name))

    walk(root, [], typer.Context(root, info_name="aiq"))
    return found


def _source(text: str) -> str:
    """A help text as its source wrote it (aiq/commands/helptext.py escapes Rich tags)."""
    return " ".join(text.replace("\\[", "[").split())


def _flat(rendered: str) -> str:
    return " ".join(rendered.replace("│", " ").split())


def test_every_help_page_says_what_its_source_says(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "2000")  # one line per help text: nothing wrapped
    missing: list[str] = []
    brackets = 0
    for path, cmd in _walk():
        r = aiq(capsys, *path, "--help")
        assert r.code == 0, (path, r.err)
        page = _flat(r.out)
        texts = [cmd.help or ""] + [
            p.help or "" for p in cmd.params if not getattr(p, "hidden", False)
        ]
        for text in texts:
            for paragraph in text.split("\n\n"):
                want = _source(paragraph)
                brackets += "[" in want
                if want not in page:
                    missing.append(f"aiq {' '.join(path)}: {want!r}")
    assert not missing, "\n".join(missing)
    assert brackets >= 3  # export's [parquet], backup's [data] sections: the cases that were eaten


def test_export_help_names_the_parquet_extra(capsys: pytest.CaptureFixture[str]) -> None:
    assert "pip install 'aiq[parquet]'" in aiq(capsys, "export", "--help").out


def test_org_is_always_named_NAME() -> None:
    metavars = {
        f"aiq {' '.join(path)}": param.metavar
        for path, cmd in _walk()
        for param in cmd.params
        if "--org" in getattr(param, "opts", ())
    }
    assert len(metavars) > 20
    assert {where: m for where, m in metavars.items() if m != "NAME"} == {}


def test_every_group_has_an_example() -> None:
    groups = [(path, cmd) for path, cmd in _walk() if path and isinstance(cmd, TyperGroup)]
    assert len(groups) >= 10
    lacking = [" ".join(path) for path, cmd in groups if "Example: aiq " not in (cmd.help or "")]
    assert not lacking, f"groups without an example: {lacking}"


def test_monthly_month_says_its_real_default(capsys: pytest.CaptureFixture[str]) -> None:
    out = _flat(aiq(capsys, "report", "monthly", "--help").out)
    assert "(default: the last full month)" in out
    assert "default: this one" not in out
