"""A lean HTTP/1.1 transport for httpx: one keep-alive connection per thread, on ``http.client``.

A sync reads thousands of pages from a pool of threads. httpx's default transport (httpcore and
h11) spends about a millisecond of Python per request on a small page, and the fetch threads share
one interpreter lock with the writer. This transport does the same job with the standard library's
``http.client`` (whose parsing of the status line and headers is mostly C): each thread keeps its
own connection to the host, so there is no pool to lock, and a request costs a fraction of that.

httpx still builds the request and reads the response (headers, content decoding, timeouts as
``httpx`` exceptions), so the client above it cannot tell the difference. It serves plain HTTP/1.1
without a proxy; ``ARClient`` uses httpx's own transport when a proxy is configured.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from typing import Any

import httpx

# An idle connection older than this is not reused: the server may be about to close it.
KEEPALIVE_EXPIRY = 5.0


class _Connection:
    __slots__ = ("conn", "key", "used_at")

    def __init__(self, conn: http.client.HTTPConnection, key: tuple[str, str, int]) -> None:
        self.conn = conn
        self.key = key
        self.used_at = time.monotonic()


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None]:
    timeout: dict[str, float | None] = request.extensions.get("timeout") or {}
    return timeout.get("connect"), timeout.get("read")


def _readable(sock: socket.socket | None) -> bool:
    """Whether an idle socket has something to read: on a kept-alive connection, the server has
    closed it (or sent what nobody asked for); either way it is not reusable."""
    if sock is None:
        return True
    try:
        ready, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)


class ThreadLocalTransport(httpx.BaseTransport):
    """HTTP/1.1 over one kept-alive ``http.client`` connection per thread and host."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._local = threading.local()
        self._ssl_context = ssl_context
        self._lock = threading.Lock()
        self._open: set[_Connection] = set()
        self._closed = False

    # --- connections ----------------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    def _connection(self, request: httpx.Request, connect_timeout: float | None) -> _Connection:
        url = request.url
        scheme = url.scheme
        port = url.port or (443 if scheme == "https" else 80)
        key = (scheme, url.host, port)
        current: _Connection | None = getattr(self._local, "connection", None)
        if current is not None:
            if (
                current.key == key
                and time.monotonic() - current.used_at < KEEPALIVE_EXPIRY
                and not _readable(current.conn.sock)
            ):
                return current
            self._drop(current)
        if self._closed:
            raise httpx.ConnectError("the transport is closed", request=request)
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(
                url.host, port, timeout=connect_timeout, context=self._context()
            )
        elif scheme == "http":
            conn = http.client.HTTPConnection(url.host, port, timeout=connect_timeout)
        else:
            raise httpx.UnsupportedProtocol(f"unsupported scheme {scheme!r}", request=request)
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = _Connection(conn, key)
        with self._lock:
            self._open.add(connection)
        self._local.connection = connection
        return connection

    def _drop(self, connection: _Connection) -> None:
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        with self._lock:
            self._open.discard(connection)
        connection.conn.close()

    # --- requests -------------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        connect_timeout, read_timeout = _timeouts(request)
        connection = self._connection(request, connect_timeout)
        conn = connection.conn
        body = request.read()
        try:
            if conn.sock is not None:
                conn.sock.settimeout(read_timeout)
            conn.putrequest(
                request.method,
                request.url.raw_path.decode("ascii"),
                skip_host=True,
                skip_accept_encoding=True,
            )
            for name, value in request.headers.raw:
                conn.putheader(name, value)
            conn.endheaders(body or None)
            response = conn.getresponse()
            content = response.read()
        except TimeoutError as exc:
            self._drop(connection)
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
        except (http.client.HTTPException, OSError) as exc:
            # A reset, a body cut short, a malformed answer: the connection is done for.
            self._drop(connection)
            raise httpx.RemoteProtocolError(
                f"{type(exc).__name__}: {exc}"[:200], request=request
            ) from exc
        if response.will_close:
            self._drop(connection)
        else:
            connection.used_at = time.monotonic()
        headers: list[tuple[bytes, bytes]] = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in response.getheaders()
        ]
        return httpx.Response(
            response.status,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": response.reason.encode("latin-1", "replace"),
            },
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            open_, self._open = self._open, set()
        for connection in open_:
            connection.conn.close()

    def __enter__(self) -> ThreadLocalTransport:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
