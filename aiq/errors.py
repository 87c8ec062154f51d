"""The one exception tree of aiq.

Every error aiq raises on purpose is an ``AiqError``. Each class carries the exit code the CLI
returns for it; the tree below also says which troubles are *transient* (worth retrying later, as
a scheduled sync would). Foreign exceptions (httpx, SQLAlchemy, psycopg, OSError) are translated
once, at the boundary of the module that knows them, with ``raise ... from exc``; nothing above
``aiq/ar`` sees an httpx exception and nothing above ``aiq/store`` sees a database driver's.

    AiqError                      exit 1   an error; the message says what to do
    ├── UsageError                exit 2   bad input: an option, a date, a name
    │   └── ConfigError           exit 2   config.toml or an AIQ_* variable is unreadable or invalid
    ├── Cancelled                 exit 3   the user declined a confirmation
    ├── AuthRequired              exit 4   nobody is signed in, or the credentials are unusable
    │   ├── InvalidCredentials    exit 4   AR refused the email/password (never retried)
    │   ├── AccountLocked         exit 4   AR locked the account after failed sign-ins
    │   ├── TwoFactorFailed       exit 4   the 2FA code was refused
    │   ├── MasterKeyMissing      exit 4   encrypted data exists but no master key was found
    │   ├── CredentialsCorrupt    exit 4   a ciphertext failed authentication (tampered, other key)
    │   └── PermissionDenied      exit 4   the caller's role does not allow the operation
    ├── Locked                    exit 5   another process holds a lock (a sync of the same org)
    ├── Conflict                  exit 6   it clashes with what is stored (an AR account that is
    │                                      already another practice's)
    ├── StoreError                exit 1   the database cannot be used
    │   ├── DatabaseUnreachable   exit 1   transient: the server did not answer
    │   ├── DatabaseTooNew        exit 1   the schema is at a newer migration than this aiq
    │   └── DataMissing           exit 1   nothing synced yet for what was asked
    ├── UpstreamError             exit 1   AR (or the sandbox) misbehaved
    │   ├── UpstreamUnavailable   exit 1   transient: 5xx, 429, resets, timeouts, cut or
    │   │                                  garbled bodies
    │   ├── UpstreamContractError exit 1   a page count that does not add up, a 422, a bad shape
    │   └── RecordInvalid         exit 1   one record is missing a required field (skipped)
    ├── DeliveryFailed            exit 1   transient: an alert could not be sent (tried again)
    └── Interrupted               exit 130 Ctrl-C or SIGTERM

Messages are one line, name the problem and the fix, and never contain a secret. Text from
outside aiq (what AR writes in an error answer, what an alert's SMTP server or webhook answers)
goes in quoted, through ``quote_foreign``.
"""

from __future__ import annotations

from typing import ClassVar


class AiqError(Exception):
    """Root of every error aiq raises on purpose."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UsageError(AiqError):
    """Bad input from the user: an option, a date, a name."""

    exit_code = 2


class ConfigError(UsageError):
    """The configuration file or an AIQ_* variable is unreadable or invalid."""


class Cancelled(AiqError):
    """The user declined a confirmation."""

    exit_code = 3


class AuthRequired(AiqError):
    """Nobody is signed in to AR, or the stored credentials cannot be used."""

    exit_code = 4


class InvalidCredentials(AuthRequired):
    """AR refused the email and password. Never retried: retries lock the account."""


class AccountLocked(AuthRequired):
    """AR locked the account after repeated failed sign-ins. Never retried."""


class TwoFactorFailed(AuthRequired):
    """AR refused the two-factor code."""


class MasterKeyMissing(AuthRequired):
    """Encrypted credentials exist but no master key was found where aiq looks."""


class CredentialsCorrupt(AuthRequired):
    """A stored ciphertext failed authentication: tampered, moved, or another key."""


class PermissionDenied(AuthRequired):
    """The caller's role does not allow this operation."""


class Locked(AiqError):
    """Another process holds the lock aiq needs (for example a sync of the same org)."""

    exit_code = 5


class Conflict(AiqError):
    """What was asked clashes with what is stored: an AR account already signed in as another
    practice (the daemon would sync it twice)."""

    exit_code = 6


class StoreError(AiqError):
    """The database cannot be used."""


class DatabaseUnreachable(StoreError):
    """The database server did not answer."""


class DatabaseTooNew(StoreError):
    """The database schema is at a newer migration than this version of aiq knows."""


class DataMissing(StoreError):
    """Nothing has been synced yet for what was asked."""


class UpstreamError(AiqError):
    """AR (or the sandbox) misbehaved."""


class UpstreamUnavailable(UpstreamError):
    """Transient trouble upstream: 5xx, 429, connection resets, timeouts, bodies cut short or
    garbled (a corrupt gzip stream)."""


class UpstreamContractError(UpstreamError):
    """AR answered something the contract does not allow (a page count that does not add up)."""


class RecordInvalid(UpstreamError):
    """One upstream record lacks a required field; it is skipped and the run marked partial."""

    def __init__(
        self, stream: str, record_id: object, field: str, problem: str = "is missing"
    ) -> None:
        shown = (
            str(record_id)
            if isinstance(record_id, int) or (isinstance(record_id, str) and record_id.isdigit())
            else f"({type(record_id).__name__} id)"
        )
        super().__init__(f"{stream} record {shown}: required field '{field}' {problem}")
        self.stream = stream
        self.record_id = record_id
        self.field = field


class DeliveryFailed(AiqError):
    """A notifier could not send an alert (transient: it is tried again on the next check)."""


class Interrupted(AiqError):
    """The user pressed Ctrl-C or the process was asked to stop."""

    exit_code = 130


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Unicode's control, format (bidirectional overrides, zero-width), surrogate, private-use and
# unassigned characters, and the line and paragraph separators: none is shown as it is.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def quote_foreign(text: str, limit: int = 200) -> str:
    """``text`` from outside aiq (an upstream's message), quoted for an error line.

    Line breaks, terminal escape sequences and every other control or formatting character are
    escaped as Python writes them (``\\n``, ``\\x1b``, ``\\u202e``), and so are ``\\`` and ``"``:
    the text can neither break aiq's one line, nor drive the terminal, nor pass for aiq's own
    words. At most ``limit`` characters of it are shown, then ``…``.
    """
    import unicodedata

    shown: list[str] = []
    size = 0
    for char in text:
        piece = _ESCAPES.get(char)
        if piece is None:
            unprintable = unicodedata.category(char) in _UNPRINTABLE
            piece = char.encode("unicode_escape").decode("ascii") if unprintable else char
        if size + len(piece) > limit:
            shown.append("…")
            break
        shown.append(piece)
        size += len(piece)
    return '"' + "".join(shown) + '"'
