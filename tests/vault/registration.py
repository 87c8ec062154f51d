"""Until `aiq/cli.py` registers the auth and keys commands, tests register them here.

Once cli.py does (`app.command("login")(auth.login)` ...), this is a no-op and can be deleted.
"""

from __future__ import annotations


def ensure_commands() -> None:
    """Register `aiq login/logout/status` and `aiq keys` on the root app if they are missing."""
    from aiq.cli import app
    from aiq.commands import auth, keys

    names = {c.name for c in app.registered_commands}
    for name, fn in (("login", auth.login), ("logout", auth.logout), ("status", auth.status)):
        if name not in names:
            app.command(name)(fn)
    if "keys" not in {g.name for g in app.registered_groups}:
        app.add_typer(keys.app, name="keys")
