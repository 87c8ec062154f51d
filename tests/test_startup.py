"""The entry point answers `--version`, help and shell completion without importing Typer or Rich
(help and completion are recorded the first time and replayed, byte for byte)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiq import __version__
from aiq.startup import replay_path

# Runs the real entry point in a fresh interpreter, then says on stderr whether Typer or Rich
# was imported.
_PROBE = (
    "import sys\n"
    "from aiq.startup import run\n"
    "code = run(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'click'})\n"
    "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _entry(*args: str, **env: str) -> tuple[int, str, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100", **env},
        timeout=60,
    )
    heavy = proc.stderr.rsplit("HEAVY=", 1)[1].strip()
    return proc.returncode, proc.stdout, [m for m in heavy.split(",") if m]


def test_version_imports_no_cli_framework() -> None:
    code, out, heavy = _entry("--version")
    assert (code, out.strip(), heavy) == (0, f"aiq {__version__}", [])


@pytest.mark.parametrize("args", [["--help"], ["export", "--help"], ["report", "revenue", "-h"]])
def test_help_is_replayed_byte_for_byte(args: list[str]) -> None:
    code, first, heavy = _entry(*args)
    assert code == 0 and heavy and "Usage: aiq" in first
    code, again, heavy = _replayed(*args)
    assert (code, heavy) == (0, [])
    assert again == first


def _replayed(*args: str, **env: str) -> tuple[int, str, list[str]]:
    """The request again, replayed. An edit to aiq's source in between (a shared checkout) makes
    a new entry, rendered afresh: then the one after that is replayed."""
    for _ in range(3):
        code, out, heavy = _entry(*args, **env)
        if not heavy:
            break
    return code, out, heavy


def test_a_wider_terminal_is_a_different_entry(isolated_dirs: Path) -> None:
    _, narrow, _ = _entry("--help", COLUMNS="80")
    code, wide, heavy = _entry("--help", COLUMNS="140")
    assert code == 0 and heavy  # rendered, not replayed
    assert max(map(len, wide.splitlines())) > max(map(len, narrow.splitlines()))


def test_failed_requests_are_not_recorded(isolated_dirs: Path) -> None:
    code, _, _ = _entry("nosuchcommand", "--help")
    assert code == 2
    assert not (isolated_dirs / "cache" / "cli").exists()


def test_only_help_and_completion_are_replayable() -> None:
    env = {"AIQ_CACHE_DIR": "/tmp/x", "COLUMNS": "80"}
    assert replay_path(["report", "revenue", "--help"], env) is not None
    assert replay_path(["report", "revenue"], env) is None
    assert replay_path(["--db", "sqlite:///x.db", "--help"], env) is None  # options: rendered live
    assert replay_path([], {**env, "_AIQ_COMPLETE": "complete_bash"}) is not None
    assert replay_path(["--help"], env) != replay_path(["--help"], {**env, "COLUMNS": "81"})


@pytest.mark.parametrize("instruction", ["complete_bash", "bash_complete"])
def test_bash_completion_lists_subcommands(instruction: str) -> None:
    env = {"_AIQ_COMPLETE": instruction, "COMP_WORDS": "aiq re", "COMP_CWORD": "1"}
    code, out, heavy = _entry(**env)
    assert code == 0 and heavy
    assert out.split() == ["restore", "report"]
    code, again, heavy = _replayed(**env)
    assert (code, again, heavy) == (0, out, [])

    code, out, _ = _entry(_AIQ_COMPLETE="complete_bash", COMP_WORDS="aiq report ", COMP_CWORD="2")
    assert code == 0 and {"revenue", "appointments", "monthly"} <= set(out.split())


def test_zsh_and_fish_completion_describe_commands() -> None:
    code, out, _ = _entry(_AIQ_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="aiq rep")
    assert code == 0 and '"report":"Reports from the synced data' in out
    code, out, _ = _entry(
        _AIQ_COMPLETE="complete_fish",
        _TYPER_COMPLETE_FISH_ACTION="get-args",
        _TYPER_COMPLETE_ARGS="aiq rep",
    )
    assert code == 0 and out.startswith("report\tReports from the synced data")


# Typer detects the user's shell; its documented switch lets a test name the shell instead.
_NO_DETECTION = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_show_completion_prints_the_script(shell: str) -> None:
    code, out, _ = _entry("--show-completion", shell, **_NO_DETECTION)
    assert code == 0
    assert f"_AIQ_COMPLETE=complete_{shell}" in out


def test_install_completion_for_bash(tmp_path: Path) -> None:
    code, out, _ = _entry("--install-completion", "bash", HOME=str(tmp_path), **_NO_DETECTION)
    assert code == 0 and "bash completion installed" in out
    assert "_AIQ_COMPLETE=complete_bash" in (tmp_path / ".bash_completions" / "aiq.sh").read_text()
    assert ".bash_completions/aiq.sh" in (tmp_path / ".bashrc").read_text()
