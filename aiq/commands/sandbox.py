"""`aiq sandbox`: a local stand-in for Aesthetic Record, for demos, tests and benchmarks.

Nothing heavy is imported at module level: Starlette and uvicorn load only when `serve` runs.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from aiq.sandbox.server import RunningSandbox

DEFAULT_PORT = 8765

app = typer.Typer(
    help="Run a local server that speaks Aesthetic Record's API with realistic fake data.",
    no_args_is_help=True,
)


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@app.command()
def serve(
    port: Annotated[
        int, typer.Option(help="Port on 127.0.0.1 to listen on (0 picks a free one).")
    ] = DEFAULT_PORT,
    seed: Annotated[
        int, typer.Option(help="Seed of the data: the same seed gives the same data.")
    ] = 42,
    clinics: Annotated[
        int, typer.Option(min=1, max=50, help="Clinics of the practice, in several time zones.")
    ] = 3,
    years: Annotated[int, typer.Option(min=1, max=10, help="Years of history to generate.")] = 2,
    email: Annotated[
        str, typer.Option(help="Sign-in email the sandbox accepts.")
    ] = "owner@glowmedspa.example",
    password: Annotated[
        str, typer.Option(help="Sign-in password the sandbox accepts (a fake, local one).")
    ] = "sandbox-password",
    otp: Annotated[
        str | None, typer.Option(help="Require two-factor sign-in with this 6-digit code.")
    ] = None,
    today: Annotated[
        str | None,
        typer.Option(help="The sandbox's today (YYYY-MM-DD); default: the real date."),
    ] = None,
    token_ttl: Annotated[
        int, typer.Option(min=1, help="Seconds a sign-in token lives before it expires.")
    ] = 3600,
) -> None:
    """Generate a practice and serve it on 127.0.0.1 until Ctrl-C."""
    import time

    from aiq.sandbox import AccountSpec, Sandbox, SandboxConfig
    from aiq.sandbox.server import serve_forever

    config = SandboxConfig(
        seed=seed,
        clinics=clinics,
        years=years,
        today=_parse_date(today),
        accounts=(AccountSpec(email=email, password=password, otp=otp),),
        token_ttl=token_ttl,
    )
    typer.echo(
        f"Generating {clinics} clinic(s), {years} year(s) of data (seed {seed})...", err=True
    )
    started = time.perf_counter()

    def ready(running: RunningSandbox) -> None:
        practice = running.sandbox.practice()
        took = time.perf_counter() - started
        typer.echo(
            f"{len(practice.appointments):,} appointments and {len(practice.invoices):,} "
            f"invoices in {took:.1f}s; now is {running.sandbox.now:%Y-%m-%d %H:%M}.",
            err=True,
        )
        typer.echo(f"AR sandbox at {running.base_url}", err=True)
        typer.echo(
            f"  sign in: {email} / {password}" + (f" (2FA code {otp})" if otp else ""), err=True
        )
        typer.echo(
            f"  clock:   curl -X POST {running.base_url}/__sandbox/advance -d '{{\"days\": 1}}'",
            err=True,
        )
        typer.echo("Press Ctrl-C to stop.", err=True)

    try:
        serve_forever(Sandbox(config), port, on_ready=ready)
    except OSError as exc:
        raise typer.BadParameter(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
