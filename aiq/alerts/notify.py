"""Notifiers: email over SMTP, email through Resend's HTTP API, and a JSON webhook.

Each takes a ``Message`` and sends it or raises ``DeliveryFailed`` with one line that names the
notifier and the trouble, never a secret (the SMTP password, the Resend API key and the webhook
URL, which often carries a token, are registered with the redaction registry when the notifiers
are built, so no log line or error report shows them either). What the server itself said (an SMTP
reply, the body of an HTTP error) is foreign text: it is shown quoted and made safe to print
(``aiq.errors.quote_foreign``), so it can neither break the line nor drive a terminal.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from aiq.alerts.model import Message
from aiq.errors import ConfigError, DeliveryFailed, quote_foreign
from aiq.vault.redact import redact, register_secret

if TYPE_CHECKING:
    from aiq.config import AlertSettings


class Notifier(Protocol):
    """Sends a message somewhere."""

    channel: str
    is_email: bool

    def send(self, message: Message) -> None: ...


def _recipients(text: str) -> list[str]:
    return [r.strip() for r in text.replace(";", ",").split(",") if r.strip()]


@dataclass
class SMTPNotifier:
    """Email through an SMTP server: STARTTLS (587), implicit TLS (465) or plain, and a login."""

    host: str
    port: int
    sender: str
    to: list[str]
    security: str = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""
    timeout: float = 15.0
    channel: str = "smtp"
    is_email: bool = True

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)

    def _login(self, smtp: smtplib.SMTP) -> None:
        # One mechanism, PLAIN when offered (always over TLS here): smtplib's login() would try
        # every mechanism in turn, and each refused attempt counts against us (fail2ban).
        offered = (smtp.esmtp_features.get("auth") or "").upper().split()
        if "PLAIN" in offered:
            smtp.user, smtp.password = self.username, self.password
            smtp.auth("PLAIN", smtp.auth_plain)
        else:
            smtp.login(self.username, self.password)

    def send(self, message: Message) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = message.message_id or make_msgid(
            idstring=message.key.replace(":", "."), domain="aiq"
        )
        if message.thread:  # a reminder or resolved note, shown in the alert's thread
            mail["In-Reply-To"] = message.thread
            mail["References"] = message.thread
        mail["X-Aiq-Event"] = message.event
        mail.set_content(message.text)
        where = f"SMTP server {self.host}:{self.port}"
        try:
            if self.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if self.security == "starttls":
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if self.username:
                    self._login(smtp)
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(
                f"{where} refused the login ({exc.smtp_code})",
                hint="check [alerts] smtp_username and smtp_password",
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryFailed(
                f"{where} does not offer STARTTLS or AUTH",
                hint="set [alerts] smtp_security to match the server",
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(
                f"{where} answered {exc.smtp_code}{_said(exc.smtp_error)}"
            ) from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryFailed(
                f"{where} refused every recipient", hint="check email_to"
            ) from None
        except ssl.SSLError as exc:
            raise DeliveryFailed(f"{where}: TLS failed ({exc.reason})") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"{where}: {redact(str(exc)) or type(exc).__name__}") from None


def _said(text: Any) -> str:
    """``: "what the server said"``, secrets redacted, quoted and made safe to print; ``""`` when
    it said nothing."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text)
    return f": {quote_foreign(redact(text))}" if text.strip() else ""


def _post(url: str, name: str, timeout: float, **kw: Any) -> None:
    import httpx

    try:
        resp = httpx.post(url, timeout=timeout, **kw)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{name} did not answer ({type(exc).__name__})") from None
    if resp.status_code >= 300:
        raise DeliveryFailed(f"{name} answered HTTP {resp.status_code}{_said(resp.text)}")


def _thread_headers(message: Message) -> dict[str, str]:
    headers = {"Message-ID": message.message_id} if message.message_id else {}
    if message.thread:
        headers |= {"In-Reply-To": message.thread, "References": message.thread}
    return headers


@dataclass
class ResendNotifier:
    """Email through Resend's HTTP API: POST {base_url}/emails with a bearer API key."""

    api_key: str = field(repr=False)
    sender: str = ""
    to: list[str] = field(default_factory=list)
    base_url: str = "https://api.resend.com"
    timeout: float = 15.0
    channel: str = "resend"
    is_email: bool = True

    def send(self, message: Message) -> None:
        _post(
            self.base_url.rstrip("/") + "/emails",
            "Resend",
            self.timeout,
            headers={"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": message.key},
            json={
                "from": self.sender,
                "to": self.to,
                "subject": message.subject,
                "text": message.text,
                "headers": _thread_headers(message),
            },
        )


@dataclass
class WebhookNotifier:
    """A JSON document POSTed to a URL (Slack-style or your own endpoint)."""

    url: str = field(repr=False)
    timeout: float = 15.0
    channel: str = "webhook"
    is_email: bool = False

    def send(self, message: Message) -> None:
        _post(
            self.url,
            "the webhook",
            self.timeout,
            headers={"Idempotency-Key": message.key, "User-Agent": "aiq-alerts"},
            json={**message.payload, "text": f"{message.subject}\n\n{message.text}"},
        )


def register_alert_secrets(settings: AlertSettings) -> None:
    """Keep the notifiers' secrets out of every log line and error report."""
    register_secret(settings.smtp_password or None)
    register_secret(settings.resend_api_key or None)
    if settings.webhook_url:
        register_secret(settings.webhook_url)
        parts = urlsplit(settings.webhook_url)
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        # A webhook's token sits in its path (Slack: /services/T…/B…/TOKEN) or its query.
        pieces = [tail, parts.password, parts.path.rstrip("/").rsplit("/", 1)[-1]]
        pieces += [v for _, _, v in (q.partition("=") for q in parts.query.split("&"))]
        for piece in pieces:
            if piece and len(piece) >= 8:
                register_secret(piece)


def build_notifiers(settings: AlertSettings) -> list[Notifier]:
    """Every notifier the settings configure (none when none is)."""
    register_alert_secrets(settings)
    out: list[Notifier] = []
    to = _recipients(settings.email_to)
    if settings.smtp_host:
        if settings.smtp_security not in ("starttls", "tls", "none"):
            raise ConfigError(
                "alerts.smtp_security must be starttls, tls or none, "
                f"not {settings.smtp_security!r}"
            )
        if not to:
            raise ConfigError("alerts.smtp_host is set but alerts.email_to is empty")
        out.append(
            SMTPNotifier(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.email_from,
                to=to,
                security=settings.smtp_security,
                username=settings.smtp_username,
                password=settings.smtp_password,
                ca_file=settings.smtp_ca_file,
                timeout=settings.timeout_seconds,
            )
        )
    if settings.resend_api_key:
        if not to:
            raise ConfigError("alerts.resend_api_key is set but alerts.email_to is empty")
        out.append(
            ResendNotifier(
                api_key=settings.resend_api_key,
                sender=settings.email_from,
                to=to,
                base_url=settings.resend_base_url,
                timeout=settings.timeout_seconds,
            )
        )
    if settings.webhook_url:
        scheme = urlsplit(settings.webhook_url).scheme
        if scheme not in ("http", "https"):
            raise ConfigError("alerts.webhook_url must be an http:// or https:// URL")
        out.append(WebhookNotifier(url=settings.webhook_url, timeout=settings.timeout_seconds))
    return out
