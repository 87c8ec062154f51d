"""The HTTP client for AR's web API (the contract in docs/ar-api.md).

It signs in (answering a 2FA challenge when asked), keeps the session, recognises every form of
session expiry and signs in again once, retries transient trouble with capped exponential backoff
and jitter for as long as AR keeps answering (see ``_Budget``), and pages through Laravel-style
lists. httpx exceptions never leave this module: they become ``aiq.errors`` classes here.

The client is safe to share between threads: windows are fetched concurrently.
"""

from __future__ import annotations

import email.utils
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from aiq import __version__
from aiq.ar.pacing import Pacer, pacer_for
from aiq.errors import (
    AccountLocked,
    AuthRequired,
    InvalidCredentials,
    TwoFactorFailed,
    UpstreamContractError,
    UpstreamError,
    UpstreamUnavailable,
    quote_foreign,
)

log = logging.getLogger("aiq.ar")

_HEADERS = {"User-Agent": f"aiq/{__version__}", "Accept": "application/json"}
DEFAULT_DEADLINE = 120.0
"""Seconds a whole request may take: connecting, sending and reading the entire answer."""
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
"""The largest answer aiq accepts (decoded); AR's pages are some hundred kilobytes."""


@dataclass(frozen=True)
class Answer:
    """AR's answer to one request, read whole (within the deadline and the size cap)."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 120.0
# Give up on a session only when signing in no longer yields any successful request: this many
# sign-ins in a row with no answer between them (a few expiries here and there never count).
# With a third of AR's answers failing, a fresh session dies before serving a request about one
# time in seven (an expiry among the first answers, before a success): eight in a row is about
# one chance in six million, while an AR that ends every session at once is given up at once.
MAX_FRUITLESS_LOGINS = 8
# A request meets at most this many expiries (each followed by a sign-in, its own or another
# thread's) before it is given up; the fruitless-login rule normally ends things first.
MAX_EXPIRIES_PER_REQUEST = 12
# A request's failed attempts in all, whatever else AR answers meanwhile: this many times
# ``max_retries``, plus one (so that ``max_retries = 0`` still means no retry at all).
ATTEMPTS_PER_RETRY = 4


@dataclass(frozen=True)
class LoginResult:
    """What AR says about a successful sign-in (no secret but the session token)."""

    token: str
    expires_in: int
    account_id: int
    account_name: str
    user_id: int
    user_role: str


@dataclass
class ClientStats:
    """Counters for the run log."""

    requests: int = 0
    retries: int = 0
    logins: int = 0
    by_path: dict[str, int] = field(default_factory=dict)


class SessionExpired(Exception):
    """Internal: AR answered in one of the forms that mean "sign in again"."""


class _Transient(Exception):
    """Internal: a failure worth retrying, with the delay the server asked for (if any)."""

    def __init__(
        self, reason: str, retry_after: float | None = None, *, throttled: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.throttled = throttled  # a 429: AR answered "not now", and the pacer waits it out


@dataclass
class _Budget:
    """The retry budget of one request, kept across the sign-ins its expiries lead to.

    A request is retried for as long as AR keeps answering requests of its kind (the same
    endpoint): it gives up after ``max_retries + 1`` failed attempts in a row during which no
    other request to that endpoint got a useful answer (AR, or that endpoint, is down), or after
    ``ATTEMPTS_PER_RETRY * max_retries + 1`` failed attempts in all (a page AR can never serve,
    while it serves the others). A 429 is AR answering "not now": the pacer waits out its
    ``Retry-After`` for every thread, and it counts only toward the attempts in all.
    """

    answered: int
    """The endpoint's useful answers (``ARClient._answered``) when this request last failed."""
    failures: int = 0
    streak: int = 0
    expiries: int = 0
    last: str = "no attempt"
    others_answered: bool = False
    """Whether AR answered other requests of this kind while this one failed."""

    def failed(self, exc: _Transient, answered: int) -> None:
        """Count a failed attempt; ``answered`` is the endpoint's useful answers by now."""
        self.failures += 1
        self.last = exc.reason
        if answered != self.answered:
            self.streak = 0  # AR answered another request of this kind since the last failure
            self.others_answered = True
        self.answered = answered
        if not exc.throttled:
            self.streak += 1

    def exhausted(self, max_retries: int) -> bool:
        """Whether the request is to be given up."""
        return self.streak > max_retries or self.failures > ATTEMPTS_PER_RETRY * max_retries


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _certificate_problem(exc: BaseException) -> str | None:
    """What certificate verification said, when that is why a connection failed."""
    seen: BaseException | None = exc
    for _ in range(8):  # the cause chain: httpx -> (httpcore ->) ssl
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or "certificate verify failed")
        seen = seen.__cause__ or seen.__context__
    return None


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing (``_Session``)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


