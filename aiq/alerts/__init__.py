"""Alerts: detectors that notice trouble after each sync, and notifiers that tell the owner.

Detectors (``aiq.alerts.detect``) look at the store: syncs that keep failing, data older than the
schedule allows, upstream fields that appeared or vanished, and days whose business figures sit
far from the same weekday's baseline (``aiq.alerts.figures``, as ``docs/reports.md`` defines them).
Each problem found is a ``Finding`` with a fingerprint; ``aiq.alerts.ledger`` keeps one alert per
fingerprint, open until the problem clears, and records what was sent for it, so every alert is
sent once when it opens (a reminder at most every ``remind_hours``) and a resolved note once.
Notifiers (``aiq.alerts.notify``) send email over SMTP or through Resend's HTTP API, and JSON to a
webhook. ``aiq.alerts.check`` ties it together for the daemon and the CLI.
"""

from aiq.alerts.model import KINDS, Finding

__all__ = ["KINDS", "Finding"]
