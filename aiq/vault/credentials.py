"""An org's AR sign-in, sealed in the ``credential`` table and opened with the master key.

``load_credentials`` is what sync and the daemon call: it returns the email, the password and the
AR base URL of an org, or raises ``AuthRequired`` ("run aiq login") when nobody signed in,
``MasterKeyMissing`` when the key is gone, and ``CredentialsCorrupt`` when a ciphertext fails
authentication (tampered, moved to another org, or sealed by another key). Every value it opens is
registered as a secret first thing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, func, insert, select, update

from aiq.clock import utcnow
from aiq.errors import AuthRequired, CredentialsCorrupt, MasterKeyMissing, UsageError
from aiq.store.models import table_of
from aiq.store.orgs import OrgRef, get_org, list_orgs
from aiq.store.vault_models import ARLogin, Credential, VaultKey
from aiq.vault.cipher import MasterKey, Sealed, open_sealed, seal, stored
from aiq.vault.keys import (
    KEYRING_TIMEOUT,
    EnvKeySource,
    KeySearch,
    find_master_key,
    new_key_source,
)
from aiq.vault.redact import register_secret

if TYPE_CHECKING:
    from aiq.config import Settings
    from aiq.store.db import Store

log = logging.getLogger(__name__)

credential_table = table_of(Credential)
ar_login_table = table_of(ARLogin)
vault_key_table = table_of(VaultKey)

FIELDS = ("email", "password")

Announce = Callable[[str], None]

# What has been said in this process: "what aiq chose is said once".
_announced: set[str] = set()


def say_once(announce: Announce | None, message: str) -> None:
    """Say ``message`` to the person unless this process has said it already (else log it)."""
    if announce is None:
        log.info("%s", message)
        return
    if message in _announced:
        return
    _announced.add(message)
    announce(message)


@dataclass(frozen=True)
class Credentials:
    """An org's AR sign-in. The email and password never appear in a repr."""

    email: str = field(repr=False)
    password: str = field(repr=False)
    base_url: str
    org: OrgRef


def missing_key_error(search: KeySearch) -> MasterKeyMissing:
    """The error for encrypted data with no key: it lists every place aiq looked."""
    return MasterKeyMissing(
        "encrypted AR credentials exist but no master key was found; searched: "
        + search.missing_message(),
        hint="restore the key (see docs/security.md), or start over with "
        "aiq login --new-key and sign in again for every practice",
    )


