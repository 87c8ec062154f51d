"""Master-key sources: the order, the refusals, the keyring under a timeout, never a silent key."""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiq.errors import MasterKeyMissing
from aiq.vault.cipher import MasterKey
from aiq.vault.keys import (
    DATA_KEY_FILE,
    KEYRING_SERVICE,
    KEYRING_USER,
    FileKeySource,
    encode_key,
    find_master_key,
    new_key_source,
    parse_key,
    probe_keyring,
)
from tests.vault.fixtures import MemoryKeyring


def write_key(path: Path, key: MasterKey, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(encode_key(key) + "\n")
    path.chmod(mode)
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir(mode=0o700)
    return d


def test_nothing_found_lists_every_place(data_dir: Path) -> None:
    search = find_master_key(data_dir, environ={})
    assert not search.found
    text = search.missing_message()
    for place in (
        "AIQ_MASTER_KEY_FILE",
        "CREDENTIALS_DIRECTORY",
        "OS keyring",
        str(data_dir / DATA_KEY_FILE),
        "AIQ_MASTER_KEY",
    ):
        assert place in text
    # Searching creates nothing.
    assert list(data_dir.iterdir()) == []


def test_order_named_file_systemd_keyring_data_env(
    tmp_path: Path, data_dir: Path, memory_keyring: MemoryKeyring
) -> None:
    keys = {name: MasterKey.generate() for name in ("named", "systemd", "ring", "data", "env")}
    named = write_key(tmp_path / "named.key", keys["named"])
    creds = tmp_path / "creds"
    write_key(creds / "aiq-master-key", keys["systemd"], 0o400)
    memory_keyring.entries[(KEYRING_SERVICE, KEYRING_USER)] = encode_key(keys["ring"])
    write_key(data_dir / DATA_KEY_FILE, keys["data"])
    env = {
        "AIQ_MASTER_KEY_FILE": str(named),
        "CREDENTIALS_DIRECTORY": str(creds),
        "AIQ_MASTER_KEY": encode_key(keys["env"]),
    }
    expected = [
        ("named", "key-file"),
        ("systemd", "systemd"),
        ("ring", "keyring"),
        ("data", "data-file"),
        ("env", "environment"),
    ]
    for name, kind in expected:
        search = find_master_key(data_dir, environ=env)
        assert search.key == keys[name] and search.source is not None
        assert search.source.kind == kind
        # Take this source away: the next one in the order is found.
        if name == "named":
            del env["AIQ_MASTER_KEY_FILE"]
        elif name == "systemd":
            del env["CREDENTIALS_DIRECTORY"]
        elif name == "ring":
            memory_keyring.entries.clear()
        elif name == "data":
            (data_dir / DATA_KEY_FILE).unlink()
    assert "Warning" in search.announcement() and "environment" in search.announcement()


def test_flag_beats_environment_and_is_the_only_place(tmp_path: Path, data_dir: Path) -> None:
    flag_key, env_key, data_key = MasterKey.generate(), MasterKey.generate(), MasterKey.generate()
    flag = write_key(tmp_path / "flag.key", flag_key)
    env_file = write_key(tmp_path / "env.key", env_key)
    write_key(data_dir / DATA_KEY_FILE, data_key)
    search = find_master_key(
        data_dir, key_file=flag, environ={"AIQ_MASTER_KEY_FILE": str(env_file)}
    )
    assert search.key == flag_key and "--key-file" in search.announcement()
    # A named file that does not exist is not silently replaced by another key.
    search = find_master_key(data_dir, key_file=tmp_path / "typo.key", environ={})
    assert not search.found
    assert "typo.key" in search.missing_message()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_loose_key_file_is_refused(data_dir: Path, mode: int) -> None:
    path = write_key(data_dir / DATA_KEY_FILE, MasterKey.generate(), mode)
    with pytest.raises(MasterKeyMissing, match="can be read by other users") as info:
        find_master_key(data_dir, environ={})
    assert f"chmod 600 {path}" in str(info.value)
    assert info.value.exit_code == 4


def test_world_readable_systemd_credential_is_refused(tmp_path: Path, data_dir: Path) -> None:
    creds = tmp_path / "creds"
    write_key(creds / "aiq-master-key", MasterKey.generate(), 0o444)
    with pytest.raises(MasterKeyMissing, match="other users"):
        find_master_key(data_dir, environ={"CREDENTIALS_DIRECTORY": str(creds)})
    # systemd's own 0440 (service group) is fine.
    (creds / "aiq-master-key").chmod(0o440)
    assert find_master_key(data_dir, environ={"CREDENTIALS_DIRECTORY": str(creds)}).found


def test_key_formats() -> None:
    key = MasterKey.generate()
    assert parse_key(encode_key(key), "x") == key
    assert parse_key(encode_key(key) + "\n", "x") == key
    assert parse_key(key.material.hex(), "x") == key
    assert parse_key(base64.urlsafe_b64encode(key.material), "x") == key
    assert parse_key(key.material, "x") == key
    for bad in ("", "not a key", base64.b64encode(b"x" * 16).decode()):
        with pytest.raises(MasterKeyMissing, match="does not hold a 256-bit key"):
            parse_key(bad, "the key file k")


def test_unparseable_key_file_names_the_file(data_dir: Path) -> None:
    path = data_dir / DATA_KEY_FILE
    path.write_text("hello\n")
    path.chmod(0o600)
    with pytest.raises(MasterKeyMissing, match=str(path)):
        find_master_key(data_dir, environ={})


def test_new_key_goes_to_the_data_dir_0600_without_a_keyring(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    search = find_master_key(data_dir, environ={})
    source = new_key_source(search, data_dir)
    assert isinstance(source, FileKeySource) and source.kind == "data-file"
    key = MasterKey.generate()
    source.write(key)
    path = data_dir / DATA_KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert find_master_key(data_dir, environ={}).key == key
    # Never overwritten.
    with pytest.raises(MasterKeyMissing, match="never overwrites"):
        source.write(MasterKey.generate())
    assert find_master_key(data_dir, environ={}).key == key
    assert "no usable OS keyring" in search.keyring_note
    # The line that says which key is used reads as one sentence, its parentheses balanced.
    found = find_master_key(data_dir, environ={})
    line = found.announcement()
    assert line.startswith(f"Master key: the key file {path} (key {key.key_id}; no usable")
    assert line.endswith(", so the key file is used).")
    assert line.count("(") == line.count(")")


def test_new_key_goes_to_a_real_keyring(data_dir: Path, memory_keyring: MemoryKeyring) -> None:
    search = find_master_key(data_dir, environ={})
    source = new_key_source(search, data_dir)
    assert source.kind == "keyring"
    key = MasterKey.generate()
    source.write(key)
    assert memory_keyring.entries[(KEYRING_SERVICE, KEYRING_USER)] == encode_key(key)
    assert not (data_dir / DATA_KEY_FILE).exists()
    found = find_master_key(data_dir, environ={})
    assert found.key == key and "OS keyring" in found.announcement()


def test_named_key_file_is_created_where_named(tmp_path: Path, data_dir: Path) -> None:
    named = tmp_path / "etc" / "aiq.key"
    search = find_master_key(data_dir, environ={"AIQ_MASTER_KEY_FILE": str(named)})
    source = new_key_source(search, data_dir)
    source.write(MasterKey.generate())
    assert named.stat().st_mode & 0o777 == 0o600
    assert not (data_dir / DATA_KEY_FILE).exists()


def _fake_backend(module: str, name: str) -> object:
    from keyring.backend import KeyringBackend

    def nothing(self: object, *args: object) -> None:
        return None

    cls = type(
        name,
        (KeyringBackend,),
        {
            "__module__": module,
            "priority": 1,
            "get_password": nothing,
            "set_password": nothing,
            "delete_password": nothing,
        },
    )
    return cls()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("keyring.backends.fail", "Keyring"),
        ("keyring.backends.null", "Keyring"),
        ("keyrings.alt.file", "PlaintextKeyring"),
        ("keyrings.alt.file", "EncryptedKeyring"),
        ("somewhere.else", "PlaintextKeyring"),
    ],
)
def test_fake_keyrings_are_rejected(module: str, name: str) -> None:
    import keyring

    backend = _fake_backend(module, name)
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)  # type: ignore[arg-type]
    try:
        found, why = probe_keyring(1.0)
    finally:
        keyring.set_keyring(previous)
    assert found is None and "no usable OS keyring" in why


