"""AES-256-GCM sealing: fresh nonces, and any change to a ciphertext or its binding fails."""

from __future__ import annotations

import pytest

from aiq.errors import CredentialsCorrupt
from aiq.vault.cipher import NONCE_BYTES, MasterKey, Sealed, key_id_for, open_sealed, seal


def test_round_trip_and_fresh_nonces() -> None:
    key = MasterKey.generate()
    a = seal(key, 1, "password", "hunter2-secret")
    b = seal(key, 1, "password", "hunter2-secret")
    assert len(a.nonce) == NONCE_BYTES
    assert a.nonce != b.nonce and a.ciphertext != b.ciphertext
    assert b"hunter2" not in a.ciphertext
    assert a.key_id == key.key_id == key_id_for(key.material)
    assert open_sealed(key, 1, "password", a) == "hunter2-secret"
    assert open_sealed(key, 1, "password", b) == "hunter2-secret"


def test_key_repr_hides_material() -> None:
    key = MasterKey.generate()
    assert key.material.hex() not in repr(key)
    assert repr(key.material) not in repr(key)
    with pytest.raises(ValueError):
        MasterKey(b"short")


def test_every_flipped_byte_fails() -> None:
    key = MasterKey.generate()
    sealed = seal(key, 7, "email", "owner@example.com")
    for i in range(len(sealed.ciphertext)):
        bad = bytearray(sealed.ciphertext)
        bad[i] ^= 0x01
        with pytest.raises(CredentialsCorrupt, match="corrupt or were encrypted with another key"):
            open_sealed(key, 7, "email", Sealed(sealed.key_id, sealed.nonce, bytes(bad)))
    for i in range(len(sealed.nonce)):
        bad = bytearray(sealed.nonce)
        bad[i] ^= 0x80
        with pytest.raises(CredentialsCorrupt):
            open_sealed(key, 7, "email", Sealed(sealed.key_id, bytes(bad), sealed.ciphertext))
    with pytest.raises(CredentialsCorrupt):
        open_sealed(key, 7, "email", Sealed(sealed.key_id, sealed.nonce, sealed.ciphertext[:-1]))


@pytest.mark.parametrize(
    ("org", "name", "relabel"),
    [(8, "email", False), (7, "password", False), (7, "email", True)],
    ids=["other-org", "other-field", "other-key-id"],
)
def test_binding_to_org_field_and_key_id(org: int, name: str, relabel: bool) -> None:
    key = MasterKey.generate()
    sealed = seal(key, 7, "email", "owner@example.com")
    if relabel:
        sealed = Sealed("0123456789abcdef", sealed.nonce, sealed.ciphertext)
    with pytest.raises(CredentialsCorrupt):
        open_sealed(key, org, name, sealed)


def test_another_key_fails() -> None:
    sealed = seal(MasterKey.generate(), 1, "password", "pw-secret")
    with pytest.raises(CredentialsCorrupt):
        open_sealed(MasterKey.generate(), 1, "password", sealed)
