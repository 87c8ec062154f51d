"""The vault in a real store (SQLite and Postgres): save, load, tamper, lose the key, rotate."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from aiq.config import Settings, load_settings
from aiq.errors import AuthRequired, CredentialsCorrupt, MasterKeyMissing, UsageError
from aiq.sandbox.server import RunningSandbox
from aiq.store.db import Store
from aiq.store.orgs import resolve_org
from aiq.vault.cipher import MasterKey, Sealed, open_sealed
from aiq.vault.credentials import (
    Vault,
    credential_table,
    delete_credentials,
    load_credentials,
    vault_key_table,
)
from aiq.vault.keys import DATA_KEY_FILE, encode_key, parse_key
from aiq.vault.login import SignedIn, sign_in
from aiq.vault.rotation import _reencrypt, rotate_master_key
from tests.vault.fixtures import (
    EMAIL,
    OTHER_EMAIL,
    OTHER_PASSWORD,
    PASSWORD,
)


@pytest.fixture
def settings(store: Store) -> Settings:
    return load_settings(database_url=store.url)


def login(
    store: Store,
    settings: Settings,
    ar: RunningSandbox,
    email: str = EMAIL,
    password: str = PASSWORD,
) -> SignedIn:
    return sign_in(store, settings, email=email, password=password, base_url=ar.base_url)


def key_file(settings: Settings) -> Path:
    return settings.data_dir / DATA_KEY_FILE


def rows(store: Store) -> list[tuple[int, str, str, bytes, bytes]]:
    with store.connect() as conn:
        return [
            (int(r.org_id), str(r.name), str(r.key_id), bytes(r.nonce), bytes(r.ciphertext))
            for r in conn.execute(
                select(credential_table).order_by(
                    credential_table.c.org_id, credential_table.c.name
                )
            )
        ]


def set_row(store: Store, org_id: int, name: str, **values: object) -> None:
    with store.begin() as conn:
        conn.execute(
            update(credential_table)
            .where(credential_table.c.org_id == org_id, credential_table.c.name == name)
            .values(**values)
        )


def test_save_and_load(store: Store, settings: Settings, ar: RunningSandbox) -> None:
    done = login(store, settings, ar)
    assert done.key_created and done.account_id == 4411 and done.org.name == "Glow Med Spa"
    creds = load_credentials(store, settings, done.org.id)
    assert (creds.email, creds.password, creds.base_url) == (EMAIL, PASSWORD, ar.base_url)
    assert PASSWORD not in repr(creds) and EMAIL not in repr(creds)
    stored = rows(store)
    assert [r[1] for r in stored] == ["email", "password"]
    for _, _, key_id, nonce, ciphertext in stored:
        assert key_id == done.key_id and len(nonce) == 12
        assert PASSWORD.encode() not in ciphertext and EMAIL.encode() not in ciphertext
    # No key material in the database: only its id.
    key = parse_key(key_file(settings).read_bytes(), "k")
    with store.connect() as conn:
        ids = [r.key_id for r in conn.execute(select(vault_key_table))]
    assert ids == [key.key_id]
    # Signing in again replaces the credentials with fresh ciphertexts under the same key.
    again = login(store, settings, ar)
    assert again.replaced and not again.key_created and again.org.id == done.org.id
    assert {r[4] for r in rows(store)}.isdisjoint({r[4] for r in stored})


def test_nobody_signed_in(store: Store, settings: Settings, ar: RunningSandbox) -> None:
    with pytest.raises(AuthRequired, match="run aiq login") as info:
        resolve_org(store, None)
    assert info.value.exit_code == 4
    done = login(store, settings, ar)
    delete_credentials(store, done.org.id)
    with pytest.raises(AuthRequired, match="nobody is signed in to AR for Glow Med Spa") as info:
        load_credentials(store, settings, resolve_org(store, None))
    assert "run aiq login" in str(info.value) and info.value.exit_code == 4


def test_resolve_org_with_several(store: Store, settings: Settings, ar: RunningSandbox) -> None:
    login(store, settings, ar)
    login(store, settings, ar, OTHER_EMAIL, OTHER_PASSWORD)
    with pytest.raises(UsageError, match="Glow Med Spa, Second Spa"):
        resolve_org(store, None)
    assert resolve_org(store, "second spa").name == "Second Spa"
    with pytest.raises(UsageError, match="no practice called 'Nope'"):
        resolve_org(store, "Nope")


def test_org_name_override_and_account_clash(
    store: Store, settings: Settings, ar: RunningSandbox
) -> None:
    done = sign_in(
        store, settings, email=EMAIL, password=PASSWORD, base_url=ar.base_url, org_name="Glow"
    )
    assert done.org.name == "Glow"
    # Later sign-ins of the same account find the same org without --org.
    assert login(store, settings, ar).org.id == done.org.id
    with pytest.raises(UsageError, match="is AR account 4411"):
        sign_in(
            store,
            settings,
            email=OTHER_EMAIL,
            password=OTHER_PASSWORD,
            base_url=ar.base_url,
            org_name="Glow",
        )


def test_flipping_any_stored_byte_fails_cleanly(
    store: Store, settings: Settings, ar: RunningSandbox
) -> None:
    org = login(store, settings, ar).org
    original = {r[1]: r for r in rows(store)}
    for name in ("email", "password"):
        _, _, _, nonce, ciphertext = original[name]
        for column, value in (("ciphertext", ciphertext), ("nonce", nonce)):
            for i in range(len(value)):
                bad = bytearray(value)
                bad[i] ^= 0x04
                set_row(store, org.id, name, **{column: bytes(bad)})
                with pytest.raises(CredentialsCorrupt) as info:
                    load_credentials(store, settings, org)
                assert "corrupt or were encrypted with another key" in str(info.value)
                assert info.value.exit_code == 4
                set_row(store, org.id, name, **{column: value})
    assert load_credentials(store, settings, org).password == PASSWORD


def test_moving_a_ciphertext_to_another_org_or_field_fails(
    store: Store, settings: Settings, ar: RunningSandbox
) -> None:
    a = login(store, settings, ar).org
    b = login(store, settings, ar, OTHER_EMAIL, OTHER_PASSWORD).org
    stored = {(r[0], r[1]): r for r in rows(store)}
    _, _, key_id, nonce, ciphertext = stored[(a.id, "password")]
    # A's password copied over B's.
    set_row(store, b.id, "password", key_id=key_id, nonce=nonce, ciphertext=ciphertext)
    with pytest.raises(CredentialsCorrupt):
        load_credentials(store, settings, b)
    assert load_credentials(store, settings, a).password == PASSWORD
    # A's email and password swapped.
    _, _, _, e_nonce, e_cipher = stored[(a.id, "email")]
    set_row(store, a.id, "password", nonce=e_nonce, ciphertext=e_cipher)
    with pytest.raises(CredentialsCorrupt):
        load_credentials(store, settings, a)


def test_relabelled_key_id_fails(store: Store, settings: Settings, ar: RunningSandbox) -> None:
    org = login(store, settings, ar).org
    set_row(store, org.id, "email", key_id="0000000000000000")
    with pytest.raises(CredentialsCorrupt, match="encrypted with another key"):
        load_credentials(store, settings, org)


def test_lost_key_is_an_error_never_a_new_key(
    store: Store, settings: Settings, ar: RunningSandbox
) -> None:
    org = login(store, settings, ar).org
    key_file(settings).unlink()
    with pytest.raises(MasterKeyMissing) as info:
        load_credentials(store, settings, org)
    message = str(info.value)
    assert info.value.exit_code == 4
    for place in ("AIQ_MASTER_KEY_FILE", "CREDENTIALS_DIRECTORY", "OS keyring", "AIQ_MASTER_KEY"):
        assert place in message
    assert str(key_file(settings)) in message
    # Signing in again does not create a key over the existing data, and does not ask AR.
    ar.sandbox.stats.reset()
    with pytest.raises(MasterKeyMissing):
        login(store, settings, ar)
    assert ar.sandbox.stats["login"] == 0
    assert not key_file(settings).exists()
    # Asked for explicitly, it does.
    done = sign_in(
        store, settings, email=EMAIL, password=PASSWORD, base_url=ar.base_url, new_key=True
    )
    assert done.key_created and load_credentials(store, settings, org).password == PASSWORD


def test_another_key_is_named(store: Store, settings: Settings, ar: RunningSandbox) -> None:
    org = login(store, settings, ar).org
    path = key_file(settings)
    path.unlink()
    path.write_text(encode_key(MasterKey.generate()))
    path.chmod(0o600)
    with pytest.raises(CredentialsCorrupt, match="encrypted with another key"):
        load_credentials(store, settings, org)


def test_rotation_reencrypts_everything_and_retires_the_old_key(
    store: Store, settings: Settings, ar: RunningSandbox
) -> None:
    login(store, settings, ar)
    login(store, settings, ar, OTHER_EMAIL, OTHER_PASSWORD)
    old = parse_key(key_file(settings).read_bytes(), "old")
    before = rows(store)
    done = rotate_master_key(store, settings.data_dir)
    assert done.reencrypted == 4 and done.old_key_id == old.key_id and not done.moved
    new = parse_key(key_file(settings).read_bytes(), "new")
    assert new.key_id == done.new_key_id != old.key_id
    assert key_file(settings).stat().st_mode & 0o777 == 0o600
    assert not (settings.data_dir / (DATA_KEY_FILE + ".next")).exists()
    after = rows(store)
    assert len(after) == len(before) == 4
    for org_id, name, key_id, nonce, ciphertext in after:
        assert key_id == new.key_id
        # The old key opens nothing any more, even with the old label put back.
        for label in (old.key_id, new.key_id):
            with pytest.raises(CredentialsCorrupt):
                open_sealed(old, org_id, name, Sealed(label, nonce, ciphertext))
    by_name = {
        o.name: o for o in (resolve_org(store, "Glow Med Spa"), resolve_org(store, "Second Spa"))
    }
    assert load_credentials(store, settings, by_name["Glow Med Spa"]).password == PASSWORD
    assert load_credentials(store, settings, by_name["Second Spa"]).password == OTHER_PASSWORD
    with store.connect() as conn:
        status = {r.key_id: r.status for r in conn.execute(select(vault_key_table))}
    assert status == {old.key_id: "retired", new.key_id: "active"}


def test_rotation_is_all_or_nothing(store: Store, settings: Settings, ar: RunningSandbox) -> None:
    login(store, settings, ar)
    second = login(store, settings, ar, OTHER_EMAIL, OTHER_PASSWORD).org
    key_text = key_file(settings).read_bytes()
    stored = {(r[0], r[1]): r for r in rows(store)}
    ciphertext = stored[(second.id, "password")][4]
    set_row(store, second.id, "password", ciphertext=ciphertext[:-1] + bytes([ciphertext[-1] ^ 1]))
    before = rows(store)
    with pytest.raises(CredentialsCorrupt, match="nothing was re-encrypted"):
        rotate_master_key(store, settings.data_dir)
    assert rows(store) == before
    assert key_file(settings).read_bytes() == key_text
    assert not (settings.data_dir / (DATA_KEY_FILE + ".next")).exists()
    with store.connect() as conn:
        assert [r.status for r in conn.execute(select(vault_key_table))] == ["active"]
    first = resolve_org(store, "Glow Med Spa")
    assert load_credentials(store, settings, first).password == PASSWORD


def test_interrupted_rotation_is_finished_on_next_use(
    store: Store, settings: Settings, ar: RunningSandbox
) -> None:
    org = login(store, settings, ar).org
    vault = Vault(store, settings.data_dir)
    old = vault.master_key()
    source = vault.search().source
    assert source is not None
    new = MasterKey.generate()
    source.stage(new)
    # The transaction committed, then aiq died before promoting the staged key.
    _reencrypt(store, old, new, source.kind, lambda: None)
    said: list[str] = []
    creds = load_credentials(store, settings, org, announce=said.append)
    assert creds.password == PASSWORD
    assert parse_key(key_file(settings).read_bytes(), "k") == new
    assert any("Finished an interrupted key rotation" in s for s in said)


def test_rotation_of_a_key_aiq_cannot_change(
    store: Store, settings: Settings, ar: RunningSandbox, tmp_path: Path
) -> None:
    env_key = MasterKey.generate()
    environ = {"AIQ_MASTER_KEY": encode_key(env_key)}
    org = sign_in(
        store, settings, email=EMAIL, password=PASSWORD, base_url=ar.base_url, environ=environ
    ).org
    assert not key_file(settings).exists()
    said: list[str] = []
    assert load_credentials(store, settings, org, environ=environ, announce=said.append)
    assert said and "Warning" in said[0] and "AIQ_MASTER_KEY" in said[0]
    with pytest.raises(UsageError, match="aiq cannot change"):
        rotate_master_key(store, settings.data_dir, environ=environ)
    target = tmp_path / "new.key"
    done = rotate_master_key(store, settings.data_dir, environ=environ, new_key_file=target)
    assert done.moved and target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(CredentialsCorrupt):
        load_credentials(store, settings, org, environ=environ)
    moved_env = {**environ, "AIQ_MASTER_KEY_FILE": str(target)}
    assert load_credentials(store, settings, org, environ=moved_env).password == PASSWORD


def test_rotation_in_the_keyring(
    store: Store, settings: Settings, ar: RunningSandbox, memory_keyring: object
) -> None:
    from tests.vault.fixtures import MemoryKeyring

    assert isinstance(memory_keyring, MemoryKeyring)
    org = login(store, settings, ar).org
    assert not key_file(settings).exists()
    (entry,) = memory_keyring.entries.values()
    done = rotate_master_key(store, settings.data_dir)
    (after,) = memory_keyring.entries.values()  # the staged entry is gone
    assert after != entry and parse_key(after, "k").key_id == done.new_key_id
    assert load_credentials(store, settings, org).password == PASSWORD


def test_nothing_to_rotate(store: Store, settings: Settings) -> None:
    with pytest.raises(UsageError, match="no master key to rotate"):
        rotate_master_key(store, settings.data_dir)
