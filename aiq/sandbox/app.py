"""The sandbox's HTTP face: the AR contract (docs/ar-api.md) plus `/__sandbox/...` admin endpoints.

Responses are built as JSON bytes with orjson: pages are the hot path of every sync benchmark and
of every test that syncs (the sandbox and the client under test share one CPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import gzip
import json
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from aiq.sandbox.core import Sandbox, Session, SignInError
from aiq.sandbox.faults import FaultRule
from aiq.sandbox.network import NetworkProfile

if TYPE_CHECKING:
    from aiq.sandbox.practice import Practice

APPOINTMENTS_PER_PAGE = 100
INVOICES_PER_PAGE = 50
REFERENCE_PER_PAGE = 100
REFERENCE_MAX_PER_PAGE = 500
INVOICE_STATUSES = frozenset(
    {"draft", "open", "partially_paid", "paid", "void", "refunded", "partially_refunded"}
)

TRICKLE_BYTES = 64
TRICKLE_PAUSE = 0.1

ENDPOINTS = {
    "/api/login": "login",
    "/api/login/2fa": "login_2fa",
    "/api/clinics": "clinics",
    "/api/users": "users",
    "/api/services": "services",
    "/api/products": "products",
    "/api/product-categories": "product_categories",
    "/api/appointment": "appointments",
    "/api/sales/invoices": "invoices",
}

_LOGIN_PAGE = b"""<!DOCTYPE html>
<html><head><title>Aesthetic Record - Login</title></head>
<body><form method="POST" action="/login" id="login-form">
<input type="email" name="email" placeholder="Email"><input type="password" name="password">
<button type="submit">Sign in</button></form></body></html>
"""
_HTML_ERRORS = {
    500: b"<!DOCTYPE html><html><head><title>Server Error</title></head><body>"
    b'<div class="code">500</div><div class="message">Server Error</div></body></html>',
    502: b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    b"</h1></center><hr><center>nginx</center></body></html>",
    503: b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
    b"<h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center>"
    b"</body></html>",
    504: b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway"
    b" Time-out</h1></center><hr><center>nginx</center></body></html>",
}


def _dumps(doc: Any) -> bytes:
    # orjson: compact UTF-8 like json.dumps(separators=(",", ":"), ensure_ascii=False), several
    # times faster; the sandbox shares the CPU with the client under test.
    return orjson.dumps(doc)


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_dumps(doc), status, headers, media_type="application/json")


def _ok(data: Any, message: str = "OK") -> Response:
    return _json({"status": 200, "message": message, "data": data})


def _error(status: int, message: str) -> Response:
    return _json({"status": status, "message": message}, status)


class BadRequest(Exception):
    """A request the contract does not allow: answered with 422 and the field's error."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.errors = {field: [message]}


def _unprocessable(exc: BadRequest) -> Response:
    return _json(
        {"status": 422, "message": "The given data was invalid.", "errors": exc.errors}, 422
    )


def expiry_response(form: str) -> Response:
    """The answer AR gives to a request whose session has ended, in one of its four forms."""
    if form == "expire_json":
        return _json({"error": "Unauthenticated"})
    if form == "expire_redirect":
        return _json({"redirect": "/login"})
    if form == "expire_html":
        return Response(_LOGIN_PAGE, 200, media_type="text/html")
    return _error(401, "Unauthenticated.")


def _date(body: dict[str, Any], name: str) -> dt.date:
    value = body.get(name)
    if not isinstance(value, str):
        raise BadRequest(name, f"The {name} field is required.")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadRequest(name, f"The {name} does not match the format Y-m-d.") from None


