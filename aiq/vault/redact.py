"""The registry of secrets: every value aiq has read from a person or decrypted from the vault.

Logging (``aiq.observability``) and Sentry scrubbing replace each registered secret, in every form
it may take in text (as is, JSON-escaped, URL-encoded, ``repr``-escaped), with ``[redacted]``.
Registering the first secret installs the log redaction, so nothing that handles a secret can forget
to. Values shorter than ``MIN_LENGTH`` characters are not registered: replacing "12" in every log
line would destroy the logs and protect nothing.

This module is imported on hot paths (every log record), so it uses the standard library only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
MIN_LENGTH = 4

_lock = threading.Lock()
_patterns: tuple[str, ...] = ()
_secrets: set[str] = set()


def _forms(value: str) -> set[str]:
    """The ways ``value`` can appear in text: raw, JSON-escaped, URL-encoded, repr-escaped."""
    forms = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value),
        repr(value)[1:-1],
    }
    return {f for f in forms if len(f) >= MIN_LENGTH}


def register_secret(value: str | bytes | None) -> None:
    """Remember ``value`` as a secret so that logs and error reports never show it."""
    global _patterns
    if value is None:
        return
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return
    if len(value) < MIN_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        patterns = set(_patterns) | _forms(value)
        # Longest first, so a secret that contains another is replaced whole.
        _patterns = tuple(sorted(patterns, key=len, reverse=True))
    from aiq.observability import install_log_redaction

    install_log_redaction()


def register_secrets(values: Iterable[str | bytes | None]) -> None:
    """Register several secrets."""
    for value in values:
        register_secret(value)


def has_secrets() -> bool:
    """Whether any secret is registered (a fast check for the logging hook)."""
    return bool(_patterns)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``[redacted]``."""
    patterns = _patterns
    if not patterns or not text:
        return text
    for pattern in patterns:
        if pattern in text:
            text = text.replace(pattern, REDACTED)
    return text


def contains_secret(text: str) -> bool:
    """Whether ``text`` contains a registered secret."""
    return any(p in text for p in _patterns)


def scrub(value: Any, _depth: int = 0) -> Any:
    """A copy of a JSON-like structure (an error report) with every secret redacted."""
    if _depth > 64:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return value
        cleaned = redact(text)
        return value if cleaned == text else cleaned.encode("utf-8")
    if isinstance(value, dict):
        return {scrub(k, _depth + 1): scrub(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, _depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub(v, _depth + 1) for v in value)
    return value


def forget_all() -> None:
    """Forget every registered secret (for tests that need a clean registry)."""
    global _patterns
    with _lock:
        _secrets.clear()
        _patterns = ()