_NO_COOKIES = _NoCookies()


class _Session(httpx.Client):
    """httpx's client, keeping no cookies: AR's session is the bearer token aiq sends.

    httpx reads every answer's cookies into its jar (through the standard library's cookiejar,
    some 50 microseconds an answer even when there are none) and merges the jar into every
    request; the session cookies a Laravel application sets on each answer would be parsed, kept
    and sent back for nothing.
    """

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        pass  # nothing to keep


def _looks_like_login_page(response: Answer) -> bool:
    ctype = response.headers.get("content-type", "")
    if "text/html" not in ctype:
        return False
    body = response.text.lower()
    return "<form" in body and ("password" in body or "login" in body)


class ARClient:
    """A session with AR (or the sandbox) at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        email: str | None = None,
        password: str | None = None,
        otp: Callable[[], str] | None = None,
        timeout: float = 30.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 16,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        deadline: float = DEFAULT_DEADLINE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_requests_per_minute: float | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._email = email
        self._password = password
        self._otp = otp
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._token: str | None = None
        self._login_lock = threading.Lock()
        self._fruitless_logins = 0  # sign-ins since the last successful request
        self._stats_lock = threading.Lock()
        self._answered: dict[str, int] = {}  # useful answers per path (the retry budgets' gauge)
        self.stats = ClientStats()
        self.account: LoginResult | None = None
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self._max_per_minute = max_requests_per_minute
        self._pacer = pacer
        self._connect_timeout = min(timeout, 10.0)
        self._urls: dict[str, httpx.URL] = {}
        self._http = _Session(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=self._connect_timeout),
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers=_HEADERS,
            follow_redirects=False,
        )
        # What ``httpx.Client.build_request`` adds to each request, merged once: the client's
        # headers (as they are written) and its timeouts.
        self._headers = {k.decode("ascii"): v.decode("ascii") for k, v in self._http.headers.raw}
        self._extensions = {"timeout": self._http.timeout.as_dict()}

    @property
    def pacer(self) -> Pacer:
        """The request budget of this AR account, shared in this process (``aiq.ar.pacing``)."""
        if self._pacer is None:
            self._pacer = pacer_for(self.base_url, self._email or "", self._max_per_minute)
        return self._pacer

    # --- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ARClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- signing in -----------------------------------------------------------------------------

    def login(self, email: str, password: str, otp: Callable[[], str] | None = None) -> LoginResult:
        """Sign in; answer a 2FA challenge through ``otp`` when AR asks for one.

        Wrong credentials (401) and lockout (423) are raised at once, never retried: retrying them
        would lock the practice out of its own AR account.
        """
        self._email, self._password, self._otp = email, password, otp
        with self._login_lock:
            return self._login_locked()

    def _login_locked(self) -> LoginResult:
        if self._email is None or self._password is None:
            raise AuthRequired("nobody is signed in to AR", hint="run aiq login")
        body = self._call_login("/api/login", {"email": self._email, "password": self._password})
        data = body.get("data") or {}
        if data.get("requires_2fa"):
            if self._otp is None:
                raise TwoFactorFailed(
                    "AR asks for a two-factor code", hint="run aiq login to enter it"
                )
            code = self._otp().strip()
            body = self._call_login(
                "/api/login/2fa", {"challenge": data.get("challenge"), "code": code}, otp=True
            )
            data = body.get("data") or {}
        try:
            account = data.get("account") or {}
            user = data.get("user") or {}
            result = LoginResult(
                token=str(data["token"]),
                expires_in=int(data.get("expires_in") or 3600),
                account_id=int(account["id"]),
                account_name=str(account.get("name") or f"AR account {account['id']}"),
                user_id=int(user.get("id") or 0),
                user_role=str(user.get("role") or ""),
            )
        except (KeyError, TypeError, ValueError):
            raise UpstreamContractError(
                "AR's sign-in answer lacks the token or the account",
                hint="the AR API may have changed; please report it",
            ) from None
        self._token = result.token
        self.account = result
        with self._stats_lock:
            self.stats.logins += 1
        return result

    def _call_login(self, path: str, payload: dict[str, Any], otp: bool = False) -> dict[str, Any]:
        def classify(response: Answer) -> dict[str, Any]:
            if response.status_code == 423:
                raise AccountLocked(
                    "AR has locked this account after repeated failed sign-ins",
                    hint="unlock it in Aesthetic Record, then run aiq login",
                )
            if response.status_code in (401, 403, 422) or (otp and response.status_code == 400):
                if otp:
                    raise TwoFactorFailed(
                        "AR refused the two-factor code", hint="run aiq login again"
                    )
                raise InvalidCredentials(
                    "AR refused the email or password", hint="check them and run aiq login"
                )
            return self._json_body(response, path)

        return self._with_retries("POST", path, classify, json=payload, auth=False)

    # --- requests -------------------------------------------------------------------------------

    def _ensure_token(self) -> str:
        if self._token is None:
            with self._login_lock:
                if self._token is None:
                    self._login_locked()
        assert self._token is not None
        return self._token

    def _relogin(self, stale_token: str | None) -> bool:
        """Sign in again unless another thread already has; True if this call signed in."""
        with self._login_lock:
            if self._token != stale_token:
                return False
            if self._fruitless_logins >= MAX_FRUITLESS_LOGINS:
                # Sessions that die before any request succeeds are not worth more sign-ins.
                raise AuthRequired(
                    f"AR ended the session {self._fruitless_logins} times in a row before any "
                    "request could use it",
                    hint="check the account in Aesthetic Record, then run aiq login",
                )
            self._fruitless_logins += 1
            self._token = None
            self._login_locked()
            return True

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One authenticated request; returns the decoded envelope.

        Transient trouble is retried while AR keeps answering requests of this kind (``_Budget``).
        Session expiry in any of its forms leads to a new sign-in and a retry; aiq gives up on the
        session only when sign-ins stop yielding successful requests (``MAX_FRUITLESS_LOGINS``).
        """

        def classify(response: Answer) -> dict[str, Any]:
            if response.status_code == 401 or _looks_like_login_page(response):
                raise SessionExpired()
            if response.status_code == 422:
                raise UpstreamContractError(
                    self._refusal(response, path), hint="this is a bug in aiq; please report it"
                )
            body = self._json_body(response, path)
            if body.get("error") == "Unauthenticated" or body.get("redirect") == "/login":
                raise SessionExpired()
            return body

        budget = self._budget(path)
        while budget.expiries < MAX_EXPIRIES_PER_REQUEST:
            token = self._ensure_token()
            try:
                body = self._with_retries(
                    method,
                    path,
                    classify,
                    params=params,
                    json=json_body,
                    token=token,
                    budget=budget,
                )
            except SessionExpired:
                # Sign in again, once for every thread: a thread that finds the expired token
                # already replaced just retries with the new one.
                budget.expiries += 1
                log.info("AR session expired; signing in again")
                self._relogin(token)
                continue
            self._fruitless_logins = 0
            return body
        raise AuthRequired(
            f"AR kept ending the session while aiq read {path}",
            hint="check the account in Aesthetic Record, then run aiq login",
        )

    def _budget(self, path: str) -> _Budget:
        with self._stats_lock:
            return _Budget(self._answered.get(path, 0))

    def _with_retries(
        self,
        method: str,
        path: str,
        classify: Callable[[Answer], dict[str, Any]],
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        auth: bool = True,
        token: str | None = None,
        budget: _Budget | None = None,
    ) -> dict[str, Any]:
        budget = budget or self._budget(path)
        url = self._url(path)
        content = None if json is None else orjson.dumps(json)
        while True:
            headers = {"Authorization": f"Bearer {token}"} if auth and token else {}
            if content is not None:
                headers["Content-Type"] = "application/json"
            try:
                with self._stats_lock:
                    self.stats.requests += 1
                    self.stats.by_path[path] = self.stats.by_path.get(path, 0) + 1
                pacer = self.pacer
                pacer.acquire()
                answered: Answer | None = None
                try:
                    answered = response = self._send(method, url, params, content, headers)
                except httpx.TimeoutException as exc:
                    raise _Transient(f"timed out ({type(exc).__name__})") from None
                except httpx.TransportError as exc:
                    problem = _certificate_problem(exc)
                    if problem is not None:
                        # Not transient: retrying cannot make the certificate trusted.
                        raise UpstreamError(
                            f"the TLS certificate of {url.host} could not be verified ({problem})",
                            hint="check the AR address and this machine's clock; behind a proxy "
                            "that inspects TLS, set SSL_CERT_FILE to its CA certificate",
                        ) from None
                    raise _Transient(f"connection failed ({type(exc).__name__})") from None
                finally:
                    if answered is None:
                        pacer.release(None)
                    else:
                        wait = parse_retry_after(answered.headers.get("retry-after")) or 0.0
                        pacer.release(answered.status_code, answered.headers, wait)
                if response.status_code in TRANSIENT_STATUS:
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                    throttled = response.status_code == 429
                    raise _Transient(
                        f"HTTP {response.status_code}", retry_after, throttled=throttled
                    )
                body = classify(response)
            except _Transient as exc:
                with self._stats_lock:
                    useful = self._answered.get(path, 0)
                budget.failed(exc, useful)
                if budget.exhausted(self.max_retries):
                    break
                # A 429's Retry-After is the pacer's to wait out, for every thread at once.
                delay = 0.0 if exc.throttled else self._backoff(budget.streak - 1, exc.retry_after)
                log.info("%s %s: %s; retrying in %.2fs", method, path, exc.reason, delay)
                with self._stats_lock:
                    self.stats.retries += 1
                if delay > 0:
                    self._sleep(delay)
                continue
            with self._stats_lock:
                self._answered[path] = self._answered.get(path, 0) + 1
            return body
        n = budget.failures
        raise UpstreamUnavailable(
            f"AR did not answer {method} {path} after {n} attempt{'s' if n != 1 else ''} "
            f"(last: {budget.last})",
            hint="AR answered other requests like it meanwhile, but not this one; "
            "if it persists, please report it"
            if budget.others_answered
            else "AR may be down or overloaded; try again later",
        )

    def _send(
        self,
        method: str,
        url: httpx.URL,
        params: dict[str, Any] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> Answer:
        """Send one request and read its whole answer, within the deadline and the size cap."""
        started = time.monotonic()
        request = httpx.Request(
            method,
            url,
            params=params,
            content=content,
            headers={**self._headers, **headers},
            extensions=self._extensions,
        )
        response = self._http.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_response_bytes:
                raise self._too_large(method, url)
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        raise self._too_large(method, url)
                    chunks.append(chunk)
                    if time.monotonic() - started > self.deadline:
                        raise _Transient(f"no whole answer within {self.deadline:g}s")
            except httpx.DecodingError:
                # A body garbled on the way (a corrupt gzip stream, a wrong Content-Encoding):
                # transient trouble, like a body cut short, retried within the same budget.
                encoding = response.headers.get("content-encoding", "")
                plain = encoding.isascii() and encoding.isalnum() and len(encoding) <= 16
                what = f"a {encoding} body" if plain else "a body"  # named if a plain token
                raise _Transient(f"{what} that does not decode") from None
        finally:
            response.close()
        if time.monotonic() - started > self.deadline:
            raise _Transient(f"no whole answer within {self.deadline:g}s")
        return Answer(response.status_code, response.headers, b"".join(chunks))

    def _too_large(self, method: str, url: httpx.URL) -> UpstreamContractError:
        mb = self.max_response_bytes / (1024 * 1024)
        return UpstreamContractError(
            f"AR's answer to {method} {url.path} is larger than {mb:g} MB; aiq refused it",
            hint="this is not a page AR sends; if it persists, please report it",
        )

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of ``path``, parsed once (httpx would parse and merge it every time)."""
        url = self._urls.get(path)
        if url is None:
            # As httpx merges a relative URL into the base URL (whose path ends with "/").
            base = self._http.base_url
            url = base.copy_with(raw_path=base.raw_path + path.lstrip("/").encode("ascii"))
            self._urls[path] = url
        return url

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** max(0, attempt)))
        # "Full jitter": spreads concurrent retries so they do not hit AR in lockstep.
        return self._rng.uniform(ceiling / 2, ceiling)

    def _json_body(self, response: Answer, path: str) -> dict[str, Any]:
        ctype = response.headers.get("content-type", "")
        if "json" not in ctype and (response.status_code >= 400 or "text/html" in ctype):
            # A proxy's HTML error page, or a page that is not an answer at all.
            raise _Transient(f"HTTP {response.status_code} with a non-JSON body")
        try:
            # orjson: about twice as fast as the standard library on AR's pages.
            body = orjson.loads(response.content)
        except ValueError:
            # A body cut off mid-way (truncated JSON) is transient trouble, not a contract change.
            raise _Transient(f"invalid JSON body (HTTP {response.status_code})") from None
        if not isinstance(body, dict):
            raise UpstreamContractError("AR answered with JSON that is not an object")
        if response.status_code >= 400:
            raise UpstreamError(self._refusal(response, path))
        return body

    @staticmethod
    def _refusal(response: Answer, path: str) -> str:
        """The error line for an answer of HTTP 400 or more that is not retried, with AR's own
        message if it gave one: quoted and made safe to print (``quote_foreign``), for it is
        text from outside aiq and could hold anything (line breaks, terminal escapes)."""
        status = response.status_code
        line = f"AR {'refused' if status < 500 else 'failed'} the request to {path} (HTTP {status})"
        try:
            body = response.json()
        except ValueError:
            return line
        said = body.get("message") if isinstance(body, dict) else None
        return f"{line}: {quote_foreign(str(said))}" if said else line

    # --- pagination -----------------------------------------------------------------------------

    def paginate(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield each page's records of a Laravel-style list, checking that the pages add up."""
        pager = PageNumberPaginator(path)
        page = 1
        while True:
            if method == "GET":
                body = self.request_json(
                    method, path, params={**(params or {}), "page_number": page}
                )
            else:
                body = self.request_json(
                    method, path, json_body={**(json_body or {}), "page_number": page}
                )
            records = pager.accept(page, body)
            yield records
            if pager.done(page):
                pager.finish()
                return
            page += 1


class PageNumberPaginator:
    """Checks Laravel-style pages (``current_page``, ``last_page``, ``per_page``, ``total``).

    If the pages do not add up (a total that changes, a short page before the last, ids out of
    order, fewer records than announced), the window fails loudly rather than keep a partial one.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.total: int | None = None
        self.last_page: int | None = None
        self.per_page: int | None = None
        self.received = 0
        self.last_id: Any = None

    def _fail(self, what: str) -> UpstreamContractError:
        return UpstreamContractError(
            f"pages of {self.path} do not add up: {what}",
            hint="the data changed while it was read, or AR misbehaved; "
            "the window will be read again",
        )

    def accept(self, page: int, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Validate one page and return its records."""
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise UpstreamContractError(f"{self.path} answered without a page of records")
        try:
            total, last_page = int(data["total"]), int(data["last_page"])
            per_page, current = int(data["per_page"]), int(data["current_page"])
        except (KeyError, TypeError, ValueError):
            raise self._fail("the page lacks total / last_page / per_page / current_page") from None
        records: list[dict[str, Any]] = data["data"]
        if current != page:
            raise self._fail(f"asked for page {page}, got page {current}")
        if self.total is None:
            self.total, self.last_page, self.per_page = total, last_page, per_page
            expected_pages = max(1, -(-total // per_page)) if per_page > 0 else 1
            if last_page != expected_pages:
                raise self._fail(f"total {total} at {per_page} a page is not {last_page} pages")
        elif (total, last_page, per_page) != (self.total, self.last_page, self.per_page):
            raise self._fail(
                f"page {page} says total {total} / last page {last_page}, "
                f"page 1 said {self.total} / {self.last_page}"
            )
        assert self.last_page is not None and self.per_page is not None
        if page < self.last_page and len(records) != self.per_page:
            raise self._fail(
                f"page {page} of {self.last_page} holds {len(records)} records, not {self.per_page}"
            )
        for rec in records:
            rid = rec.get("id") if isinstance(rec, dict) else None
            if type(rid) is not int:
                continue  # no usable id: the mapping skips the record and says so
            if self.last_id is not None and rid <= self.last_id:
                raise self._fail(f"record ids are not ascending ({self.last_id} then {rid})")
            self.last_id = rid
        self.received += len(records)
        return records

    def done(self, page: int) -> bool:
        """Whether ``page`` was the last page."""
        return self.last_page is not None and page >= self.last_page

    def finish(self) -> None:
        """Check that every announced record arrived."""
        if self.total is not None and self.received != self.total:
            raise self._fail(f"{self.received} records received, {self.total} announced")
