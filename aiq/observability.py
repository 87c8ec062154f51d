"""Logs and error reports that never carry a secret.

Two guards, both fed by the registry in ``aiq.vault.redact`` (every secret aiq has read or
decrypted):

- **Logging.** A log-record factory replaces registered secrets in each record's message, its
  arguments and its formatted traceback the moment the record is made, whichever handler (a
  terminal, a file, pytest, Sentry) ends up writing it. ``SecretFilter`` does the same for handlers
  that receive records made elsewhere (queues). Registering the first secret installs the factory.
- **Sentry** (only when a DSN is configured): ``send_default_pii=False``,
  ``include_local_variables=False`` (a frame's locals may hold a password or a page of AR's
  records), no request bodies, no ``sys.argv``, no logs or traces, and ``before_send`` /
  ``before_breadcrumb`` / ``before_send_transaction`` hooks that scrub every string in the event
  and withhold what may quote a value: quoted text in exception and log messages (a value the
  Python or a library error message quotes, ``invalid literal for int(): '...'``) unless it is a
  plain lower-case name (a field, a stream), and the parameters and details database errors add.
  aiq's own messages about AR's records name stream, record id and field, never a value.

``sentry_sdk`` is imported only when Sentry is switched on, so a CLI start pays nothing for it.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from typing import TYPE_CHECKING, Any

from aiq.vault.redact import has_secrets, redact, scrub

if TYPE_CHECKING:
    from aiq.config import Settings

_install_lock = threading.Lock()
_factory_installed = False
_sentry_dsn: str | None = None


# --- logging ------------------------------------------------------------------------------------


def _redact_record(record: logging.LogRecord) -> None:
    """Rewrite ``record`` in place so that no registered secret survives in it."""
    if not has_secrets():
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed format string: keep what there is, redacted
        message = str(record.msg)
    cleaned = redact(message)
    if cleaned != message or record.args:
        record.msg = cleaned
        record.args = ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class SecretFilter(logging.Filter):
    """A handler filter that redacts registered secrets from every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def install_log_redaction() -> None:
    """Make every log record created from now on free of registered secrets (idempotent)."""
    global _factory_installed
    if _factory_installed:
        return
    with _install_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        # Handlers that already exist may receive records made before a secret was known.
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, SecretFilter) for f in handler.filters):
                handler.addFilter(SecretFilter())
        _factory_installed = True


# --- Sentry -------------------------------------------------------------------------------------

