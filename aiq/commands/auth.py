"""`aiq login`, `aiq logout` and `aiq status`: the AR sign-in, kept encrypted.

There is no ``--password`` flag: a password on a command line ends up in shell history and in
``ps``. It is asked for with no echo, or read from standard input with ``--password-stdin``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aiq.commands.options import StatusFormat, StatusFormatOpt
from aiq.commands.state import AppState, get_state
from aiq.errors import AuthRequired

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiq.config import Settings

KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        metavar="PATH",
        help="The master key file to use (default: AIQ_MASTER_KEY_FILE, else the systemd "
        "credential, the OS keyring, the key file in the data dir, AIQ_MASTER_KEY).",
    ),
]
OrgNameOpt = Annotated[
    str | None,
    typer.Option(
        "--org",
        metavar="NAME",
        help="The practice (AR account) to act on; default: the only one.",
    ),
]


def prepare(ctx: typer.Context) -> tuple[AppState, Settings]:
    """The state and settings of this command, with secret redaction (and Sentry) switched on."""
    from aiq.observability import setup

    state = get_state(ctx)
    settings = state.settings()
    setup(settings)
    return state, settings


def _read_stdin_line(what: str, hint: str) -> str:
    from aiq.errors import UsageError

    line = sys.stdin.readline()
    value = line.rstrip("\r\n")
    if not value:
        raise UsageError(f"no {what} on standard input", hint=hint)
    return value


def _interactive() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _otp_source(otp_stdin: bool) -> Callable[[], str]:
    from aiq.errors import TwoFactorFailed

    def from_stdin() -> str:
        return _read_stdin_line("two-factor code", "put it on the line after the password")

    def from_terminal() -> str:
        return str(typer.prompt("Two-factor code from your authenticator", err=True)).strip()

    def unavailable() -> str:
        raise TwoFactorFailed(
            "AR asks for a two-factor code and there is no terminal to ask for it",
            hint="pass --otp-stdin and give the code on standard input",
        )

    if otp_stdin:
        return from_stdin
    return from_terminal if _interactive() else unavailable


def login(
    ctx: typer.Context,
    email: Annotated[
        str | None,
        typer.Option("--email", metavar="EMAIL", help="The AR sign-in email (asked if missing)."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from the first line of standard input instead of asking.",
        ),
    ] = False,
    otp_stdin: Annotated[
        bool,
        typer.Option(
            "--otp-stdin",
            help="Read the two-factor code, if AR asks for one, from the next line of "
            "standard input.",
        ),
    ] = False,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            metavar="URL",
            help="Where AR's API is (default: ar.base_url in config.toml, or AR's own).",
        ),
    ] = None,
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            metavar="NAME",
            help="Name the practice in aiq (default: the AR account's name).",
        ),
    ] = None,
    key_file: KeyFileOpt = None,
    new_key: Annotated[
        bool,
        typer.Option(
            "--new-key",
            help="Start over with a new master key when the old one is lost (credentials "
            "sealed with the lost key stay unreadable until those practices sign in again).",
        ),
    ] = False,
) -> None:
    """Sign in to Aesthetic Record and store the credentials, encrypted (AES-256-GCM)."""
    from aiq.errors import UsageError
    from aiq.usecases.access import login as login_to_ar
    from aiq.vault.redact import register_secret
    from aiq.vault.status import mask_email

    state, settings = prepare(ctx)
    if password_stdin:
        password = _read_stdin_line("password", "pipe the password on the first line")
        register_secret(password)
    if email is None:
        if not _interactive():
            raise UsageError("no email given and no terminal to ask for it", hint="pass --email")
        email = str(typer.prompt("AR email", err=True)).strip()
    if not email:
        raise UsageError("the email is empty", hint="pass --email")
    if not password_stdin:
        if not _interactive():
            raise UsageError(
                "no terminal to ask for the password",
                hint="pipe it with --password-stdin (there is no --password flag)",
            )
        password = str(typer.prompt("AR password", hide_input=True, err=True))
        register_secret(password)
    if not password:
        raise UsageError("the password is empty")

    store = state.store()
    done = login_to_ar(
        store,
        settings,
        email=email,
        password=password,
        base_url=base_url,
        org_name=org,
        otp=_otp_source(otp_stdin),
        key_file=key_file,
        new_key=new_key,
        announce=state.say,
    )
    who = f"{mask_email(email)}" + (f" ({done.user_role})" if done.user_role else "")
    verb = "Replaced the stored sign-in" if done.replaced else "Signed in"
    state.say(
        f"{verb} for {done.org.name} (AR account {done.account_id}) as {who}; "
        f"the credentials are stored encrypted with key {done.key_id}."
    )


def logout(
    ctx: typer.Context,
    org: OrgNameOpt = None,
    all_orgs: Annotated[
        bool, typer.Option("--all", help="Remove the stored sign-in of every practice.")
    ] = False,
) -> None:
    """Remove the stored AR credentials (synced business data is kept)."""
    from aiq.usecases.access import logout as sign_out

    state, _settings = prepare(ctx)
    done = sign_out(state.store(), org, every=all_orgs)
    if done.every:
        n = len(done.practices)
        state.say(
            f"Removed the stored sign-in of {n} practice{'s' if n != 1 else ''}."
            if n
            else "Nobody was signed in."
        )
    elif not done.practices:
        where = f" for {done.nobody_in}" if done.nobody_in else ""
        state.say(f"Nobody was signed in{where}.")
    else:
        state.say(f"Signed out of {done.practices[0]}: its AR credentials are removed.")


def line(out: Any, text: str) -> None:
    """One line of plain text on a console: never wrapped, never read as Rich markup."""
    out.print(text, soft_wrap=True, markup=False, highlight=False)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"


def status(
    ctx: typer.Context,
    org: OrgNameOpt = None,
    fmt: StatusFormatOpt = StatusFormat.table,
    key_file: KeyFileOpt = None,
) -> None:
    """Show who is signed in to which AR account, the master key, the database, the last sync.

    Exits 4 when no practice is signed in with usable credentials (as `gh auth status` does);
    a practice whose sign-in the caller's role may not see (a MEMBER's) does not count."""
    import dataclasses

    from aiq.render.output import write_json
    from aiq.vault.status import gather_status

    state, settings = prepare(ctx)
    store = state.store()
    report = gather_status(store, settings.data_dir, org_name=org, key_file=key_file)
    # Like `gh auth status`: a script can ask whether aiq can reach AR (exit 4 when it cannot).
    # A sign-in the caller may not see is not theirs to fix (aiq login needs ADMIN): it is shown
    # as not available, and only the practices whose sign-in they see decide the exit code.
    visible = [o for o in report.orgs if o.signed_in is not None]
    usable = any(o.signed_in and o.credentials == "ok" for o in visible)
    signed_in = usable or (bool(report.orgs) and not visible)
    if fmt is StatusFormat.json:
        write_json(dataclasses.asdict(report))
        if not signed_in:
            raise typer.Exit(AuthRequired.exit_code)
        return
    out = state.out()
    line(out, f"Database:    {report.database} ({report.dialect})")
    key = report.master_key
    if key.found:
        line(out, f"Master key:  {key.source} (key {key.key_id})")
        if key.warning:
            line(out, f"             warning: {key.warning}")
    elif key.problem:
        line(out, f"Master key:  unusable: {key.problem}")
    elif report.may_sign_in:
        line(out, "Master key:  none yet (aiq login creates one)")
    else:
        line(out, "Master key:  none (reading reports needs none)")
    if not report.orgs:
        line(out, "AR:          nobody is signed in (run aiq login)")
        raise typer.Exit(AuthRequired.exit_code)
    for o in report.orgs:
        where = f"AR account {o.ar_account_id}" if o.ar_account_id is not None else "AR"
        line(out, f"Practice:    {o.name} ({where} at {o.ar_base_url or '-'})")
        if o.signed_in is None:
            line(out, f"  Signed in: {o.problem}")
        elif not o.signed_in:
            line(out, "  Signed in: nobody (run aiq login)")
        elif o.credentials == "ok":
            role = f", {o.user_role}" if o.user_role else ""
            user = f" (AR user {o.user_id}{role})" if o.user_id else ""
            line(out, f"  Signed in: {o.email}{user} since {_when(o.signed_in_at)}")
        else:
            line(out, f"  Signed in: credentials unreadable: {o.problem}")
        if o.last_sync is None:
            line(out, "  Last sync: never")
        else:
            ls = o.last_sync
            ended = f", ended {_when(ls.ended_at)}" if ls.ended_at else ""
            line(out, f"  Last sync: {ls.status}, started {_when(ls.started_at)}{ended}")
    if not signed_in:
        raise typer.Exit(AuthRequired.exit_code)
