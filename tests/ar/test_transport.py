"""The lean transport under httpx: keep-alive per thread, HTTP's corners, httpx's exceptions."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from aiq.ar.client import ARClient
from aiq.ar.transport import ThreadLocalTransport
from aiq.errors import UpstreamUnavailable

BODY = b'{"status": 200, "data": {"ok": true}}'


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


def client_for(srv: ThreadingHTTPServer, **kw: object) -> httpx.Client:
    host, port = srv.server_address[:2]
    return httpx.Client(
        base_url=f"http://{host!s}:{port}",
        transport=ThreadLocalTransport(),
        **kw,  # type: ignore[arg-type]
    )


def test_a_thread_keeps_its_connection_and_threads_do_not_share(
    server: ThreadingHTTPServer,
) -> None:
    with client_for(server) as c:
        for i in range(3):
            r = c.post("/page", json={"page_number": i})
            assert r.status_code == 200 and r.json()["data"]["ok"] is True
        ports: list[int] = []

        def other() -> None:
            c.post("/page", json={})
            ports.append(server.seen[-1][2])  # type: ignore[attr-defined]

        t = threading.Thread(target=other)
        t.start()
        t.join()
    seen = server.seen  # type: ignore[attr-defined]
    assert [s[1] for s in seen[:3]] == [
        b'{"page_number":0}',
        b'{"page_number":1}',
        b'{"page_number":2}',
    ]
    assert len({s[2] for s in seen[:3]}) == 1  # one connection, kept alive
    assert ports[0] != seen[0][2]  # the other thread has its own


def test_gzip_chunked_and_connection_close(server: ThreadingHTTPServer) -> None:
    with client_for(server) as c:
        assert c.post("/gzip", json={}).json() == {"status": 200, "data": {"ok": True}}
        assert c.post("/chunked", json={}).content == BODY
        assert c.post("/close", json={}).content == BODY
        assert c.post("/page", json={}).content == BODY  # a new connection after the close
    seen = server.seen  # type: ignore[attr-defined]
    assert seen[2][2] != seen[3][2]


def test_a_connection_the_server_dropped_while_idle_is_replaced(
    server: ThreadingHTTPServer,
) -> None:
    with client_for(server) as c:
        c.post("/page", json={})
        transport = c._transport
        assert isinstance(transport, ThreadLocalTransport)
        connection = transport._local.connection
        # The server side goes away while the connection is idle (as a keep-alive timeout does).
        assert connection.conn.sock is not None
        connection.conn.sock.shutdown(socket.SHUT_RD)
        assert c.post("/page", json={}).content == BODY


def test_failures_are_httpx_exceptions(server: ThreadingHTTPServer) -> None:
    with client_for(server, timeout=httpx.Timeout(5.0, read=0.1)) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.post("/slow", json={})
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/cut", json={})
        assert c.post("/page", json={}).content == BODY  # and it recovers
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=ThreadLocalTransport())
    with refused, pytest.raises(httpx.ConnectError):
        refused.get("/")


def test_the_client_uses_httpx_own_transport_behind_a_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ARClient("http://ar.test") as client:
        assert isinstance(client._http._transport, ThreadLocalTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    with ARClient("http://ar.test") as client:
        assert isinstance(client._http._transport, httpx.HTTPTransport)


def ar_client(srv: ThreadingHTTPServer, **kw: object) -> ARClient:
    host, port = srv.server_address[:2]
    client = ARClient(f"http://{host!s}:{port}", max_retries=1, backoff_base=0.01, **kw)  # type: ignore[arg-type]
    client._token = "t0ken"  # signed in, as far as these requests go
    return client


def test_the_client_sends_on_the_lean_transport_what_httpx_would(
    server: ThreadingHTTPServer,
) -> None:
    body = {"fromDate": "2026-10-01", "page_number": 2}
    with ar_client(server) as lean:
        assert lean._lean is not None
        assert lean.request_json("POST", "/page", json_body=body) == {
            "status": 200,
            "data": {"ok": True},
        }
        lean.request_json("GET", "/page", params={"page_number": 3})
    with ar_client(server, transport=ThreadLocalTransport()) as through_httpx:
        assert through_httpx._lean is None
        through_httpx.request_json("POST", "/page", json_body=body)
        through_httpx.request_json("GET", "/page", params={"page_number": 3})
    seen = server.seen  # type: ignore[attr-defined]
    lean_post, lean_get, httpx_post, httpx_get = seen
    assert lean_post[0] == httpx_post[0] == "/page"
    assert lean_post[1] == httpx_post[1] == b'{"fromDate":"2026-10-01","page_number":2}'
    assert lean_get[0] == httpx_get[0] == "/page?page_number=3"
    for name in ("host", "user-agent", "accept", "authorization", "content-type", "content-length"):
        assert lean_post[3][name] == httpx_post[3][name], name
    assert lean_post[3]["authorization"] == "Bearer t0ken"


def test_the_lean_path_reads_every_body_and_retries_what_fails(
    server: ThreadingHTTPServer,
) -> None:
    with ar_client(server, timeout=0.2) as client:
        assert client._lean is not None
        for path in ("/gzip", "/chunked", "/close", "/page"):
            assert client.request_json("POST", path, json_body={}) == {
                "status": 200,
                "data": {"ok": True},
            }, path
        # A body cut short and an answer too slow are transient: retried, then a clear error.
        with pytest.raises(UpstreamUnavailable, match="connection failed"):
            client.request_json("POST", "/cut", json_body={})
        with pytest.raises(UpstreamUnavailable, match="timed out"):
            client.request_json("POST", "/slow", json_body={})
        assert client.request_json("POST", "/page", json_body={})["data"] == {"ok": True}
        assert client.stats.retries == 2
