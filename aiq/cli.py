"""The `aiq` command: the root Typer app, global options, and where errors become exit codes.

Start-up stays fast: this module and ``aiq/commands/*`` import no database, HTTP or Sentry code at
module level; each command imports what it needs when it runs, and a command's module is itself
imported only when that command runs or help lists it (``COMMANDS``).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup
from typer.exceptions import TyperException

from aiq import __version__
from aiq.commands.helptext import escape_help
from aiq.commands.state import AppState, get_state, set_state
from aiq.errors import AiqError
from aiq.startup import silence_stdout

# Every command, in the order help lists them: name -> (module, attribute). The attribute is a
# Typer app (a group of commands) or a function (one command). A module is imported only when its
# command runs or help lists it, so `aiq report revenue` does not import the daemon, the vault...
COMMANDS: dict[str, tuple[str, str]] = {
    "login": ("aiq.commands.auth", "login"),
    "logout": ("aiq.commands.auth", "logout"),
    "status": ("aiq.commands.auth", "status"),
    "sync": ("aiq.commands.sync", "sync"),
    "demo": ("aiq.commands.demo", "demo"),
    "export": ("aiq.commands.export", "export"),
    "backup": ("aiq.commands.backup", "backup"),
    "restore": ("aiq.commands.backup", "restore"),
    "keys": ("aiq.commands.keys", "app"),
    "db": ("aiq.commands.db", "app"),
    "sandbox": ("aiq.commands.sandbox", "app"),
    "daemon": ("aiq.commands.daemon", "app"),
    "alerts": ("aiq.commands.alerts", "app"),
    "report": ("aiq.commands.report", "app"),
    "data": ("aiq.commands.data", "app"),
    "orgs": ("aiq.commands.orgs", "app"),
    "members": ("aiq.commands.members", "app"),
    "audit": ("aiq.commands.audit", "app"),
    "privacy": ("aiq.commands.privacy", "app"),
}


class _LazyGroup(TyperGroup):
    """The root group: builds a command from its module the first time it is asked for.

    (``ctx`` is typed ``Any``: the base class takes the Context of the click that typer vendors
    privately, which aiq does not import.)
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> TyperCommand | TyperGroup | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = _load(cmd_name)
        command = self.commands.get(cmd_name)
        assert command is None or isinstance(command, TyperCommand | TyperGroup)
        return command


def _load(name: str) -> TyperCommand | TyperGroup:
    module, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = name
        escape_help(group)
        return group
    single = typer.Typer(add_completion=False)
    single.command(name)(target)
    command = typer.main.get_command(single)
    assert isinstance(command, TyperCommand)
    escape_help(command)
    return command


