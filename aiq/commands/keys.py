"""`aiq keys`: the master key that encrypts the stored AR credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aiq.commands.auth import KeyFileOpt, line, prepare
from aiq.commands.options import StatusFormat, StatusFormatOpt

app = typer.Typer(
    help="Inspect and rotate the master key that encrypts the stored AR credentials.\n\n"
    "Example: aiq keys status",
    no_args_is_help=True,
)


@app.command()
def status(
    ctx: typer.Context,
    fmt: StatusFormatOpt = StatusFormat.table,
    key_file: KeyFileOpt = None,
) -> None:
    """Show where the master key lives, the key ids on record, and whether credentials open.

    Needs ADMIN on a shared Postgres (it reads the stored credentials); `aiq status` shows
    anyone where the master key is."""
    import dataclasses

    from aiq.render.output import write_json
    from aiq.usecases.keys import key_status

    state, settings = prepare(ctx)
    report = key_status(state.store(), settings, key_file=key_file)
    if fmt is StatusFormat.json:
        write_json(dataclasses.asdict(report))
        return
    out = state.out()
    key = report.master_key
    if key.found:
        line(out, f"Master key:  {key.source} (key {key.key_id})")
        if key.warning:
            line(out, f"             warning: {key.warning}")
    elif key.problem:
        line(out, f"Master key:  unusable: {key.problem}")
    else:
        line(out, "Master key:  none found. Searched:")
        for place in key.searched:
            line(out, f"  - {place}")
    n = report.credentials
    opened = f"{len(report.readable)} practice(s) open with this key"
    if report.unreadable:
        opened += f"; {len(report.unreadable)} do not: {', '.join(report.unreadable)}"
    line(out, f"Credentials: {n} encrypted field{'s' if n != 1 else ''}; {opened}")
    if report.keys:
        line(out, "Keys on record (ids only; no key is stored in the database):")
    for r in report.keys:
        created = f"{r.created_at:%Y-%m-%d %H:%M} UTC" if r.created_at else "?"
        retired = f", retired {r.retired_at:%Y-%m-%d %H:%M} UTC" if r.retired_at else ""
        here = ", in use here" if r.current else ""
        line(
            out,
            f"  {r.key_id}  {r.status:<8} {r.source or '-':<12} created {created}{retired}; "
            f"{r.credentials} credential field(s){here}",
        )


@app.command()
def rotate(
    ctx: typer.Context,
    key_file: KeyFileOpt = None,
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            metavar="PATH",
            help="Write the new key to this new file (needed when the current key comes from a "
            "systemd credential or AIQ_MASTER_KEY, which aiq cannot change).",
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Rotate without asking, even when other databases or backups use the old key.",
        ),
    ] = False,
) -> None:
    """Make a new master key, re-encrypt every credential with it, and retire the old one."""
    import sys

    from aiq.errors import UsageError
    from aiq.usecases.keys import rotate_key

    state, settings = prepare(ctx)

    def confirm(key_id: str, stranded: list[Any]) -> bool:
        state.say(
            f"Only this database is re-encrypted. These are sealed with key {key_id} too and will "
            "no longer open their AR sign-in (their business data is unaffected):"
        )
        for s in stranded:
            state.say(f"  - {s.describe()}")
        state.say(
            "To use one afterwards, sign it in again: aiq --db URL login (for a backup, after "
            "aiq restore)."
        )
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                "rotating the master key strands the sign-ins listed above, and there is no "
                "terminal to ask",
                hint="pass --yes to rotate anyway",
            )
        return typer.confirm("Rotate the master key?", default=False, err=True)

    done = rotate_key(
        state.store(),
        settings,
        key_file=key_file,
        new_key_file=new_key_file,
        announce=state.say,
        confirm=confirm,
    )
    n = done.reencrypted
    state.say(
        f"Rotated the master key: {n} credential field{'s' if n != 1 else ''} re-encrypted "
        f"with key {done.new_key_id} in {done.where}; key {done.old_key_id} is retired."
    )
    if done.moved:
        state.say(
            f"The old key is still in {done.old_where} but nothing is encrypted with it: remove "
            f"it, and point AIQ_MASTER_KEY_FILE (or the systemd credential) at {done.where}."
        )
    state.say(
        f"A backup taken before now, or another database that used key {done.old_key_id}, no "
        "longer opens its AR sign-in: after restoring it (or in that database) run aiq login "
        "again. Take a new backup now (aiq backup)."
    )
    if done.other_keys:
        others = ", ".join(f"{k} ({v})" for k, v in sorted(done.other_keys.items()))
        state.say(f"Left alone: credentials sealed by keys this machine does not hold: {others}.")