# Keys whose values are dropped from events whatever they hold.
_DROP_KEYS = frozenset({"sys.argv", "argv", "password", "passwd", "otp", "email", "authorization"})


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("[removed]" if isinstance(k, str) and k.lower() in _DROP_KEYS else _strip(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


# Text in quotes, as Python's and libraries' error messages quote a value (repr, or a JSON
# string), and what database errors add after the message: the statement's parameters and the
# row in question (``DETAIL: Key (id)=(...)``).
_QUOTED = re.compile(
    r"(?<!\w)'(?:[^'\\\n]|\\.|'(?=\w))*'(?!\w)"  # 'a value', 'O'Brien' (not can't)
    r'|(?<!\w)"(?:[^"\\\n]|\\.)*"(?!\w)'  # "a value"
)
_PLAIN_NAME = re.compile(r"['\"][a-z_][a-z0-9_]{0,63}['\"]")
_DB_DETAIL = re.compile(r"^\s*(\[parameters: .*|DETAIL: .*)$", re.MULTILINE)
WITHHELD = "'[value withheld]'"


def withhold_values(text: str) -> str:
    """``text`` without the values it may quote: quoted text (unless a plain lower-case name,
    such as a field or stream), database error parameters and details."""
    text = _DB_DETAIL.sub("[withheld]", text)
    return _QUOTED.sub(lambda m: m.group() if _PLAIN_NAME.fullmatch(m.group()) else WITHHELD, text)


def _withhold_messages(event: dict[str, Any]) -> None:
    """Withhold quoted values in the messages of an event or breadcrumb, in place."""
    for key in ("message", "formatted"):
        if isinstance(event.get(key), str):
            event[key] = withhold_values(event[key])
    entry = event.get("logentry")
    if isinstance(entry, dict):
        for key in ("message", "formatted"):
            if isinstance(entry.get(key), str):
                entry[key] = withhold_values(entry[key])
        if isinstance(entry.get("params"), list):
            entry["params"] = [
                withhold_values(p) if isinstance(p, str) else p for p in entry["params"]
            ]
    exception = event.get("exception")
    for exc in exception.get("values", []) if isinstance(exception, dict) else []:
        if isinstance(exc, dict) and isinstance(exc.get("value"), str):
            exc["value"] = withhold_values(exc["value"])


def scrub_event(event: Any, hint: Any = None) -> Any:
    """Sentry ``before_send``: the event with every registered secret and risky field removed,
    and no value that its messages quote."""
    event = _strip(scrub(event))
    if isinstance(event, dict):
        event.pop("request", None)  # aiq serves no web requests; nothing there is wanted
        extra = event.get("extra")
        if isinstance(extra, dict):
            extra.pop("sys.argv", None)
        _withhold_messages(event)
        crumbs = event.get("breadcrumbs")
        values = crumbs.get("values") if isinstance(crumbs, dict) else None
        for crumb in values if isinstance(values, list) else []:
            if isinstance(crumb, dict):
                _withhold_messages(crumb)
    return event


def scrub_breadcrumb(crumb: Any, hint: Any = None) -> Any:
    """Sentry ``before_breadcrumb``: the breadcrumb with every registered secret and every value
    its message quotes removed."""
    crumb = _strip(scrub(crumb))
    if isinstance(crumb, dict):
        _withhold_messages(crumb)
    return crumb


def init_sentry(dsn: str, *, environment: str = "production", transport: Any = None) -> bool:
    """Switch Sentry on for ``dsn`` with aiq's privacy settings; False when ``dsn`` is empty."""
    global _sentry_dsn
    if not dsn:
        return False
    install_log_redaction()
    if _sentry_dsn == dsn and transport is None:
        return True
    import sentry_sdk
    from sentry_sdk.integrations.argv import ArgvIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    from aiq import __version__

    options: dict[str, Any] = {
        "dsn": dsn,
        "release": f"aiq@{__version__}",
        "environment": environment,
        "send_default_pii": False,
        "include_local_variables": False,
        "max_request_body_size": "never",
        "before_send": scrub_event,
        "before_breadcrumb": scrub_breadcrumb,
        "before_send_transaction": scrub_event,
        "event_scrubber": EventScrubber(
            denylist=[*DEFAULT_DENYLIST, "email", "otp", "master_key", "key"], recursive=True
        ),
        "disabled_integrations": [ArgvIntegration()],
        "enable_logs": False,
        "traces_sample_rate": None,
    }
    if transport is not None:
        options["transport"] = transport
    with warnings.catch_warnings():
        # Newer sentry-sdk releases deprecate send_default_pii in favour of data_collection, but
        # passing data_collection switches the event scrubber off, and older 2.x releases do not
        # know it. send_default_pii=False stays the documented, explicit choice.
        warnings.filterwarnings(
            "ignore", message=".*send_default_pii.*", category=DeprecationWarning
        )
        sentry_sdk.init(**options)
    _sentry_dsn = dsn
    return True


def report_exception(exc: BaseException) -> None:
    """Send ``exc`` to Sentry when it is on (scrubbed on the way); otherwise do nothing."""
    if _sentry_dsn is None:
        return
    import sentry_sdk

    sentry_sdk.capture_exception(exc)


def shutdown_sentry(timeout: float = 5.0) -> None:
    """Flush pending reports and switch Sentry off."""
    global _sentry_dsn
    if _sentry_dsn is None:
        return
    import sentry_sdk

    client = sentry_sdk.get_client()
    client.flush(timeout=timeout)
    client.close(timeout=timeout)
    sentry_sdk.get_global_scope().set_client(None)
    _sentry_dsn = None


def setup(settings: Settings) -> None:
    """Install log redaction and, when a DSN is configured, Sentry. Safe to call repeatedly."""
    install_log_redaction()
    if settings.sentry.dsn:
        init_sentry(settings.sentry.dsn, environment=settings.sentry.environment)