app = typer.Typer(
    name="aiq",
    cls=_LazyGroup,
    help="Business insight for med spas from Aesthetic Record: sync, reports and alerts, "
    "with no patient data.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion (README.md)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"aiq {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            help="Database URL: sqlite:///PATH or postgresql://USER@HOST/DB "
            "(default: AIQ_DATABASE_URL, then config.toml, then a SQLite file in the data dir).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="PATH", help="Read settings from this config.toml."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show debug logs and full tracebacks.")
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="Plain output, no colour.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print aiq's version and exit."
        ),
    ] = False,
) -> None:
    """Business insight for med spas from Aesthetic Record."""
    state = AppState(db_url=db, config_path=config, debug=debug, no_color=no_color)
    if debug:
        import logging

        logging.basicConfig(
            level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
    ctx.obj = state
    set_state(state)
    ctx.call_on_close(state.close)


def _fail(message: str, code: int) -> int:
    from aiq.vault.redact import redact

    # The last line of defence: no secret aiq has read reaches the terminal in an error.
    print(f"aiq: {redact(message)}", file=sys.stderr)
    return code


GLOBAL_FLAGS = frozenset({"--debug", "--no-color"})
GLOBAL_WITH_VALUE = frozenset({"--db", "--config"})
"""The root's options that may also be typed after a command (`aiq sync --debug`)."""


def hoist_global_options(argv: list[str]) -> list[str]:
    """``argv`` with the global options typed after a command moved before it.

    `aiq sync --debug` and `aiq report revenue --db URL` mean what `aiq --debug sync` and `aiq
    --db URL report revenue` mean. The walk follows the command tree as click would parse it: a
    command's own options keep their values (`--note --debug` is a note reading "--debug"), a
    command that defines an option of the same name keeps it, and nothing after ``--`` moves.
    Both ``--db URL`` and ``--db=URL`` move. The root's options stay first, so when one is given
    both before and after the command, the later one (after the command) wins, as in click.
    """
    if not any(a in GLOBAL_FLAGS or a.partition("=")[0] in GLOBAL_WITH_VALUE for a in argv):
        return argv  # the usual case costs nothing: no command module is loaded here
    level: Any = typer.main.get_command(app)
    root = level
    out: list[str] = []
    hoisted: list[str] = []
    insert_at: int | None = None
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out += argv[i:]
            break
        name, eq, _ = token.partition("=")
        if level is not root and not _defines(level, name):
            if token in GLOBAL_FLAGS:
                hoisted.append(token)
                i += 1
                continue
            if name in GLOBAL_WITH_VALUE and (eq or i + 1 < len(argv)):
                width = 1 if eq else 2
                hoisted += argv[i : i + width]
                i += width
                continue
        if token.startswith("-") and token != "-":
            width = 1 + _values_after(level, token)
            out += argv[i : i + width]
            i += width
            continue
        sub = level.get_command(None, token) if hasattr(level, "get_command") else None
        if sub is not None:
            if insert_at is None:
                insert_at = len(out)
            level = sub
        out.append(token)  # a command name, or an argument of the command
        i += 1
    if insert_at is None:
        return argv
    return [*out[:insert_at], *hoisted, *out[insert_at:]]


def _options(command: Any) -> list[Any]:
    return [p for p in command.params if getattr(p, "param_type_name", "") == "option"]


def _defines(command: Any, name: str) -> bool:
    return any(name in (*p.opts, *p.secondary_opts) for p in _options(command))


def _values_after(command: Any, token: str) -> int:
    """How many of the following arguments ``token`` (one of ``command``'s options) takes."""
    long = token.startswith("--")
    name = token.partition("=")[0] if long else token[:2]
    if ("=" in token) if long else len(token) > 2:
        # `--opt=value`, or `-fjson` / `-qv`: the value, if any, is in the token itself.
        return 0
    for p in _options(command):
        if name in (*p.opts, *p.secondary_opts):
            return 0 if (p.is_flag or p.count) else max(1, int(p.nargs))
    return 0  # an unknown option: click will say so


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: the one place errors become messages and codes."""
    argv = hoist_global_options(list(argv if argv is not None else sys.argv[1:]))
    debug = "--debug" in argv
    try:
        # Without standalone mode, a command's `raise typer.Exit(n)` comes back as the result.
        result = app(args=argv, prog_name="aiq", standalone_mode=False)
        if isinstance(result, int) and result:
            return result
    except AiqError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        return _fail(f"error: {exc}", exc.exit_code)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        return _fail("interrupted", 130)
    except TyperException as exc:
        # Usage errors (unknown option, bad value): the message is already one clear line.
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            print(f"aiq: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        # The reader of our stdout went away (`aiq ... | head -1`): not an error.
        silence_stdout()
        return 0
    except SystemExit as exc:
        # click (for what a command writes) and Rich (for a table) answer a broken pipe with
        # exit 1 of their own, raised while handling the BrokenPipeError: the same case.
        if not isinstance(exc.__context__, BrokenPipeError):
            raise  # shell completion answers by exiting
        silence_stdout()
        return 0
    except Exception as exc:
        mapped = _map_foreign(exc)
        if mapped is None:
            from aiq.observability import report_exception

            report_exception(exc)
        if debug:
            import traceback

            traceback.print_exc()
        if mapped is not None:
            return _fail(f"error: {mapped}", mapped.exit_code)
        return _fail(
            f"unexpected error ({type(exc).__name__}); rerun with --debug for details "
            "and report it if it persists",
            1,
        )
    finally:
        get_state().close()
        # Now, not at exit: output still buffered for a reader that went away would fail the
        # interpreter's last flush (exit 120). The exit code stays the command's.
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            silence_stdout()
    return 0


def _map_foreign(exc: Exception) -> AiqError | None:
    """A last chance to name a database error that escaped its boundary."""
    if "sqlalchemy" in sys.modules:
        from aiq.store.db import guard_store_errors

        return guard_store_errors(exc)
    return None


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


if __name__ == "__main__":
    main()
