"""AR over HTTP's corners: gzip, chunks, closed and cut connections, slow and trickling answers,
answers too large, and what the client sends."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aiq.ar.client import ARClient
from aiq.errors import UpstreamContractError, UpstreamError, UpstreamUnavailable
from aiq.observability import withhold_values

BODY = b'{"status": 200, "data": {"ok": true}}'
# What AR might write in an error answer: a line break and terminal escapes that, printed raw,
# would forge a line of aiq's own in red, then ring the bell and reverse the text after it.
HOSTILE = 'The "fromDate" is invalid.\n\x1b[31maiq: all good\x1b[0m\x07\u202eexe.gnp'


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        received = self.rfile.read(length)
        self.server.seen.append(  # type: ignore[attr-defined]
            (
                self.path,
                received,
                self.client_address[1],
                {k.lower(): v for k, v in self.headers.items()},
            )
        )
        if self.path == "/slow":
            time.sleep(0.5)
        if self.path.startswith("/refused/"):  # /refused/<status>[/long|/silent]
            _, _, status, *how = self.path.split("/")
            said = {"long": {"message": "x" * 5000}, "silent": {}}.get(how[0] if how else "")
            answer = {"status": int(status), **(said if said is not None else {"message": HOSTILE})}
            body = json.dumps(answer).encode()
            self.send_response(int(status))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/gzip":
            body = gzip.compress(BODY)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (BODY[:10], BODY[10:]):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/close":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(BODY)
            self.close_connection = True
            return
        if self.path == "/trickle":
            # A whole, valid answer, a few bytes at a time: no read ever waits long.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            for i in range(len(BODY)):
                self.wfile.write(BODY[i : i + 1])
                self.wfile.flush()
                time.sleep(0.05)
            return
        if self.path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(64 * 1024 * 1024))
            self.end_headers()
            self.close_connection = True
            return
        if self.path == "/bomb":
            # Small on the wire, 8 MB once decoded, with no Content-Length to warn of it.
            body = gzip.compress(b" " * (8 * 1024 * 1024))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
            return
        if self.path == "/cut":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY) + 100))
            self.end_headers()
            self.wfile.write(BODY)
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    do_GET = do_POST


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.seen = []  # type: ignore[attr-defined]
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def ar_client(srv: ThreadingHTTPServer, **kw: object) -> ARClient:
    host, port = srv.server_address[:2]
    options: dict[str, object] = {"max_retries": 1, "backoff_base": 0.01, **kw}
    client = ARClient(f"http://{host!s}:{port}", **options)  # type: ignore[arg-type]
    client._token = "t0ken"  # signed in, as far as these requests go
    return client


OK = {"status": 200, "data": {"ok": True}}


def test_the_client_sends_what_ar_expects_on_kept_alive_connections(
    server: ThreadingHTTPServer,
) -> None:
    body = {"fromDate": "2026-10-01", "page_number": 2}
    with ar_client(server) as client:
        assert client.request_json("POST", "/page", json_body=body) == OK
        client.request_json("GET", "/page", params={"page_number": 3})
    seen = server.seen  # type: ignore[attr-defined]
    post, get = seen
    assert post[0] == "/page" and post[1] == b'{"fromDate":"2026-10-01","page_number":2}'
    assert get[0] == "/page?page_number=3"
    assert post[3]["authorization"] == "Bearer t0ken"
    assert post[3]["content-type"] == "application/json"
    assert post[3]["accept"] == "application/json" and post[3]["user-agent"].startswith("aiq/")
    assert post[2] == get[2]  # one connection, kept alive


def test_every_body_is_read_and_what_fails_is_retried(server: ThreadingHTTPServer) -> None:
    with ar_client(server, timeout=0.2) as client:
        for path in ("/gzip", "/chunked", "/close", "/page"):
            assert client.request_json("POST", path, json_body={}) == OK, path
        # A body cut short and an answer too slow are transient: retried, then a clear error.
        with pytest.raises(UpstreamUnavailable, match="connection failed"):
            client.request_json("POST", "/cut", json_body={})
        with pytest.raises(UpstreamUnavailable, match="timed out"):
            client.request_json("POST", "/slow", json_body={})
        assert client.request_json("POST", "/page", json_body={})["data"] == {"ok": True}
        assert client.stats.retries == 2


def test_a_trickling_answer_ends_at_the_deadline(server: ThreadingHTTPServer) -> None:
    """Each byte comes long before the read timeout, but the whole answer not within the
    deadline: the request gives up there, whatever the timeout."""
    with ar_client(server, timeout=5.0, deadline=0.5, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable, match=r"no whole answer within 0\.5s"):
            client.request_json("POST", "/trickle", json_body={})
        assert time.monotonic() - started < 5.0  # well before a read timeout would have fired
        # With time enough, the same answer arrives whole.
    with ar_client(server, deadline=30.0) as patient:
        assert patient.request_json("POST", "/trickle", json_body={}) == OK


def test_an_answer_larger_than_the_cap_is_refused_not_retried(
    server: ThreadingHTTPServer,
) -> None:
    with ar_client(server, max_response_bytes=1024 * 1024) as client:
        for path in ("/huge", "/bomb"):
            with pytest.raises(UpstreamContractError, match="larger than 1 MB"):
                client.request_json("POST", path, json_body={})
        assert client.stats.retries == 0
        assert client.request_json("POST", "/page", json_body={}) == OK


def test_what_ar_says_in_a_refusal_is_quoted_made_safe_and_capped(
    server: ThreadingHTTPServer,
) -> None:
    """AR's message is upstream text: shown quoted, on one line, with no control character left
    to break the line or drive the terminal, and at most 200 characters of it."""
    shown = r'"The \"fromDate\" is invalid.\n\x1b[31maiq: all good\x1b[0m\x07\u202eexe.gnp"'
    with ar_client(server) as client:
        with pytest.raises(UpstreamContractError) as refused:
            client.request_json("POST", "/refused/422", json_body={})
        assert str(refused.value) == (
            f"AR refused the request to /refused/422 (HTTP 422): {shown} "
            "(this is a bug in aiq; please report it)"
        )
        with pytest.raises(UpstreamError) as refused:
            client.request_json("POST", "/refused/409", json_body={})
        assert str(refused.value) == f"AR refused the request to /refused/409 (HTTP 409): {shown}"
        # Quoted, it is withheld from error reports like any quoted value (docs/security.md).
        assert withhold_values(str(refused.value)) == (
            "AR refused the request to /refused/409 (HTTP 409): '[value withheld]'"
        )
        with pytest.raises(UpstreamError) as refused:
            client.request_json("POST", "/refused/404/long", json_body={})
        assert str(refused.value) == (
            f'AR refused the request to /refused/404/long (HTTP 404): "{"x" * 200}…"'
        )
        with pytest.raises(UpstreamError) as refused:
            client.request_json("POST", "/refused/403/silent", json_body={})
        assert str(refused.value) == "AR refused the request to /refused/403/silent (HTTP 403)"
        assert client.stats.retries == 0  # refusals are not retried
