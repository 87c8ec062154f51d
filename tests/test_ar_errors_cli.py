"""What AR's troubles look like at the terminal: one clear line on stderr, never a traceback."""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aiq.sandbox import Sandbox
from aiq.sandbox.config import DEFAULT_EMAIL, DEFAULT_PASSWORD
from aiq.sandbox.server import serve_in_thread
from aiq.sandbox.testing import make_config
from tests.helpers import Result, aiq
from tests.vault.fixtures import no_os_keyring as no_os_keyring  # autouse: no real keyring


def login(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    base_url: str,
) -> Result:
    """`aiq login` to ``base_url`` with a fresh SQLite database (migrated first, so that the
    error is all stderr holds)."""
    db = f"sqlite:///{tmp_path / 'aiq.db'}"
    assert aiq(capsys, "--db", db, "db", "upgrade").code == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(DEFAULT_PASSWORD + "\n"))
    return aiq(
        capsys, "--db", db, "login", "--email", DEFAULT_EMAIL, "--password-stdin",
        "--base-url", base_url,
    )  # fmt: skip


def test_answers_that_never_decode_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A corrupt gzip body every time (httpx's DecodingError): AR is named, not a traceback or
    an "unexpected error"."""
    sb = Sandbox(make_config(clinics=1))
    sb.faults.set("corrupt_gzip", endpoints=["login"])
    monkeypatch.setenv("AIQ_AR_MAX_RETRIES", "0")  # no retry, so no backoff to wait out
    with serve_in_thread(sb) as running:
        r = login(capsys, monkeypatch, tmp_path, running.base_url)
    assert (r.code, r.err) == (
        1,
        "aiq: error: AR did not answer POST /api/login after 1 attempt (last: a gzip body that "
        "does not decode) (AR may be down or overloaded; try again later)\n",
    )
    assert sb.faults.injected["corrupt_gzip"] == 1


class Refusing(BaseHTTPRequestHandler):
    """An AR that refuses every request with 400 and a message meant to fool a terminal: a line
    break, then a forged aiq line in red (ESC sequences), then the bell."""

    protocol_version = "HTTP/1.1"
    message = "Bad request.\naiq: \x1b[32msigned in\x1b[0m\x07"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps({"status": 400, "message": self.message}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def refusing() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_what_ar_says_when_it_refuses_is_shown_quoted_and_harmless(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    refusing: str,
) -> None:
    r = login(capsys, monkeypatch, tmp_path, refusing)
    assert (r.code, r.err) == (
        1,
        "aiq: error: AR refused the request to /api/login (HTTP 400): "
        '"Bad request.\\naiq: \\x1b[32msigned in\\x1b[0m\\x07"\n',
    )
