"""Leak tests: with known credentials, nothing aiq writes or sends contains them.

Checked: the database (the SQLite file and its WAL, or every Postgres table), every file under the
config and data directories, stdout and stderr, log records at DEBUG, `--debug` output and
tracebacks of a child process, and Sentry events (a local HTTP endpoint used as the DSN).
"""

from __future__ import annotations

import gzip
import http.server
import io
import json
import logging
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import select

from aiq.sandbox.server import RunningSandbox
from tests.helpers import aiq
from tests.vault.fixtures import (
    EMAIL,
    OTP_CODE,
    OTP_EMAIL,
    OTP_PASSWORD,
    PASSWORD,
    aiq_child,
    child_env,
    everything_under,
)

SECRETS = (PASSWORD, EMAIL, OTP_PASSWORD, OTP_EMAIL)


def forms(secret: str) -> set[str]:
    return {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}


def assert_clean(where: str, text: str | bytes) -> None:
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    for secret in SECRETS:
        for form in forms(secret):
            assert form.encode() not in data, f"{secret!r} leaked into {where}"


class _Recorder(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes]

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        elif self.headers.get("Content-Encoding") == "deflate":
            raw = zlib.decompress(raw)
        type(self).bodies.append(raw)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sentry_endpoint() -> Iterator[tuple[str, list[bytes]]]:
    bodies: list[bytes] = []
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), type("Recorder", (_Recorder,), {"bodies": bodies})
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://public@127.0.0.1:{server.server_address[1]}/1", bodies
    finally:
        server.shutdown()
        server.server_close()


def database_dump(db_url: str) -> bytes:
    """Every row of every table, as bytes (blobs included)."""
    from aiq.store.db import open_store
    from aiq.store.models import metadata

    store = open_store(db_url, migrate=False)
    out = io.BytesIO()
    try:
        with store.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(select(table)):
                    for value in row:
                        if isinstance(value, bytes | bytearray | memoryview):
                            out.write(bytes(value))
                        else:
                            out.write(repr(value).encode())
                        out.write(b"\0")
    finally:
        store.dispose()
    return out.getvalue()


def test_no_secret_anywhere(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    db_url: str,
    ar: RunningSandbox,
    isolated_dirs: Path,
    sentry_endpoint: tuple[str, list[bytes]],
) -> None:
    dsn, bodies = sentry_endpoint
    monkeypatch.setenv("AIQ_SENTRY_DSN", dsn)
    monkeypatch.setenv("AIQ_DEBUG", "0")
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def run(*args: str, stdin: str = "") -> int:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        r = aiq(capsys, "--db", db_url, *args)
        seen.extend([r.out, r.err])
        return r.code

    base = ("--base-url", ar.base_url)
    assert run("login", "--email", EMAIL, "--password-stdin", *base, stdin=PASSWORD + "\n") == 0
    otp_stdin = f"{OTP_PASSWORD}\n{OTP_CODE}\n"
    assert (
        run(
            "login", "--email", OTP_EMAIL, "--password-stdin", "--otp-stdin", *base, stdin=otp_stdin
        )
        == 0
    )
    assert run("--debug", "status") == 0
    assert run("status", "--format", "json") == 0
    assert run("--debug", "keys", "rotate") == 0
    assert run("keys", "status", "--format", "json") == 0
    wrong = f"{PASSWORD}-wrong\n"
    assert run("--debug", "login", "--email", EMAIL, "--password-stdin", *base, stdin=wrong) == 4
    assert run("logout", "--org", "Two Factor Spa") == 0

    # A deliberate error in code that holds the password, with the command's breadcrumbs.
    from aiq import observability
    from aiq.config import load_settings
    from aiq.store.db import open_store
    from aiq.store.orgs import resolve_org
    from aiq.vault.credentials import load_credentials

    store = open_store(db_url)
    try:
        creds = load_credentials(store, load_settings(), resolve_org(store, "Glow Med Spa"))
        assert creds.password == PASSWORD
        logging.getLogger("aiq.leaktest").error(
            "signing in as %s with %s", creds.email, creds.password
        )
        try:
            raise RuntimeError(f"AR said no to {creds.email}:{creds.password}")
        except RuntimeError as exc:
            observability.report_exception(exc)
    finally:
        store.dispose()
    observability.shutdown_sentry()

    assert len(bodies) >= 2, "Sentry received nothing: the test would prove nothing"
    for i, body in enumerate(bodies):
        assert_clean(f"Sentry envelope {i}", body)
    for i, text in enumerate(seen):
        assert_clean(f"command output {i}", text)
    assert_clean("log records", caplog.text)
    for record in caplog.records:
        assert_clean(f"log record {record.name}", record.getMessage())
    assert_clean("the config and data directories", everything_under(isolated_dirs))
    assert_clean("the database", database_dump(db_url))


def test_debug_output_and_tracebacks_of_a_child(
    db_url: str, ar: RunningSandbox, isolated_dirs: Path
) -> None:
    env = child_env()
    base = ("--db", db_url)
    ok = aiq_child(
        "--debug", *base, "login", "--email", EMAIL, "--password-stdin", "--base-url", ar.base_url,
        env=env, input=PASSWORD + "\n",
    )  # fmt: skip
    assert ok.code == 0, ok.err
    assert "DEBUG" in ok.err  # debug logging was on
    bad = aiq_child(
        "--debug", *base, "login", "--email", EMAIL, "--password-stdin", "--base-url", ar.base_url,
        env=env, input="wrong-" + PASSWORD + "\n",
    )  # fmt: skip
    assert bad.code == 4 and "Traceback" in bad.err
    status = aiq_child("--debug", *base, "status", "--format", "json", env=env)
    assert status.code == 0
    for name, r in (("login", ok), ("wrong login", bad), ("status", status)):
        assert_clean(f"--debug {name} stdout", r.out)
        assert_clean(f"--debug {name} stderr", r.err)
    assert_clean("the config and data directories", everything_under(isolated_dirs))
    assert_clean("the database", database_dump(db_url))
