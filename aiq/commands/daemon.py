"""`aiq daemon`: run the scheduler in the foreground or background, see it, install it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from aiq.commands.options import StatusFormat, StatusFormatOpt, parse_date
from aiq.commands.state import AppState, get_state
from aiq.errors import UsageError

app = typer.Typer(
    help="Keep the data fresh on a schedule and raise alerts: run, start, stop, status, install."
    "\n\nExample: aiq daemon install --systemd --timer",
    no_args_is_help=True,
)

PidfileOpt = Annotated[
    Path | None,
    typer.Option(
        "--pidfile",
        metavar="PATH",
        help="The daemon's pidfile, its single-instance lock (default: daemon.pid in the data "
        "directory).",
    ),
]
LogFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--log-file", metavar="PATH", help="Append log lines to this file instead of stderr."
    ),
]
IntervalSecondsOpt = Annotated[
    float | None,
    typer.Option(
        "--interval-seconds",
        min=1,
        hidden=True,
        help="Sync every this many seconds, without jitter (testing).",
    ),
]
TodayOpt = Annotated[
    str | None,
    typer.Option("--today", metavar="DATE", hidden=True, help="Pretend today is DATE (testing)."),
]


def _pidfile(state: AppState, pidfile: Path | None) -> Path:
    from aiq.daemon.runner import default_pidfile

    return pidfile or default_pidfile(state.settings())


@app.command()
def run(
    ctx: typer.Context,
    log_file: LogFileOpt = None,
    pidfile: PidfileOpt = None,
    interval_seconds: IntervalSecondsOpt = None,
    today: TodayOpt = None,
    once: Annotated[
        bool, typer.Option("--once", hidden=True, help="Sync every practice once, then exit.")
    ] = False,
) -> None:
    """Run the daemon in the foreground (for systemd and containers) until SIGTERM or Ctrl-C."""
    from aiq.daemon.runner import Daemon, DaemonOptions, setup_logging

    state = get_state(ctx)
    setup_logging(log_file, debug=state.debug)
    options = DaemonOptions(
        config_path=state.config_path,
        db_url=state.db_url,
        pidfile=pidfile,
        interval_seconds=interval_seconds,
        today=parse_date(today, "--today"),
        once=once,
        log_file=log_file.resolve() if log_file else None,
    )
    code = Daemon(options).run()
    if code:
        raise typer.Exit(code)


@app.command(hidden=True)
def worker(ctx: typer.Context, log_file: LogFileOpt = None) -> None:
    """Internal: one unit of the daemon's work, a JSON request on stdin, the result on stdout."""
    import json
    import sys

    from aiq.daemon.runner import setup_logging
    from aiq.daemon.worker import handle

    state = get_state(ctx)
    setup_logging(log_file, debug=state.debug)
    request = json.loads(sys.stdin.read() or "{}")
    result = handle(request)
    sys.stdout.write(json.dumps(result, default=str))
    sys.stdout.flush()


@app.command()
def start(
    ctx: typer.Context,
    log_file: LogFileOpt = None,
    pidfile: PidfileOpt = None,
    interval_seconds: IntervalSecondsOpt = None,
    today: TodayOpt = None,
) -> None:
    """Start the daemon in the background (for machines without systemd)."""
    from aiq.daemon.background import start as start_daemon

    state = get_state(ctx)
    settings = state.settings()
    settings.ensure_dirs()
    path = _pidfile(state, pidfile)
    log_path = log_file or path.with_name("daemon.log")
    args: list[str] = []
    if interval_seconds:
        args += ["--interval-seconds", str(interval_seconds)]
    day = parse_date(today, "--today")
    if day is not None:
        args += ["--today", day.isoformat()]
    env = dict(os.environ)
    # Global options travel in the environment: a URL on a command line shows in `ps`.
    if state.db_url:
        env["AIQ_DATABASE_URL"] = state.db_url
    if state.config_path:
        env["AIQ_CONFIG"] = str(state.config_path.resolve())
    started = start_daemon(path.resolve(), log_path.resolve(), args, env=env)
    state.say(f"aiq daemon started (pid {started.pid}); log: {started.log_file}")


@app.command()
def stop(
    ctx: typer.Context,
    pidfile: PidfileOpt = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", metavar="SECONDS", min=1, help="How long to wait for it to stop."
        ),
    ] = 60.0,
) -> None:
    """Stop the background daemon: it finishes the current batch, commits and exits."""
    from aiq.daemon.background import stop as stop_daemon

    state = get_state(ctx)
    holder = stop_daemon(_pidfile(state, pidfile), timeout=timeout)
    if holder is None:
        state.say("aiq daemon is not running.")
    else:
        state.say(f"aiq daemon stopped (pid {holder.pid}).")


@app.command()
def status(
    ctx: typer.Context,
    pidfile: PidfileOpt = None,
    fmt: StatusFormatOpt = StatusFormat.table,
) -> None:
    """Show whether the daemon runs: pid, uptime, last and next run per practice, failures.

    Exits 0 when the daemon runs and 1 when it does not.
    """
    from aiq.daemon.status import gather

    state = get_state(ctx)
    doc = gather(state, _pidfile(state, pidfile))
    if fmt is StatusFormat.json:
        from aiq.render.output import write_json

        write_json(doc)
    else:
        _render_status(state, doc)
    if not doc["running"]:
        raise typer.Exit(1)