def _int(value: Any, name: str, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise BadRequest(name, f"The {name} must be an integer.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(name, f"The {name} must be an integer.") from None


def _page(value: Any) -> int:
    page = _int(value, "page_number", 1)
    assert page is not None
    if page < 1:
        raise BadRequest("page_number", "The page number must be at least 1.")
    return page


def _int_list(body: dict[str, Any], name: str) -> frozenset[int]:
    value = body.get(name)
    if value is None:
        return frozenset()
    items = value if isinstance(value, list) else [value]
    return frozenset(v for v in (_int(x, name) for x in items) if v is not None)


def _paginate(
    rows: list[Any], page: int, per_page: int, render: Callable[[Any], dict[str, Any]]
) -> bytes:
    total = len(rows)
    chunk = rows[(page - 1) * per_page : page * per_page]
    return _dumps(
        {
            "status": 200,
            "message": "OK",
            "data": {
                "current_page": page,
                "last_page": max(1, -(-total // per_page)),
                "per_page": per_page,
                "total": total,
                "data": [render(r) for r in chunk],
            },
        }
    )


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        raise BadRequest("body", "The request body must be JSON.") from None
    if not isinstance(doc, dict):
        raise BadRequest("body", "The request body must be a JSON object.")
    return doc


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def build_app(sb: Sandbox) -> Starlette:
    """The Starlette app of a sandbox."""

    def authed(
        handler: Callable[[Request, Session], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = sb.session(_bearer(request))
            if isinstance(session, str):
                return expiry_response(session)
            try:
                return await handler(request, session)
            except BadRequest as exc:
                return _unprocessable(exc)

        return endpoint

    async def login(request: Request) -> Response:
        try:
            body = await _body(request)
            email_, password = body.get("email"), body.get("password")
            if not isinstance(email_, str) or not email_:
                raise BadRequest("email", "The email field is required.")
            if not isinstance(password, str) or not password:
                raise BadRequest("password", "The password field is required.")
        except BadRequest as exc:
            return _unprocessable(exc)
        try:
            return _ok(await asyncio.to_thread(sb.login, email_, password))
        except SignInError as exc:
            return _error(exc.status, exc.message)

    async def login_2fa(request: Request) -> Response:
        try:
            body = await _body(request)
            challenge, code = body.get("challenge"), body.get("code")
            if not isinstance(challenge, str) or not challenge:
                raise BadRequest("challenge", "The challenge field is required.")
            if code is None or code == "":
                raise BadRequest("code", "The code field is required.")
        except BadRequest as exc:
            return _unprocessable(exc)
        try:
            return _ok(await asyncio.to_thread(sb.login_2fa, challenge, str(code)))
        except SignInError as exc:
            return _error(exc.status, exc.message)

    def reference(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request, session: Session) -> Response:
            page = _page(request.query_params.get("page_number"))
            per_page = _int(request.query_params.get("per_page"), "per_page", REFERENCE_PER_PAGE)
            assert per_page is not None
            if per_page < 1:
                raise BadRequest("per_page", "The per page must be at least 1.")
            per_page = min(per_page, REFERENCE_MAX_PER_PAGE)
            with sb.lock:
                rows: list[dict[str, Any]] = getattr(sb.practice(session.account_id), name)()
            return Response(_paginate(rows, page, per_page, dict), media_type="application/json")

        return authed(handler)

    async def appointments(request: Request, session: Session) -> Response:
        body = await _body(request)
        start, end = _date(body, "start"), _date(body, "end")
        if end < start:
            raise BadRequest("end", "The end must be a date after or equal to start.")
        clinic_id = _int(body.get("clinic_id"), "clinic_id")
        provider_id = _int(body.get("provider_id"), "provider_id")
        page = _page(body.get("page_number"))
        with sb.lock:
            practice: Practice = sb.practice(session.account_id)
            now, ser = practice.now, practice.serializer
            payload = practice.page(
                ("appointments", start, end, clinic_id, provider_id, page),
                lambda: _paginate(
                    practice.find_appointments(start, end, clinic_id, provider_id),
                    page,
                    APPOINTMENTS_PER_PAGE,
                    lambda a: ser.appointment(a, now),
                ),
            )
        return Response(payload, media_type="application/json")

    async def invoices(request: Request, session: Session) -> Response:
        body = await _body(request)
        start, end = _date(body, "fromDate"), _date(body, "toDate")
        if end < start:
            raise BadRequest("toDate", "The to date must be a date after or equal to from date.")
        statuses = body.get("invoice_status") or []
        statuses = statuses if isinstance(statuses, list) else [statuses]
        unknown = [s for s in statuses if s not in INVOICE_STATUSES]
        if unknown:
            raise BadRequest(
                "invoice_status", f"The selected invoice status {unknown[0]!r} is invalid."
            )
        page = _page(body.get("page_number"))
        clinics, users = _int_list(body, "clinic_id"), _int_list(body, "user_id")
        wanted = frozenset(statuses)
        with sb.lock:
            practice: Practice = sb.practice(session.account_id)
            now, ser = practice.now, practice.serializer
            payload = practice.page(
                ("invoices", start, end, clinics, users, wanted, page),
                lambda: _paginate(
                    practice.find_invoices(start, end, clinics, users, wanted),
                    page,
                    INVOICES_PER_PAGE,
                    lambda i: ser.invoice(i, now),
                ),
            )
        return Response(payload, media_type="application/json")

    # -- admin ---------------------------------------------------------------------------------

    async def admin_state(request: Request) -> Response:
        return _json(
            {
                "now": sb.now.isoformat(" "),
                "accounts": sorted(sb.accounts),
                "stats": sb.stats.as_dict(),
                "faults": sb.faults.as_dict(),
            }
        )

    async def admin_advance(request: Request) -> Response:
        try:
            body = await _body(request)
            days = _int(body.get("days"), "days", 1)
            assert days is not None
            if days < 0:
                raise BadRequest("days", "The clock only moves forward.")
        except BadRequest as exc:
            return _unprocessable(exc)
        now = await asyncio.to_thread(sb.advance, days)
        return _json({"now": now.isoformat(" ")})

    async def admin_faults(request: Request) -> Response:
        if request.method == "DELETE":
            sb.faults.clear()
        elif request.method == "POST":
            try:
                sb.faults.configure(await _body(request))
            except (BadRequest, KeyError, TypeError, ValueError) as exc:
                return _json({"status": 422, "message": str(exc)}, 422)
        return _json(sb.faults.as_dict())

    async def admin_network(request: Request) -> Response:
        if request.method == "DELETE":
            sb.network.set(NetworkProfile())
        elif request.method == "POST":
            try:
                sb.network.configure(await _body(request))
            except (BadRequest, KeyError, TypeError, ValueError) as exc:
                return _json({"status": 422, "message": str(exc)}, 422)
        return _json(sb.network.as_dict())

    async def admin_stats(request: Request) -> Response:
        if request.method == "DELETE":
            sb.stats.reset()
        return _json(sb.stats.as_dict())

    async def admin_unlock(request: Request) -> Response:
        sb.unlock()
        return _json({"unlocked": True})

    async def admin_expire(request: Request) -> Response:
        body = await _body(request)
        sb.end_all_sessions(str(body.get("form", "expire_401")))
        return _json({"expired": True})

    async def admin_anomaly(request: Request) -> Response:
        try:
            body = await _body(request)
            day = _date(body, "date")
            clinic_id = _int(body.get("clinic_id"), "clinic_id")
            if clinic_id is None:
                raise BadRequest("clinic_id", "The clinic id field is required.")
            changed = await asyncio.to_thread(
                sb.inject_anomaly,
                _int(body.get("account_id"), "account_id"),
                clinic_id,
                day,
                str(body.get("kind", "cancellations")),
                float(body.get("share", 0.6)),
            )
        except BadRequest as exc:
            return _unprocessable(exc)
        except (KeyError, ValueError) as exc:
            return _json({"status": 422, "message": str(exc)}, 422)
        return _json({"changed": changed})

    routes = [
        Route("/api/login", login, methods=["POST"]),
        Route("/api/login/2fa", login_2fa, methods=["POST"]),
        Route("/api/clinics", reference("clinics"), methods=["GET"]),
        Route("/api/users", reference("users"), methods=["GET"]),
        Route("/api/services", reference("services"), methods=["GET"]),
        Route("/api/products", reference("products"), methods=["GET"]),
        Route("/api/product-categories", reference("product_categories"), methods=["GET"]),
        Route("/api/appointment", authed(appointments), methods=["POST"]),
        Route("/api/sales/invoices", authed(invoices), methods=["POST"]),
        Route("/__sandbox/state", admin_state, methods=["GET"]),
        Route("/__sandbox/advance", admin_advance, methods=["POST"]),
        Route("/__sandbox/faults", admin_faults, methods=["GET", "POST", "DELETE"]),
        Route("/__sandbox/stats", admin_stats, methods=["GET", "DELETE"]),
        Route("/__sandbox/network", admin_network, methods=["GET", "POST", "DELETE"]),
        Route("/__sandbox/unlock", admin_unlock, methods=["POST"]),
        Route("/__sandbox/expire-sessions", admin_expire, methods=["POST"]),
        Route("/__sandbox/anomaly", admin_anomaly, methods=["POST"]),
    ]
    return SandboxApp(sb, routes)


class SandboxApp(Starlette):
    """Starlette with the fault layer in front, where the server's raw `send` is reachable
    (a connection reset needs the transport, which Starlette's middleware would hide)."""

    def __init__(self, sb: Sandbox, routes: list[Route]) -> None:
        super().__init__(routes=routes)
        self.sandbox = sb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            sb = self.sandbox
            endpoint = ENDPOINTS.get(scope["path"], "other")
            sb.stats.count(endpoint)
            hold = sb.faults.take_hold(endpoint)
            if hold is not None:
                await asyncio.get_running_loop().run_in_executor(None, hold.wait_released)
            delay = sb.network.delay()
            if delay:
                await asyncio.sleep(delay)
            admission = sb.network.admit(self._caller(scope))
            raw_send = send
            if admission.limit:
                send = _with_headers(send, admission.headers())
            if not admission.admitted:
                too_many = _json({"status": 429, "message": "Too Many Attempts."}, 429)
                await too_many(scope, receive, send)
                return
            forced = None
            for name, value in scope["headers"]:
                if name == b"x-sandbox-fault":
                    forced = value.decode("latin-1")
            try:
                rule = sb.faults.pick(endpoint, forced)
            except ValueError as exc:
                await _json({"status": 400, "message": str(exc)}, 400)(scope, receive, send)
                return
            if rule is not None:
                sb.faults.record(rule.kind)
                if await self._fault(rule, scope, receive, send, raw_send):
                    return
        await super().__call__(scope, receive, send)

    def _caller(self, scope: Scope) -> str:
        """Whose rate limit a request counts against: its AR account once signed in, else the
        client's address (as Laravel throttles by user, else by IP)."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                session = self.sandbox.session(value.decode("latin-1")[7:].strip())
                if isinstance(session, Session):
                    return f"account:{session.account_id}"
        client = scope.get("client") or ("unknown", 0)
        return f"address:{client[0]}"

    async def _fault(
        self, rule: FaultRule, scope: Scope, receive: Receive, send: Send, raw_send: Send
    ) -> bool:
        """Answer with a fault; False when the real response should follow (slow)."""
        sb, kind = self.sandbox, rule.kind
        response: Response
        if kind == "slow":
            await asyncio.sleep(rule.delay if rule.delay is not None else sb.faults.default_delay)
            return False
        if kind in ("429", "429_date"):
            wait = (
                rule.retry_after if rule.retry_after is not None else sb.faults.default_retry_after
            )
            after = (
                str(wait)
                if kind == "429"
                else email.utils.formatdate(time.time() + wait, usegmt=True)
            )
            response = _json(
                {"status": 429, "message": "Too Many Attempts."}, 429, {"Retry-After": after}
            )
        elif kind in ("500", "502", "503", "504"):
            response = Response(_HTML_ERRORS[int(kind)], int(kind), media_type="text/html")
        elif kind == "reset":
            if _reset(raw_send):
                # Let the server see the closed connection before this call returns, so it
                # does not try to answer with a 500 on it.
                await asyncio.sleep(0)
                return True
            raise ConnectionResetError("sandbox fault: reset")  # no transport: fail the request
        elif kind == "truncate":
            await self._truncated(scope, receive, send)
            return True
        elif kind == "corrupt_gzip":
            await self._corrupt_gzip(scope, receive, send)
            return True
        elif kind == "trickle":
            await self._trickle(rule, scope, receive, send)
            return True
        else:
            token = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    token = value.decode("latin-1")[7:].strip()
            sb.end_session(token, kind)
            response = expiry_response(kind)
        await response(scope, receive, send)
        return True

    async def _captured(self, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
        """The real response's start message and whole body, not sent."""
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await super().__call__(scope, receive, capture)
        return start, b"".join(chunks)

    async def _trickle(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the real response whole, but `TRICKLE_BYTES` at a time with a pause between
        (the fault's delay, default `TRICKLE_PAUSE` seconds): an AR answering at a crawl."""
        start, body = await self._captured(scope, receive)
        pause = rule.delay if rule.delay is not None else TRICKLE_PAUSE
        # The client gives up (that is what a trickle is for): stop sending then, as a server
        # does, rather than crawl through the rest of the body to nobody.
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        try:
            await send(start)
            for i in range(0, len(body), TRICKLE_BYTES):
                piece = body[i : i + TRICKLE_BYTES]
                more = i + TRICKLE_BYTES < len(body)
                await send({"type": "http.response.body", "body": piece, "more_body": more})
                self.sandbox.faults.trickled += 1
                if more:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(gone.wait(), pause)
                    if gone.is_set():
                        return
        except OSError:
            return
        finally:
            watcher.cancel()

    async def _truncated(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the real response cut to half its body, with a Content-Length that matches the cut
        (so the client receives a complete HTTP message whose JSON does not parse)."""
        start, body = await self._captured(scope, receive)
        body = body[: max(1, len(body) // 2)]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send(
            {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})

    async def _corrupt_gzip(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the real response gzipped (`Content-Encoding: gzip`), with the CRC-32 in its
        trailer inverted: every byte arrives, and the client's decoder fails at the end, as on a
        body a proxy or AR's server garbled."""
        start, body = await self._captured(scope, receive)
        packed = bytearray(gzip.compress(body, mtime=0))
        packed[-8:-4] = bytes(b ^ 0xFF for b in packed[-8:-4])  # CRC-32, then ISIZE
        dropped = (b"content-length", b"content-encoding")
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in dropped]
        headers += [(b"content-encoding", b"gzip"), (b"content-length", b"%d" % len(packed))]
        await send(
            {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
        )
        await send({"type": "http.response.body", "body": bytes(packed)})


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """``send`` with ``extra`` headers added to the response's start (replacing any of the same
    name the response set, such as its own Retry-After)."""
    names = {k for k, _ in extra}

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
            message = {**message, "headers": [*kept, *extra]}
        await send(message)

    return sending


def _reset(send: Send) -> bool:
    """Reset the client's connection (RST, not FIN) through uvicorn's transport, if reachable."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER with a zero timeout makes close() send RST: the client sees a reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True