def test_chainer_with_only_fake_backends_is_rejected() -> None:
    import keyring
    from keyring.backends import chainer, fail

    class Chain(chainer.ChainerBackend):
        @property
        def backends(self) -> list[object]:
            return [fail.Keyring()]

    previous = keyring.get_keyring()
    keyring.set_keyring(Chain())
    try:
        found, why = probe_keyring(1.0)
    finally:
        keyring.set_keyring(previous)
    assert found is None and "fail" in why


@pytest.fixture
def hanging_keyring() -> Iterator[threading.Event]:
    """A keyring whose every call blocks (a locked desktop keyring waiting for a prompt)."""
    import keyring
    from keyring.backend import KeyringBackend

    release = threading.Event()

    class SecretServiceThatHangs(KeyringBackend):
        priority = 5

        def get_password(self, service: str, username: str) -> str | None:
            release.wait(30)
            return None

        def set_password(self, service: str, username: str, password: str) -> None:
            release.wait(30)

        def delete_password(self, service: str, username: str) -> None:
            release.wait(30)

    keyring.set_keyring(SecretServiceThatHangs())
    yield release
    release.set()


def test_hanging_keyring_times_out_and_the_file_is_used(
    data_dir: Path, hanging_keyring: threading.Event
) -> None:
    key = MasterKey.generate()
    write_key(data_dir / DATA_KEY_FILE, key)
    start = time.monotonic()
    search = find_master_key(data_dir, environ={}, keyring_timeout=0.2)
    assert time.monotonic() - start < 5
    assert search.key == key
    assert "did not answer within 0.2 s" in search.keyring_note
    # With no key anywhere, a new one goes to the file, not to the keyring that hung.
    (data_dir / DATA_KEY_FILE).unlink()
    search = find_master_key(data_dir, environ={}, keyring_timeout=0.2)
    assert new_key_source(search, data_dir).kind == "data-file"


def test_keys_read_are_registered_as_secrets(data_dir: Path) -> None:
    from aiq.vault.redact import redact

    key = MasterKey.generate()
    write_key(data_dir / DATA_KEY_FILE, key)
    find_master_key(data_dir, environ={})
    assert encode_key(key) not in redact(f"key={encode_key(key)}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_key_file(data_dir: Path) -> None:
    path = write_key(data_dir / DATA_KEY_FILE, MasterKey.generate(), 0o000)
    with pytest.raises(MasterKeyMissing, match="cannot read"):
        find_master_key(data_dir, environ={})
    path.chmod(0o600)
