"""Secret hygiene: the registry, the logging filter, and Sentry (capturing transport, local DSN)."""

from __future__ import annotations

import gzip
import http.server
import json
import logging
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from aiq import observability
from aiq.vault.redact import REDACTED, redact, register_secret, scrub

SECRET = 'Sentry-canary "pw" & more/%'


def test_every_form_is_redacted() -> None:
    register_secret(SECRET)
    from urllib.parse import quote, quote_plus

    for form in (SECRET, json.dumps(SECRET)[1:-1], quote(SECRET, safe=""), quote_plus(SECRET)):
        assert redact(f"before {form} after") == f"before {REDACTED} after"
    assert SECRET not in json.dumps(scrub({"a": [SECRET, {"b": (SECRET,)}], SECRET: 1}))
    register_secret("abc")  # too short to be a pattern: logs would become unreadable
    assert redact("abcdef") == "abcdef"


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    register_secret(SECRET)
    log = logging.getLogger("aiq.test")
    with caplog.at_level(logging.DEBUG):
        log.debug("password=%s", SECRET)
        log.info(f"inline {SECRET}")
        try:
            raise RuntimeError(f"failed with {SECRET}")
        except RuntimeError:
            log.exception("boom %r", {"password": SECRET})
    assert caplog.records
    assert SECRET not in caplog.text
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in (record.exc_text or "")
    assert REDACTED in caplog.text


def test_secret_filter_on_a_handler() -> None:
    register_secret(SECRET)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "got %s", (SECRET,), None)
    assert observability.SecretFilter().filter(record)
    assert record.getMessage() == f"got {REDACTED}"


def _leaky(password: str) -> None:
    # A careless foreign library might do this: the password in a local and in the message.
    raise ValueError(f"could not use {password}")


def _exercise(password: str) -> None:
    """Things that reach Sentry: a log breadcrumb, an error log, an exception with locals."""
    import sentry_sdk

    log = logging.getLogger("aiq.leaktest")
    log.warning("signing in with %s", password)
    log.error("error log with %s", password)
    try:
        _leaky(password)
    except ValueError as exc:
        observability.report_exception(exc)
    sentry_sdk.capture_message(f"message with {password}")
    sentry_sdk.flush(timeout=5)


def test_sentry_events_are_scrubbed_capturing_transport() -> None:
    from sentry_sdk.envelope import Envelope
    from sentry_sdk.transport import Transport

    class Capture(Transport):
        def __init__(self) -> None:
            super().__init__()
            self.envelopes: list[Envelope] = []

        def capture_envelope(self, envelope: Envelope) -> None:
            self.envelopes.append(envelope)

    transport = Capture()
    assert observability.init_sentry("https://public@sentry.example/1", transport=transport)
    register_secret(SECRET)
    _exercise(SECRET)
    bodies = [e.serialize() for e in transport.envelopes]
    events: list[dict[str, Any]] = [
        i.payload.json
        for e in transport.envelopes
        for i in e.items
        if i.type == "event" and i.payload.json
    ]
    assert len(events) >= 3
    blob = b"".join(bodies).decode("utf-8", "replace")
    assert SECRET not in blob and json.dumps(SECRET)[1:-1] not in blob
    assert REDACTED in blob
    exc_event = next(e for e in events if e.get("exception"))
    frames = exc_event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert all("vars" not in f for f in frames)  # no locals
    assert "sys.argv" not in json.dumps(events)
    assert all(not e.get("user", {}).get("ip_address") for e in events)


class _Recorder(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes]

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        type(self).bodies.append(raw)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sentry_endpoint() -> Iterator[tuple[str, list[bytes]]]:
    """A local HTTP server that records what Sentry sends; yields (dsn, bodies)."""
    bodies: list[bytes] = []
    handler = type("Recorder", (_Recorder,), {"bodies": bodies})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://public@127.0.0.1:{server.server_address[1]}/1", bodies
    finally:
        server.shutdown()
        server.server_close()


def test_sentry_events_are_scrubbed_local_dsn(sentry_endpoint: tuple[str, list[bytes]]) -> None:
    dsn, bodies = sentry_endpoint
    assert observability.init_sentry(dsn)
    register_secret(SECRET)
    _exercise(SECRET)
    observability.shutdown_sentry()
    assert len(bodies) >= 3
    blob = b"".join(bodies).decode("utf-8", "replace")
    assert SECRET not in blob and json.dumps(SECRET)[1:-1] not in blob
    assert REDACTED in blob