class Vault:
    """The master key (found once per instance) and the sealed credentials in one store."""

    def __init__(
        self,
        store: Store,
        data_dir: Path,
        *,
        key_file: Path | None = None,
        environ: Mapping[str, str] | None = None,
        announce: Announce | None = None,
        keyring_timeout: float = KEYRING_TIMEOUT,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.key_file = key_file
        self.environ = environ
        self.announce = announce
        self.keyring_timeout = keyring_timeout
        self._search: KeySearch | None = None

    # --- the key ---------------------------------------------------------------------------------

    def search(self) -> KeySearch:
        """Where the master key is (searched once per Vault)."""
        if self._search is None:
            self._search = find_master_key(
                self.data_dir,
                key_file=self.key_file,
                environ=self.environ,
                keyring_timeout=self.keyring_timeout,
            )
        return self._search

    def key_ids_in_use(self, conn: Connection | None = None) -> dict[str, int]:
        """How many credential rows each key id seals."""
        query = select(credential_table.c.key_id, func.count()).group_by(credential_table.c.key_id)
        if conn is not None:
            return {str(k): int(n) for k, n in conn.execute(query)}
        with self.store.connect() as c:
            return {str(k): int(n) for k, n in c.execute(query)}

    def master_key(self) -> MasterKey:
        """The master key to open credentials with; ``MasterKeyMissing`` if there is none."""
        search = self.search()
        if search.key is None:
            raise missing_key_error(search)
        key = self._finish_interrupted_rotation(search)
        if isinstance(search.source, EnvKeySource):
            say_once(self.announce, search.announcement())  # a warning, said every run
        else:
            # Which key is used is shown by `aiq status` (and here with --debug), not every run.
            log.debug("%s", search.announcement())
        return key

    def _finish_interrupted_rotation(self, search: KeySearch) -> MasterKey:
        """If a rotation committed but did not promote its key, promote it now."""
        assert search.key is not None and search.source is not None
        in_use = self.key_ids_in_use()
        if not in_use or search.key.key_id in in_use:
            return search.key
        try:
            staged = search.source.read_staged()
        except MasterKeyMissing:
            staged = None
        if staged is None or staged.key_id not in in_use:
            return search.key
        old = search.key
        search.source.promote()
        with self.store.begin() as conn:
            _retire(conn, old.key_id)
            _activate(conn, staged.key_id, search.source.kind)
        search.key = staged
        say_once(
            self.announce,
            f"Finished an interrupted key rotation: key {staged.key_id} replaced key "
            f"{old.key_id} in {search.source.describe()}.",
        )
        return staged

    def check_writable(self, *, new_key: bool = False) -> None:
        """Fail early (before AR is asked) if credentials could not be stored afterwards."""
        search = self.search()
        if search.key is not None:
            if new_key:
                where = search.source.describe() if search.source else "a key source"
                raise UsageError(
                    f"a master key already exists in {where}",
                    hint="aiq keys rotate replaces it safely",
                )
            return
        if self.key_ids_in_use() and not new_key:
            raise missing_key_error(search)

    def key_for_writing(self, *, new_key: bool = False) -> tuple[MasterKey, bool]:
        """The key to seal with, creating one where none exists; returns (key, created)."""
        self.check_writable(new_key=new_key)
        search = self.search()
        if search.key is not None:
            return self.master_key(), False
        source = new_key_source(search, self.data_dir)
        key = MasterKey.generate()
        source.write(key)
        with self.store.begin() as conn:
            _activate(conn, key.key_id, source.kind)
        search.key, search.source = key, source
        note = (
            f" ({search.keyring_note})"
            if source.kind == "data-file" and search.keyring_note
            else ""
        )
        say_once(
            self.announce,
            f"Created a new master key {key.key_id} in {source.describe()}{note}. Keep it: "
            "without it the stored credentials cannot be read.",
        )
        if self.announce is not None:
            _announced.add(search.announcement())
        return key, True

    # --- the credentials -------------------------------------------------------------------------

    def save(
        self,
        conn: Connection,
        org_id: int,
        values: Mapping[str, str],
        key: MasterKey,
    ) -> None:
        """Seal ``values`` (field name to plaintext) for ``org_id`` with ``key``, replacing any."""
        now = utcnow()
        conn.execute(delete(credential_table).where(credential_table.c.org_id == org_id))
        for name, value in values.items():
            sealed = seal(key, org_id, name, value)
            conn.execute(
                insert(credential_table).values(
                    org_id=org_id,
                    name=name,
                    key_id=sealed.key_id,
                    nonce=sealed.nonce,
                    ciphertext=sealed.ciphertext,
                    updated_at=now,
                )
            )
        source = self.search().source
        _activate(conn, key.key_id, source.kind if source is not None else "")

    def sealed(self, org_id: int) -> dict[str, Sealed]:
        """The sealed fields stored for ``org_id``."""
        with self.store.connect() as conn:
            rows = conn.execute(
                select(credential_table).where(credential_table.c.org_id == org_id)
            ).all()
        return {str(r.name): stored(r.key_id, r.nonce, r.ciphertext) for r in rows}

    def open(self, org: OrgRef, fields: tuple[str, ...] = FIELDS) -> dict[str, str]:
        """Decrypt the stored ``fields`` of ``org``; every value is registered as a secret."""
        stored = self.sealed(org.id)
        if not stored:
            raise AuthRequired(f"nobody is signed in to AR for {org.name}", hint="run aiq login")
        missing = [f for f in fields if f not in stored]
        if missing:
            raise CredentialsCorrupt(
                f"the stored credentials for {org.name} are incomplete",
                hint="run aiq login to sign in again",
            )
        key = self.master_key()
        opened: dict[str, str] = {}
        for name in fields:
            sealed = stored[name]
            if sealed.key_id != key.key_id:
                raise CredentialsCorrupt(
                    f"the credentials for {org.name} are corrupt or were encrypted with another "
                    f"key (they need key {sealed.key_id}; the master key found is {key.key_id})",
                    hint="restore that key, or run aiq login to sign in again",
                )
            try:
                value = open_sealed(key, org.id, name, sealed)
            except CredentialsCorrupt:
                raise CredentialsCorrupt(
                    f"the credentials for {org.name} are corrupt or were encrypted with "
                    "another key",
                    hint="run aiq login to sign in again",
                ) from None
            register_secret(value)
            opened[name] = value
        return opened

    def load(self, org: OrgRef) -> Credentials:
        """The AR sign-in of ``org``."""
        opened = self.open(org)
        return Credentials(
            email=opened["email"], password=opened["password"], base_url=org.ar_base_url, org=org
        )


def _activate(conn: Connection, key_id: str, source: str) -> None:
    row = conn.execute(
        select(vault_key_table.c.status).where(vault_key_table.c.key_id == key_id)
    ).first()
    if row is None:
        conn.execute(
            insert(vault_key_table).values(
                key_id=key_id, source=source[:32], status="active", created_at=utcnow()
            )
        )
    elif row.status != "active":
        conn.execute(
            update(vault_key_table)
            .where(vault_key_table.c.key_id == key_id)
            .values(status="active", retired_at=None)
        )


def _retire(conn: Connection, key_id: str) -> None:
    conn.execute(
        update(vault_key_table)
        .where(vault_key_table.c.key_id == key_id, vault_key_table.c.status != "retired")
        .values(status="retired", retired_at=utcnow())
    )


def activate_key(conn: Connection, key_id: str, source: str) -> None:
    """Record ``key_id`` as an active key (no key material is stored)."""
    _activate(conn, key_id, source)


def retire_key(conn: Connection, key_id: str) -> None:
    """Record ``key_id`` as retired."""
    _retire(conn, key_id)


def _org_ref(store: Store, org: OrgRef | int) -> OrgRef:
    if isinstance(org, OrgRef):
        return org
    with store.connect() as conn:
        found = get_org(conn, org)
    if found is None:
        raise AuthRequired(f"there is no practice with id {org}", hint="run aiq login")
    return found


def load_credentials(
    store: Store,
    settings: Settings,
    org: OrgRef | int,
    *,
    key_file: Path | None = None,
    announce: Announce | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """The AR email, password and base URL of ``org``, decrypted with the master key.

    Raises ``AuthRequired`` (exit 4, "run aiq login") when nobody signed in for the org,
    ``MasterKeyMissing`` when no key is found (listing where aiq looked), and
    ``CredentialsCorrupt`` when a ciphertext fails authentication. ``announce`` hears, once per
    process, which master key was used.
    """
    ref = _org_ref(store, org)
    vault = Vault(store, settings.data_dir, key_file=key_file, environ=environ, announce=announce)
    creds = vault.load(ref)
    if not creds.base_url:
        return Credentials(creds.email, creds.password, settings.ar.base_url, ref)
    return creds


def has_credentials(store: Store, org_id: int) -> bool:
    """Whether anyone is signed in for ``org_id`` (no key needed)."""
    with store.connect() as conn:
        n = conn.execute(
            select(func.count())
            .select_from(credential_table)
            .where(credential_table.c.org_id == org_id)
        ).scalar_one()
    return bool(n)


def delete_credentials(store: Store, org_id: int | None = None) -> int:
    """Remove the stored sign-in of ``org_id`` (of every org when None); returns orgs affected."""
    with store.begin() as conn:
        query = select(credential_table.c.org_id).distinct()
        if org_id is not None:
            query = query.where(credential_table.c.org_id == org_id)
        orgs = {int(r[0]) for r in conn.execute(query)}
        cred = delete(credential_table)
        login = delete(ar_login_table)
        if org_id is not None:
            cred = cred.where(credential_table.c.org_id == org_id)
            login = login.where(ar_login_table.c.org_id == org_id)
        conn.execute(cred)
        conn.execute(login)
    return len(orgs)


def signed_in_orgs(store: Store) -> list[OrgRef]:
    """The orgs that have stored credentials, by name."""

    with store.connect() as conn:
        ids = {int(r[0]) for r in conn.execute(select(credential_table.c.org_id).distinct())}
    return [o for o in list_orgs(store) if o.id in ids]
