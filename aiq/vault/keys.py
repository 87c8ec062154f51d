"""Where the master key lives, found in a fixed order and never created silently over data.

The sources, tried in this order (the first that holds a key wins):

1. a key file named by ``--key-file`` or ``AIQ_MASTER_KEY_FILE``: when one is named it is the only
   place consulted, so a typo cannot send aiq to another key;
2. a systemd credential, ``$CREDENTIALS_DIRECTORY/aiq-master-key`` (``LoadCredential=`` or
   ``LoadCredentialEncrypted=`` in the unit);
3. the OS keyring, when it is a real one (Secret Service, macOS Keychain, Windows Credential
   Locker), never the fail, null or plaintext backends, and always called under a timeout so a
   locked or absent D-Bus cannot hang aiq;
4. the key file in the data directory (``master.key``), created 0600 and refused when other users
   can read it;
5. ``AIQ_MASTER_KEY`` in the environment, with a warning (environments leak: ``/proc``, ``ps e``,
   crash reports).

A key file holds the 32-byte key as base64 (44 characters) or hex (64); a raw 32-byte file works
too. Every key that is read is registered as a secret (``aiq.vault.redact``).

Rotation writes the new key *beside* the current one (``master.key.next``, or the keyring entry
``master-key.next``), re-encrypts in one transaction, and only then promotes it over the old key; a
crash in between is finished on the next start (see ``aiq.vault.credentials``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import stat
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiq.errors import MasterKeyMissing, UsageError
from aiq.vault.cipher import KEY_BYTES, MasterKey
from aiq.vault.redact import register_secret

KEY_FILE_ENV = "AIQ_MASTER_KEY_FILE"
KEY_ENV = "AIQ_MASTER_KEY"
SYSTEMD_CREDENTIAL = "aiq-master-key"
DATA_KEY_FILE = "master.key"
KEYRING_SERVICE = "aiq"
KEYRING_USER = "master-key"
KEYRING_STAGED_USER = "master-key.next"
KEYRING_TIMEOUT = 3.0

T = TypeVar("T")


class _TimedOut(Exception):
    pass


def _call_with_timeout(fn: Callable[[], T], timeout: float) -> T:
    """Run ``fn`` in a daemon thread; raise ``_TimedOut`` if it does not return in time."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=work, name="aiq-keyring", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise _TimedOut
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def encode_key(key: MasterKey) -> str:
    """The text form of a key, as written to key files and the keyring."""
    return base64.b64encode(key.material).decode("ascii")


