"""The `aiq` command: the root Typer app, global options, and where errors become exit codes.

Start-up stays fast: this module and ``aiq/commands/*`` import no database, HTTP or Sentry code at
module level; each command imports what it needs when it runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.exceptions import TyperException

from aiq import __version__
from aiq.commands import alerts as alerts_commands
from aiq.commands import audit as audit_commands
from aiq.commands import auth as auth_commands
from aiq.commands import backup as backup_commands
from aiq.commands import daemon as daemon_commands
from aiq.commands import data as data_commands
from aiq.commands import db as db_commands
from aiq.commands import demo as demo_commands
from aiq.commands import export as export_commands
from aiq.commands import keys as keys_commands
from aiq.commands import members as members_commands
from aiq.commands import orgs as orgs_commands
from aiq.commands import report as report_commands
from aiq.commands import sandbox as sandbox_commands
from aiq.commands import sync as sync_commands
from aiq.commands.state import AppState, get_state, set_state
from aiq.errors import AiqError

app = typer.Typer(
    name="aiq",
    help="Business insight for med spas from Aesthetic Record: sync, reports and alerts, "
    "with no patient data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("login")(auth_commands.login)
app.command("logout")(auth_commands.logout)
app.command("status")(auth_commands.status)
app.command("sync")(sync_commands.sync)
app.command("demo")(demo_commands.demo)
app.add_typer(keys_commands.app, name="keys")
app.add_typer(db_commands.app, name="db")
app.add_typer(sandbox_commands.app, name="sandbox")
app.add_typer(daemon_commands.app, name="daemon")
app.add_typer(alerts_commands.app, name="alerts")
app.add_typer(report_commands.app, name="report")
app.command("export")(export_commands.export)
app.command("backup")(backup_commands.backup)
app.command("restore")(backup_commands.restore)
app.add_typer(data_commands.app, name="data")
app.add_typer(orgs_commands.app, name="orgs")
app.add_typer(members_commands.app, name="members")
app.add_typer(audit_commands.app, name="audit")


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


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: the one place errors become messages and codes."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
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
        # The reader of our stdout went away (`aiq ... | head`); that is not an error.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps interpreter shutdown quiet
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
