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
import json
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable
from email.message import Message
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


class Reply:
    """A whole HTTP answer: what the AR client reads of a response, without building one.

    ``headers`` is the parsed header block (case-insensitive ``get``); ``content`` is the body,
    decoded when the server compressed it; ``raw`` is the body as it came.
    """

    __slots__ = ("headers", "raw", "reason", "status_code")

    def __init__(self, status_code: int, headers: Message, raw: bytes, reason: str = "") -> None:
        self.status_code = status_code
        self.headers = headers
        self.raw = raw
        self.reason = reason

    @property
    def content(self) -> bytes:
        coding = (self.headers.get("content-encoding") or "identity").strip().lower()
        if coding == "identity":
            return self.raw
        if coding in ("gzip", "x-gzip", "deflate"):
            try:
                return _inflate(self.raw)
            except zlib.error as exc:
                raise httpx.DecodingError(f"bad {coding} body: {exc}") from exc
        raise httpx.DecodingError(f"unsupported content encoding {coding!r}")

    @property
    def text(self) -> str:
        charset = self.headers.get_content_charset() or "utf-8"
        return self.content.decode(charset, "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _inflate(data: bytes) -> bytes:
    """A gzip or deflate body: with a gzip or zlib header (wbits 47 takes either), or raw deflate
    as some servers send for "deflate"."""
    try:
        return zlib.decompress(data, 47)
    except zlib.error:
        return zlib.decompress(data, -zlib.MAX_WBITS)


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

    def _connection(
        self, url: httpx.URL, connect_timeout: float | None, request: httpx.Request | None
    ) -> _Connection:
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

    def exchange(
        self,
        method: str,
        url: httpx.URL,
        headers: Iterable[tuple[str | bytes, str | bytes]],
        body: bytes | None,
        *,
        connect_timeout: float | None,
        read_timeout: float | None,
        request: httpx.Request | None = None,
    ) -> Reply:
        """Send one request on this thread's connection and read the whole answer.

        ``headers`` must include Host (and Content-Length with a body). Failures are httpx's
        exceptions, as from any httpx transport.
        """
        connection = self._connection(url, connect_timeout, request)
        conn = connection.conn
        try:
            if conn.sock is not None:
                conn.sock.settimeout(read_timeout)
            conn.putrequest(
                method, url.raw_path.decode("ascii"), skip_host=True, skip_accept_encoding=True
            )
            for name, value in headers:
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
        return Reply(response.status, response.msg, content, response.reason)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        connect_timeout, read_timeout = _timeouts(request)
        reply = self.exchange(
            request.method,
            request.url,
            request.headers.raw,
            request.read(),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            request=request,
        )
        headers: list[tuple[bytes, bytes]] = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in reply.headers.items()
        ]
        return httpx.Response(
            reply.status_code,
            headers=headers,
            stream=httpx.ByteStream(reply.raw),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": reply.reason.encode("latin-1", "replace"),
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