def parse_key(data: bytes | str, where: str) -> MasterKey:
    """A key from the text (base64 or hex) or raw bytes of ``where``; an error naming it if not."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    text = raw.strip()
    candidates: list[bytes] = []
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(text, validate=True))
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.urlsafe_b64decode(text))
    with contextlib.suppress(ValueError):
        candidates.append(bytes.fromhex(text.decode("ascii", "replace")))
    if len(raw) == KEY_BYTES:
        candidates.append(raw)
    for candidate in candidates:
        if len(candidate) == KEY_BYTES:
            return MasterKey(candidate)
    raise MasterKeyMissing(
        f"{where} does not hold a 256-bit key",
        hint="expected 44 characters of base64 or 64 hex digits; "
        "create one with: head -c 32 /dev/urandom | base64",
    )


def _mode(st: os.stat_result) -> str:
    return f"{stat.S_IMODE(st.st_mode):04o}"


# --- sources ------------------------------------------------------------------------------------


@dataclass
class KeySource:
    """A place a master key can live."""

    kind: str
    location: str
    writable: bool = False

    def describe(self) -> str:
        """A plain phrase naming this place."""
        return self.location

    def read(self) -> MasterKey | None:
        """The key held here, or None when there is none; an error when it is unusable."""
        raise NotImplementedError

    def write(self, key: MasterKey) -> None:
        """Store a new key here; never overwrites an existing one."""
        raise UsageError(f"aiq cannot write to {self.describe()}")

    def stage(self, key: MasterKey) -> None:
        """Store ``key`` beside the current key, to be promoted once everything is re-encrypted."""
        raise UsageError(f"aiq cannot write to {self.describe()}")

    def read_staged(self) -> MasterKey | None:
        """The staged key of an unfinished rotation, if any."""
        return None

    def promote(self) -> None:
        """Replace the current key with the staged one; the old key is gone afterwards."""
        raise UsageError(f"aiq cannot write to {self.describe()}")

    def discard_staged(self) -> None:
        """Remove a staged key (a rotation that did not commit)."""


@dataclass
class FileKeySource(KeySource):
    """A key file: named by flag or environment, or ``master.key`` in the data directory."""

    path: Path = field(default_factory=Path)
    named_by: str = ""
    forbidden_bits: int = 0o077

    def describe(self) -> str:
        where = f"the key file {self.path}"
        return f"{where} (named by {self.named_by})" if self.named_by else where

    @property
    def staged_path(self) -> Path:
        return self.path.with_name(self.path.name + ".next")

    def _read_file(self, path: Path, what: str) -> MasterKey | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MasterKeyMissing(f"cannot read {what}: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise MasterKeyMissing(f"{what} is not a regular file")
        if os.name == "posix" and st.st_mode & self.forbidden_bits:
            raise MasterKeyMissing(
                f"{what} can be read by other users (mode {_mode(st)}); aiq refuses to use it",
                hint=f"chmod 600 {path}, then consider the key exposed and run aiq keys rotate",
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise MasterKeyMissing(f"cannot read {what}: {exc.strerror}") from None
        key = parse_key(data, what)
        register_secret(encode_key(key))
        return key

    def read(self) -> MasterKey | None:
        return self._read_file(self.path, self.describe())

    def _create(self, path: Path, key: MasterKey, *, replace: bool) -> None:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700)
            if os.name == "posix":
                path.parent.chmod(0o700)  # mkdir's mode is filtered by the umask
        elif self.kind == "data-file" and os.name == "posix":
            with contextlib.suppress(OSError):
                if path.parent.stat().st_mode & 0o077:
                    path.parent.chmod(0o700)
        if replace:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise MasterKeyMissing(
                f"{self.describe()} already exists; aiq never overwrites a key",
            ) from None
        except OSError as exc:
            raise MasterKeyMissing(f"cannot create {path}: {exc.strerror}") from None
        try:
            if os.name == "posix":
                os.fchmod(fd, 0o600)
            os.write(fd, (encode_key(key) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        register_secret(encode_key(key))

    def write(self, key: MasterKey) -> None:
        self._create(self.path, key, replace=False)

    def stage(self, key: MasterKey) -> None:
        self._create(self.staged_path, key, replace=True)

    def read_staged(self) -> MasterKey | None:
        return self._read_file(self.staged_path, f"the staged key file {self.staged_path}")

    def promote(self) -> None:
        os.replace(self.staged_path, self.path)
        if os.name == "posix":
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def discard_staged(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.staged_path.unlink()


@dataclass
class SystemdKeySource(FileKeySource):
    """A systemd service credential; systemd owns it, so aiq only reads it."""

    def describe(self) -> str:
        return f"the systemd credential {self.path}"

    def write(self, key: MasterKey) -> None:
        raise UsageError(f"aiq cannot write to {self.describe()}")

    def stage(self, key: MasterKey) -> None:
        raise UsageError(f"aiq cannot write to {self.describe()}")

    def read_staged(self) -> MasterKey | None:
        return None


@dataclass
class KeyringKeySource(KeySource):
    """An entry in a real OS keyring, every call bounded by a timeout."""

    backend: Any = None
    timeout: float = KEYRING_TIMEOUT

    def describe(self) -> str:
        return f"the OS keyring ({self.location})"

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return _call_with_timeout(fn, self.timeout)
        except _TimedOut:
            raise MasterKeyMissing(
                f"{self.describe()} did not answer within {self.timeout:g} s",
                hint="unlock it, or use a key file (AIQ_MASTER_KEY_FILE)",
            ) from None
        except MasterKeyMissing:
            raise
        except Exception as exc:
            raise MasterKeyMissing(
                f"{self.describe()} failed ({type(exc).__name__})",
                hint="unlock it, or use a key file (AIQ_MASTER_KEY_FILE)",
            ) from None

    def _get(self, user: str) -> MasterKey | None:
        value = self._call(lambda: self.backend.get_password(KEYRING_SERVICE, user))
        if value is None:
            return None
        register_secret(value)
        return parse_key(value, f"{self.describe()} entry {KEYRING_SERVICE}/{user}")

    def read(self) -> MasterKey | None:
        return self._get(KEYRING_USER)

    def write(self, key: MasterKey) -> None:
        if self.read() is not None:
            raise MasterKeyMissing(
                f"{self.describe()} already holds a key; aiq never overwrites it"
            )
        text = encode_key(key)
        register_secret(text)
        self._call(lambda: self.backend.set_password(KEYRING_SERVICE, KEYRING_USER, text))

    def stage(self, key: MasterKey) -> None:
        text = encode_key(key)
        register_secret(text)
        self._call(lambda: self.backend.set_password(KEYRING_SERVICE, KEYRING_STAGED_USER, text))

    def read_staged(self) -> MasterKey | None:
        return self._get(KEYRING_STAGED_USER)

    def promote(self) -> None:
        staged = self.read_staged()
        if staged is None:
            raise MasterKeyMissing(f"{self.describe()} lost the staged key during rotation")
        text = encode_key(staged)
        self._call(lambda: self.backend.set_password(KEYRING_SERVICE, KEYRING_USER, text))
        self.discard_staged()

    def discard_staged(self) -> None:
        with contextlib.suppress(Exception):
            self._call(lambda: self.backend.delete_password(KEYRING_SERVICE, KEYRING_STAGED_USER))


@dataclass
class EnvKeySource(KeySource):
    """``AIQ_MASTER_KEY``: works, with a warning; aiq cannot change it."""

    value: str = field(default="", repr=False)

    def describe(self) -> str:
        return f"the environment variable {KEY_ENV}"

    def read(self) -> MasterKey | None:
        if not self.value:
            return None
        register_secret(self.value)
        key = parse_key(self.value, self.describe())
        register_secret(encode_key(key))
        return key


# --- the keyring probe --------------------------------------------------------------------------

# Backends that are not a real keyring: they fail, keep nothing, or keep it in plain text.
_FAKE_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")
_FAKE_NAMES = ("fail", "null", "plaintext", "uncrypted", "unencrypted")


def _backend_name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_real(backend: Any) -> bool:
    name = _backend_name(backend)
    if name.startswith(_FAKE_MODULES):
        return False
    lowered = type(backend).__qualname__.lower()
    return not any(word in lowered for word in _FAKE_NAMES)


def probe_keyring(timeout: float = KEYRING_TIMEOUT) -> tuple[Any | None, str]:
    """The OS keyring backend when a real one answers in time, else (None, why not)."""

    def get() -> Any:
        import keyring

        return keyring.get_keyring()

    try:
        backend = _call_with_timeout(get, timeout)
    except _TimedOut:
        return None, f"the OS keyring did not answer within {timeout:g} s"
    except Exception as exc:
        return None, f"the OS keyring failed to load ({type(exc).__name__})"
    from keyring.backends.chainer import ChainerBackend

    chained = isinstance(backend, ChainerBackend)
    backends = list(backend.backends or []) if chained else [backend]
    real = [b for b in backends if _is_real(b)]
    if not real:
        names = ", ".join(_backend_name(b) for b in backends) or _backend_name(backend)
        return None, f"no usable OS keyring: {names}"
    # Use the real backend itself, not a chainer that might fall through to a plaintext one.
    return real[0], ""


# --- the search ---------------------------------------------------------------------------------


@dataclass
class KeySearch:
    """What a search for the master key found, and everywhere it looked."""

    key: MasterKey | None = None
    source: KeySource | None = None
    searched: list[str] = field(default_factory=list)
    keyring_backend: Any = None
    keyring_note: str = ""
    data_file: Path | None = None
    named_file: FileKeySource | None = None

    @property
    def found(self) -> bool:
        return self.key is not None

    def announcement(self) -> str:
        """One plain line saying which key aiq uses (or that it found none)."""
        if self.source is None or self.key is None:
            return "No master key found."
        line = f"Master key: {self.source.describe()} (key {self.key.key_id})."
        if isinstance(self.source, EnvKeySource):
            line += (
                f" Warning: a key in the environment can leak (ps, /proc, crash reports); "
                f"prefer a key file ({KEY_FILE_ENV}) or a systemd credential."
            )
        elif self.source.kind == "data-file" and self.keyring_note:
            line = line[: -len(").")] + f"; {self.keyring_note}, so the key file is used)."
        return line

    def missing_message(self) -> str:
        """The places searched, for an error that says where aiq looked."""
        return "; ".join(self.searched)


def _systemd_source(environ: Mapping[str, str]) -> SystemdKeySource | None:
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / SYSTEMD_CREDENTIAL
    # systemd makes credentials readable by the service user (and maybe its group): only
    # world-readable is refused.
    return SystemdKeySource(
        kind="systemd", location=str(path), path=path, forbidden_bits=0o007, writable=False
    )


def find_master_key(
    data_dir: Path,
    *,
    key_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    keyring_timeout: float = KEYRING_TIMEOUT,
) -> KeySearch:
    """Look for the master key in the documented order; never creates one."""
    env = os.environ if environ is None else environ
    search = KeySearch()
    named_by = "--key-file" if key_file is not None else KEY_FILE_ENV
    named = key_file or (Path(env[KEY_FILE_ENV]) if env.get(KEY_FILE_ENV) else None)
    if named is not None:
        source = FileKeySource(
            kind="key-file",
            location=str(named.expanduser()),
            path=named.expanduser(),
            named_by=named_by,
            writable=True,
        )
        search.named_file = source
        key = source.read()
        if key is not None:
            search.key, search.source = key, source
        else:
            search.searched.append(f"{source.describe()}: does not exist")
        # A named key file is the only place consulted: a typo must not lead to another key.
        return search
    search.searched.append(f"a key file named by --key-file or {KEY_FILE_ENV}: none named")

    systemd = _systemd_source(env)
    if systemd is None:
        search.searched.append(
            f"the systemd credential $CREDENTIALS_DIRECTORY/{SYSTEMD_CREDENTIAL}: "
            "CREDENTIALS_DIRECTORY is not set"
        )
    else:
        key = systemd.read()
        if key is not None:
            search.key, search.source = key, systemd
            return search
        search.searched.append(f"{systemd.describe()}: does not exist")

    backend, why_not = probe_keyring(keyring_timeout)
    if backend is None:
        search.keyring_note = why_not
        search.searched.append(f"the OS keyring: {why_not}")
    else:
        ring = KeyringKeySource(
            kind="keyring",
            location=type(backend).__qualname__,
            writable=True,
            backend=backend,
            timeout=keyring_timeout,
        )
        try:
            key = ring.read()
        except MasterKeyMissing as exc:
            search.keyring_note = exc.message
            search.searched.append(f"the OS keyring: {exc.message}")
        else:
            search.keyring_backend = backend
            if key is not None:
                search.key, search.source = key, ring
                return search
            search.searched.append(f"{ring.describe()}: no entry {KEYRING_SERVICE}/{KEYRING_USER}")

    data_path = data_dir / DATA_KEY_FILE
    search.data_file = data_path
    data_source = FileKeySource(
        kind="data-file", location=str(data_path), path=data_path, writable=True
    )
    key = data_source.read()
    if key is not None:
        search.key, search.source = key, data_source
        return search
    search.searched.append(f"{data_source.describe()}: does not exist")

    env_source = EnvKeySource(kind="environment", location=KEY_ENV, value=env.get(KEY_ENV, ""))
    key = env_source.read()
    if key is not None:
        search.key, search.source = key, env_source
        return search
    search.searched.append(f"the environment variable {KEY_ENV}: not set")
    return search


def new_key_source(search: KeySearch, data_dir: Path) -> KeySource:
    """Where a brand-new key goes: the named key file, else a real keyring, else the data dir."""
    if search.named_file is not None:
        return search.named_file
    if search.keyring_backend is not None:
        return KeyringKeySource(
            kind="keyring",
            location=type(search.keyring_backend).__qualname__,
            writable=True,
            backend=search.keyring_backend,
        )
    path = data_dir / DATA_KEY_FILE
    return FileKeySource(kind="data-file", location=str(path), path=path, writable=True)


def file_source(path: Path) -> FileKeySource:
    """A key file aiq may write (for ``aiq keys rotate --new-key-file``)."""
    path = path.expanduser()
    return FileKeySource(
        kind="key-file", location=str(path), path=path, named_by="--new-key-file", writable=True
    )
