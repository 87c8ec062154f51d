"""`aiq sandbox`: a local stand-in for Aesthetic Record, for demos, tests and benchmarks.

Nothing heavy is imported at module level: Starlette and uvicorn load only when `serve` runs.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from aiq.sandbox.network import NetworkProfile
    from aiq.sandbox.server import RunningSandbox

DEFAULT_PORT = 8765

app = typer.Typer(
    help="Run a local server that speaks Aesthetic Record's API with realistic fake data.\n\n"
    "Example: aiq sandbox serve --clinics 3 --years 2",
    no_args_is_help=True,
)


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _network(profile: str, latency: str | None, rate_limit: str | None) -> NetworkProfile:
    from dataclasses import replace

    from aiq.sandbox.network import PROFILES, parse_latency, parse_rate_limit

    if profile not in PROFILES:
        raise typer.BadParameter(
            f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}",
            param_hint="--profile",
        )
    network = PROFILES[profile]
    try:
        if latency is not None:
            ms, jitter = parse_latency(latency)
            network = replace(network, latency_ms=ms, jitter_ms=jitter)
        if rate_limit is not None:
            rate, burst = parse_rate_limit(rate_limit)
            network = replace(network, rate_limit_per_minute=rate, burst=burst)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return network


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
    profile: Annotated[
        str,
        typer.Option(
            metavar="NAME",
            help="The network to play: loopback (none), internet (150 ms +- 50 ms a request) or "
            "limited (internet, and 60 requests a minute per AR account).",
        ),
    ] = "loopback",
    latency: Annotated[
        str | None,
        typer.Option(
            metavar="MS[:JITTER]",
            help="Delay every API answer by MS milliseconds (normal jitter); overrides --profile.",
        ),
    ] = None,
    rate_limit: Annotated[
        str | None,
        typer.Option(
            metavar="N/min[:BURST]",
            help="Throttle each AR account to N requests a minute (a token bucket of BURST, "
            "default N), answering 429 with Retry-After; 'off' for none. Overrides --profile.",
        ),
    ] = None,
) -> None:
    """Generate a practice and serve it on 127.0.0.1 until Ctrl-C."""
    import time

    from aiq.sandbox import AccountSpec, Sandbox, SandboxConfig
    from aiq.sandbox.server import serve_forever

    network = _network(profile, latency, rate_limit)
    config = SandboxConfig(
        seed=seed,
        clinics=clinics,
        years=years,
        today=_parse_date(today),
        accounts=(AccountSpec(email=email, password=password, otp=otp),),
        token_ttl=token_ttl,
        network=network,
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
            f"invoices in {took:.1f}s; now is {running.sandbox.now:%Y-%m-%d %H:%M} (clinic time).",
            err=True,
        )
        typer.echo(f"AR sandbox at {running.base_url}", err=True)
        if network.latency_ms or network.rate_limit_per_minute:
            limit = (
                f"{network.rate_limit_per_minute:g} requests a minute (burst {network.capacity})"
                if network.rate_limit_per_minute
                else "no rate limit"
            )
            typer.echo(
                f"  network: {network.latency_ms:g} ms +- {network.jitter_ms:g} ms a request, "
                f"{limit}",
                err=True,
            )
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
