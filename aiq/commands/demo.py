"""`aiq demo`: try aiq end to end with no AR account."""

from __future__ import annotations

import sys

import typer

from aiq.commands.state import get_state


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
    steps = [
        ("aiq db status", "what the database holds"),
        ("aiq status", "who is signed in, and where the master key lives"),
        ("aiq sandbox serve", "keep the sandbox running; then, in another shell:"),
        (f"aiq sync --org '{DEMO_ORG}'", "an incremental sync"),
        ("aiq demo", "again: quick, and nothing is duplicated"),
    ]
    width = max(len(cmd) for cmd, _ in steps) + 3
    out.print("\nTry next:", soft_wrap=True)
    for cmd, why in steps:
        out.print(f"  {cmd:<{width}}{why}", soft_wrap=True, markup=False)
