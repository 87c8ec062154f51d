"""AES-256-GCM sealing of one credential field.

Each encryption draws a fresh random 96-bit nonce. The associated data binds the key id, the org and
the field name, so a ciphertext copied to another row, another org or another field, or relabelled
with another key id, fails authentication exactly like a flipped byte does. A key id is a digest of
the key (not the key), so aiq can tell which key a ciphertext needs without trying them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from aiq.errors import CredentialsCorrupt

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, the size GCM is designed for
_AAD_PREFIX = "aiq-vault-v1"


def key_id_for(material: bytes) -> str:
    """The public name of a key: 16 hex digits of a domain-separated SHA-256 of it."""
    return hashlib.sha256(b"aiq master key id\x00" + material).hexdigest()[:16]


@dataclass(frozen=True)
class MasterKey:
    """A 256-bit master key and its id. ``material`` is never shown in a repr."""

    material: bytes = field(repr=False)
    key_id: str = ""

    def __post_init__(self) -> None:
        if len(self.material) != KEY_BYTES:
            raise ValueError(f"a master key is {KEY_BYTES} bytes, not {len(self.material)}")
        if not self.key_id:
            object.__setattr__(self, "key_id", key_id_for(self.material))

    @classmethod
    def generate(cls) -> MasterKey:
        """A new random key from the operating system's CSPRNG."""
        return cls(os.urandom(KEY_BYTES))


@dataclass(frozen=True)
class Sealed:
    """One encrypted field as stored: which key, the nonce, and ciphertext with its GCM tag."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


def stored(key_id: object, nonce: object, ciphertext: object) -> Sealed:
    """A sealed field as read from the database. A value that is not bytes (a ciphertext replaced
    by text, say) makes a field that fails to open as corrupt, without its content being shown."""

    def raw(value: object) -> bytes:
        return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else b""

    return Sealed(str(key_id), raw(nonce), raw(ciphertext))


def associated_data(key_id: str, org_id: int, name: str) -> bytes:
    """What a ciphertext is bound to: the key id, the org and the field name."""
    return f"{_AAD_PREFIX}|key={key_id}|org={org_id}|field={name}".encode()


def seal(key: MasterKey, org_id: int, name: str, plaintext: str) -> Sealed:
    """Encrypt ``plaintext`` for field ``name`` of org ``org_id``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(key.material).encrypt(
        nonce, plaintext.encode("utf-8"), associated_data(key.key_id, org_id, name)
    )
    return Sealed(key.key_id, nonce, ciphertext)


def open_sealed(key: MasterKey, org_id: int, name: str, sealed: Sealed) -> str:
    """Decrypt ``sealed``; ``CredentialsCorrupt`` if it was tampered with, moved or relabelled."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    corrupt = CredentialsCorrupt(
        "the stored credentials are corrupt or were encrypted with another key"
    )
    if len(sealed.nonce) != NONCE_BYTES:
        raise corrupt
    try:
        # The stored key id goes into the associated data: relabelling a row fails here too.
        plaintext = AESGCM(key.material).decrypt(
            sealed.nonce, sealed.ciphertext, associated_data(sealed.key_id, org_id, name)
        )
        return plaintext.decode("utf-8")
    except (InvalidTag, UnicodeDecodeError, ValueError):
        raise corrupt from None
