"""`aiq demo`: try aiq end to end with no AR account."""

from __future__ import annotations

import sys

import typer

from aiq.commands.state import AppState, get_state


def demo(ctx: typer.Context) -> None:
    """Serve a sandbox practice, sign in to it, sync it, and show what aiq holds."""
    from aiq.commands.sync import render_report
    from aiq.demo import DEMO_ORG, run_demo

    state = get_state(ctx)
    settings = state.settings()
    store = state.store()
    bar = None
    if sys.stderr.isatty():
        from aiq.render.progress import SyncProgress

        bar = SyncProgress(state.err())
    if bar is not None:
        with bar:
            result = run_demo(store, settings, announce=state.say, progress=bar.update)
    else:
        result = run_demo(store, settings, announce=state.say)
    render_report(state, result.report)
    counts = {c.table: c.rows for c in store.table_counts()}
    out = state.out()
    out.print(
        f"\n{result.org_name} is in {store.display_url}: {counts.get('clinic', 0)} clinics, "
        f"{counts.get('staff', 0)} staff, {counts.get('appointment', 0):,} appointments, "
        f"{counts.get('invoice', 0):,} invoices with {counts.get('invoice_item', 0):,} items, "
        f"{counts.get('payment', 0):,} payments and {counts.get('refund', 0):,} refunds. "
        "No patient data.",
        soft_wrap=True,
    )
    _show_reports(state, result.org_name)
    month = _last_month()
    steps = [
        (f"aiq report revenue --by clinic -m {month}", "sales by clinic, with comparisons"),
        ("aiq report revenue", "this month to date, and where it is heading"),
        (f"aiq report services -m {month}", "what sold; `products` for retail margins"),
        ("aiq report appointments --by provider", "no-shows and cancellations per provider"),
        (f"aiq report retention -m {month}", "do patients come back (no patient id kept)"),
        (f"aiq report monthly -m {month} --html report.html", "the owner's one-page report"),
        ("aiq report sync", "how fresh each stream is"),
        ("aiq db status", "what the database holds"),
        ("aiq sandbox serve", "keep the sandbox running; then, in another shell:"),
        (f"aiq sync --org '{DEMO_ORG}'", "an incremental sync"),
        ("aiq demo", "again: quick, and nothing is duplicated"),
    ]
    width = max(len(cmd) for cmd, _ in steps) + 3
    out.print("\nTry next:", soft_wrap=True)
    for cmd, why in steps:
        out.print(f"  {cmd:<{width}}{why}", soft_wrap=True, markup=False)


def _last_month() -> str:
    from datetime import date

    from aiq.reports.period import last_full_month

    return last_full_month(date.today()).label


def _show_reports(state: AppState, org_name: str) -> None:
    """Revenue, appointments and providers of the last full month, as tables."""
    from aiq.commands.report import build_request
    from aiq.render.report_views import show_appointments, show_providers, show_revenue
    from aiq.reports import api

    out = state.out()
    req = build_request(state, org=org_name, month=_last_month())
    store = state.store()
    out.print()
    show_revenue(out, api.revenue(store, req), "table")
    out.print()
    show_appointments(out, api.appointments(store, req), "table")
    out.print()
    show_providers(out, api.providers(store, req), "table")
