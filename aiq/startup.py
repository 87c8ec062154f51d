"""The console entry point: what `aiq` answers before it imports its CLI framework.

Importing Typer, Rich and every command module costs several times a bare interpreter's start, and
help and shell completion would pay it on every request (a TAB press runs `aiq`). So:

- ``aiq --version`` is answered from ``aiq.__version__`` alone;
- help (``aiq [COMMAND [SUBCOMMAND]] --help``) and completion requests are *replayed*: the first
  time one is answered its output is recorded under the cache directory (``AIQ_CACHE_DIR``, else
  the user cache dir), keyed by everything the output depends on: the request, aiq's source files
  (names, sizes, modification times), the installed Typer and Rich, the Python version, the
  terminal (whether each standard stream is one, its size, the output encoding) and the
  environment variables Rich, Typer and aiq read. Any change makes a new key, so a replay is
  byte-identical to a fresh render. A request that fails, or writes to stderr, is not recorded.

This module imports only the standard library, and only a little of it; before the CLI it keeps
httpx from importing its own command-line client (``skip_httpx_cli``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiq import __version__

COMPLETE_VAR = "_AIQ_COMPLETE"

# Environment variables that change what Rich, Typer or click's completion print.
_ENV_KEYS = (
    "COLORTERM",
    "COLUMNS",
    "LINES",
    "FORCE_COLOR",
    "NO_COLOR",
    "PY_COLORS",
    "TERM",
    "TERMINAL_WIDTH",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "GITHUB_ACTIONS",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
    "TYPER_USE_RICH",
    "_TYPER_FORCE_DISABLE_TERMINAL",
    "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION",
    "COMP_WORDS",
    "COMP_CWORD",
    "_TYPER_COMPLETE_ARGS",
    "_TYPER_COMPLETE_FISH_ACTION",
    "_TYPER_COMPLETE_WORD_TO_COMPLETE",
    COMPLETE_VAR,
)
_MAX_ENTRIES = 500  # past this, the cache is emptied and refills with what is asked


def main() -> None:
    """Console-script entry point (``aiq``) and ``python -m aiq``."""
    sys.exit(run(sys.argv[1:]))


def run(argv: list[str], environ: Mapping[str, str] | None = None) -> int:
    """Answer ``argv`` from what is at hand, else run the CLI (recording help and completion)."""
    env = os.environ if environ is None else environ
    if argv == ["--version"] and COMPLETE_VAR not in env:
        print(f"aiq {__version__}")
        return 0
    instruction = env.get(COMPLETE_VAR)
    if instruction:
        _normalise_instruction(instruction)
    path = replay_path(argv, env)
    if path is not None:
        try:
            code_line, _, text = path.read_text(encoding="utf-8").partition("\n")
            code = int(code_line)
        except (OSError, ValueError):
            pass
        else:
            try:
                sys.stdout.write(text)
                sys.stdout.flush()
            except BrokenPipeError:  # the reader went away (`aiq --help | head`): not an error
                silence_stdout()
            return code

    skip_httpx_cli()
    from aiq.cli import run as run_cli

    if path is None:
        return _exit_code(run_cli, argv)
    # fish asks "is-args?" and hears no by exit code 1; help succeeds with 0 only.
    recordable = (0, 1) if env.get(COMPLETE_VAR) else (0,)
    return _run_and_record(run_cli, argv, path, recordable)


def silence_stdout() -> None:
    """Send the rest of standard output nowhere: its reader went away (`aiq ... | head -1`).

    Python's recipe (https://docs.python.org/3/library/signal.html#note-on-sigpipe): /dev/null
    takes the place of the file descriptor, so what is still buffered, and the interpreter's
    flush at exit, go there instead of raising BrokenPipeError again (which Python would print
    as "Exception ignored ..." and answer with exit status 120). ``sys.stdout`` is replaced too,
    so that nothing more is written to the old stream and ``_run_and_record`` sees that the
    output was cut short.
    """
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    with contextlib.suppress(OSError):
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stdout for the rest of the process


def skip_httpx_cli() -> None:
    """Keep ``import httpx`` from importing httpx's command-line client, which aiq never runs.

    httpx imports ``httpx._main`` whenever Click, Rich and Pygments are installed (as they are
    beside Typer), and with it much of Rich and Pygments: about 0.1 CPU-s of every start of a
    process that does not use Rich itself (a daemon's worker, each sync it runs), 25 ms of one that
    does. A module that is None in ``sys.modules`` is one Python does not import; httpx then
    defines a stub ``httpx.main`` in its place. Without effect once httpx is imported.
    """
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def _normalise_instruction(instruction: str) -> None:
    """Accept click's ``bash_complete`` style as well as Typer's ``complete_bash``."""
    first, _, second = instruction.partition("_")
    if first in {"bash", "zsh", "fish", "powershell", "pwsh"} and second in {"complete", "source"}:
        os.environ[COMPLETE_VAR] = f"{second}_{first}"


def replay_path(argv: Sequence[str], environ: Mapping[str, str]) -> Path | None:
    """Where the answer to this request is recorded, or None if it is not a replayable request."""
    completing = bool(environ.get(COMPLETE_VAR, "").startswith("complete_"))
    if not completing and not _is_help_request(argv):
        return None
    directory = cache_dir(environ)
    if directory is None:
        return None
    import hashlib

    key = repr(
        (
            __version__,
            sys.version,
            sys.executable,
            list(argv),
            [(name, environ.get(name)) for name in _ENV_KEYS],
            sorted((k, v) for k, v in environ.items() if k.startswith("AIQ_")),
            _terminal(),
            _sources(),
        )
    )
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return directory / "cli" / f"{digest[:32]}.out"


def _is_help_request(argv: Sequence[str]) -> bool:
    """``aiq --help``, ``aiq report --help``, ``aiq report revenue -h``: names, then help."""
    if not 1 <= len(argv) <= 4 or argv[-1] not in ("--help", "-h"):
        return False
    return all(word.replace("-", "").isalpha() and word[0].isalpha() for word in argv[:-1])


def cache_dir(environ: Mapping[str, str]) -> Path | None:
    """``AIQ_CACHE_DIR``, else the platform's user cache dir (as platformdirs names it)."""
    explicit = environ.get("AIQ_CACHE_DIR")
    if explicit:
        return Path(explicit)
    home = environ.get("HOME")
    if sys.platform == "win32":
        local = environ.get("LOCALAPPDATA")
        return Path(local) / "aiq" / "Cache" if local else None
    if not home:
        return None
    if sys.platform == "darwin":
        return Path(home) / "Library" / "Caches" / "aiq"
    return Path(environ.get("XDG_CACHE_HOME") or Path(home) / ".cache") / "aiq"


def _terminal() -> tuple[object, ...]:
    found: list[object] = [getattr(sys.stdout, "encoding", None)]
    for fd in (0, 1, 2):
        try:
            found.append((os.isatty(fd), tuple(os.get_terminal_size(fd))))
        except (OSError, ValueError):
            found.append((False, None))
    return tuple(found)


def _sources() -> tuple[object, ...]:
    """aiq's source files, and the installed distributions beside Typer and Rich."""
    package = Path(__file__).resolve().parent
    files: list[tuple[str, int, int]] = []
    stack = [package]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(Path(entry.path))
                elif entry.name.endswith(".py"):
                    st = entry.stat()
                    files.append((entry.path, st.st_mtime_ns, st.st_size))
    dists: list[str] = []
    for directory in {str(Path(p).resolve()) for p in sys.path if p.endswith("-packages")}:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        dists.extend(sorted(n for n in names if n.endswith((".dist-info", ".egg-info"))))
    return tuple(sorted(files)), tuple(dists)


def _exit_code(run_cli: Callable[[list[str]], int], argv: list[str]) -> int:
    try:
        return run_cli(argv)
    except SystemExit as exc:  # completion answers by exiting
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


class _Recorder:
    """A standard stream that also keeps what is written to it (everything else passes through)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.written: list[str] = []

    def write(self, text: str) -> int:
        written = int(self._stream.write(text))  # click probes with bytes: that raises here
        self.written.append(text)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _run_and_record(
    run_cli: Callable[[list[str]], int], argv: list[str], path: Path, recordable: tuple[int, ...]
) -> int:
    real_out, real_err = sys.stdout, sys.stderr
    # A stream click would re-wrap (not UTF-8) would bypass the recorder: run without recording.
    if (getattr(real_out, "encoding", "") or "").lower().replace("-", "") != "utf8":
        return _exit_code(run_cli, argv)
    out, err = _Recorder(real_out), _Recorder(real_err)
    sys.stdout, sys.stderr = out, err
    try:
        code = _exit_code(run_cli, argv)
    finally:
        # The CLI swaps stdout for /dev/null when its reader went away (`aiq --help | head -1`):
        # then what was written is not all of it, and stdout stays swapped.
        complete = sys.stdout is out
        if complete:
            sys.stdout = real_out
        sys.stderr = real_err
    if not complete:
        return code
    try:
        real_out.flush()
    except OSError:
        silence_stdout()
        return code
    if code in recordable and not err.written:
        _store(path, code, "".join(out.written))
    return code


def _store(path: Path, code: int, text: str) -> None:
    """Write the entry atomically; a cache that cannot be written is no error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        entries = os.listdir(path.parent)
        if len(entries) >= _MAX_ENTRIES:
            for name in entries:
                with contextlib.suppress(OSError):
                    os.unlink(path.parent / name)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(f"{code}\n{text}", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        return