def _render_status(state: AppState, doc: dict[str, Any]) -> None:
    from aiq.commands.auth import line

    out = state.out()
    if doc["running"]:
        line(
            out,
            f"Daemon:      running, pid {doc['pid']}, up {doc['uptime']} "
            f"(since {doc['started_at']})",
        )
        line(out, f"State:       {doc.get('state') or '-'}")
    else:
        line(out, "Daemon:      not running (aiq daemon start, or see aiq daemon install)")
    if doc.get("interval_seconds"):
        line(out, f"Schedule:    every {doc['schedule']}")
    for o in doc["orgs"]:
        line(out, f"Practice:    {o['org']}")
        last = o.get("last_run_at") or "never"
        status = f" ({o['last_status']})" if o.get("last_status") else ""
        line(out, f"  Last run:  {last}{status}")
        if o.get("last_error"):
            line(out, f"  Error:     {o['last_error']}")
        line(out, f"  Next run:  {o.get('next_run_at') or '-'}")
    if doc["recent_failures"]:
        line(out, "Recent failures:")
        for f in doc["recent_failures"]:
            line(out, f"  {f['at']}  {f['org']}: {f['error']}")
    else:
        line(out, "Recent failures: none")


@app.command()
def install(
    ctx: typer.Context,
    systemd: Annotated[
        bool, typer.Option("--systemd", help="Write a systemd service (Type=notify).")
    ] = False,
    cron: Annotated[
        bool, typer.Option("--cron", help="Add a line to your crontab that syncs on schedule.")
    ] = False,
    timer: Annotated[
        bool,
        typer.Option(
            "--timer",
            help="With --systemd: a oneshot sync service and a timer instead of the daemon.",
        ),
    ] = False,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print what would be written; write nothing.")
    ] = False,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            metavar="PATH",
            help="Write the systemd units here (default: /etc/systemd/system as root, else "
            "~/.config/systemd/user).",
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", metavar="NAME", help="The user a system service runs as."),
    ] = None,
    key_credential: Annotated[
        Path | None,
        typer.Option(
            "--key-credential",
            metavar="PATH",
            help="The master key for systemd: a systemd-creds file (*.cred, encrypted) or a key "
            "file, passed as the credential aiq-master-key.",
        ),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file", metavar="PATH", help="With --cron: append the output to this file."
        ),
    ] = None,
) -> None:
    """Install the daemon as a systemd service or timer, or a crontab line."""
    from aiq.daemon import service

    if systemd == cron:
        raise UsageError("choose one of --systemd or --cron")
    if timer and not systemd:
        raise UsageError("--timer goes with --systemd")
    state = get_state(ctx)
    settings = state.settings()
    env = {"AIQ_CONFIG_DIR": str(settings.config_dir), "AIQ_DATA_DIR": str(settings.data_dir)}
    if state.config_path:
        env["AIQ_CONFIG"] = str(state.config_path.resolve())
    if state.db_url:
        raise UsageError(
            "aiq daemon install does not copy --db into a service file (it may hold a password)",
            hint="put the URL in config.toml ([database] url) and run install again",
        )
    if cron:
        _install_cron(state, settings, env, print_only, log_file)
        return
    key = key_credential.resolve() if key_credential else _key_file(settings)
    interval = settings.daemon.interval_minutes
    files = (
        service.systemd_timer_units(env=env, key=key, user=user, interval_minutes=interval)
        if timer
        else [service.systemd_daemon_unit(env=env, key=key, user=user)]
    )
    if print_only:
        for f in files:
            print(f"# {f.name}\n{f.text}")
        return
    target = directory or (
        Path("/etc/systemd/system")
        if os.geteuid() == 0
        else Path.home() / ".config" / "systemd" / "user"
    )
    target.mkdir(parents=True, exist_ok=True)
    for f in files:
        (target / f.name).write_text(f.text)
        state.say(f"wrote {target / f.name}")
    scope = "" if os.geteuid() == 0 or directory else " --user"
    unit = "aiq-sync.timer" if timer else "aiq.service"
    state.say(f"next: systemctl{scope} daemon-reload && systemctl{scope} enable --now {unit}")


def _key_file(settings: Any) -> Path | None:
    from aiq.vault.keys import KEY_FILE_ENV

    named = os.environ.get(KEY_FILE_ENV)
    if named:
        return Path(named).resolve()
    default = settings.data_dir / "master.key"
    return default if default.exists() else None


def _install_cron(
    state: AppState, settings: Any, env: dict[str, str], print_only: bool, log_file: Path | None
) -> None:
    import shutil
    import subprocess

    from aiq.daemon import service

    service.cron_schedules(settings.daemon.interval_minutes)  # refused before anything is opened
    orgs: list[str] = []
    try:
        from aiq.vault.credentials import signed_in_orgs

        orgs = [o.name for o in signed_in_orgs(state.store())]
    except Exception:  # no database yet: one line that syncs the only practice
        orgs = []
    lines = service.cron_lines(
        env=env,
        interval_minutes=settings.daemon.interval_minutes,
        orgs=orgs,
        log_file=log_file.resolve() if log_file else None,
    )
    if print_only:
        print("\n".join(lines))
        return
    crontab = shutil.which("crontab")
    if crontab is None:
        raise UsageError("there is no crontab command here", hint="use --print and add it by hand")
    current = subprocess.run([crontab, "-l"], capture_output=True, text=True, check=False)
    merged = service.merge_crontab(current.stdout if current.returncode == 0 else "", lines)
    done = subprocess.run([crontab, "-"], input=merged, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UsageError(f"crontab refused the new table: {done.stderr.strip()}")
    state.say("added to your crontab:\n" + "\n".join(lines))
