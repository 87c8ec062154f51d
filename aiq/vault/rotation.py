"""Key rotation: a new master key, every credential re-encrypted, the old key retired.

All or nothing. The new key is first written *beside* the current one (staged); every credential
sealed by the current key is opened and sealed again with the new key inside one database
transaction, which also records the old key as retired; the staged key is checked once more just
before the commit; and only after the commit does it replace the old key in its place, so the old
key no longer exists there and nothing is sealed with it. If anything fails before the commit the
transaction rolls back and the staged key is removed: nothing changed. If aiq dies between the
commit and the promotion, the next start finds the staged key matching the data and finishes the
job (``Vault._finish_interrupted_rotation``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from sqlalchemy import select, update

from aiq.clock import utcnow
from aiq.errors import CredentialsCorrupt, MasterKeyMissing, UsageError
from aiq.vault.cipher import MasterKey, open_sealed, seal, stored
from aiq.vault.credentials import (
    Announce,
    Vault,
    activate_key,
    credential_table,
    retire_key,
)
from aiq.vault.keys import FileKeySource, KeySource, file_source

if TYPE_CHECKING:
    from aiq.config import Settings
    from aiq.store.db import Store


@dataclass(frozen=True)
class Rotation:
    """What ``rotate_master_key`` did."""

    old_key_id: str
    new_key_id: str
    reencrypted: int
    where: str
    old_where: str
    moved: bool
    other_keys: dict[str, int] = field(default_factory=dict)
    stranded: list[Stranded] = field(default_factory=list)


@dataclass(frozen=True)
class Stranded:
    """A database or backup whose AR sign-ins are sealed with the key a rotation retires: once
    the key is replaced they no longer open there (the business data is unaffected)."""

    what: str  # database | backup
    where: str  # a path, or a database URL without its password
    sealed: int | None  # credential fields sealed with the key; None: not looked into

    def describe(self) -> str:
        """One line for a person."""
        held = (
            f"{self.sealed} credential field{'s' if self.sealed != 1 else ''}"
            if self.sealed is not None
            else "may hold some: not opened"
        )
        return f"{self.what} {self.where} ({held})"


def sealed_elsewhere(settings: Settings, current_url: str, key_id: str) -> list[Stranded]:
    """The other databases and the backups aiq knows of that hold credentials sealed with
    ``key_id``: the configured database and the default SQLite file when they are not the one
    in use, and every backup in the backup directory. SQLite files are looked into (read-only);
    a Postgres database or a dump is listed as one that may hold some."""
    from aiq.lifecycle.backup import list_backups
    from aiq.store.engine import redact_url

    out: list[Stranded] = []
    here = _sqlite_path(current_url)
    seen = {here or current_url}
    for url in (settings.database_url, f"sqlite:///{settings.data_dir / 'aiq.db'}"):
        path = _sqlite_path(url)
        if (path or url) in seen:
            continue
        seen.add(path or url)
        if path is None:
            out.append(Stranded("database", redact_url(url), None))
        elif path.exists() and (n := _sealed_in_sqlite(path, key_id)) != 0:
            out.append(Stranded("database", str(path), n))
    for backup in list_backups(settings):
        if backup.name.endswith(".sqlite"):
            if (n := _sealed_in_sqlite(backup, key_id)) != 0:
                out.append(Stranded("backup", str(backup), n))
        else:
            out.append(Stranded("backup", str(backup), None))
    return out


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    return Path(unquote(url.removeprefix("sqlite:///").split("?", 1)[0])).resolve()


def _sealed_in_sqlite(path: Path, key_id: str) -> int | None:
    """How many credential fields of the SQLite file ``path`` ``key_id`` seals (None: unknown)."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("select count(*) from credential where key_id = ?", (key_id,)).fetchone()
        return int(row[0])
    except sqlite3.Error:
        return None  # not an aiq database (yet), or one aiq cannot read
    finally:
        conn.close()


def rotate_master_key(
    store: Store,
    data_dir: Path,
    *,
    key_file: Path | None = None,
    new_key_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    announce: Announce | None = None,
) -> Rotation:
    """Replace the master key, re-encrypting every credential it sealed, all or nothing.

    The new key goes where the current one lives when aiq can write there (a key file, the data
    directory, the OS keyring); a key from a systemd credential or the environment cannot be
    changed by aiq, so ``new_key_file`` must name where the new key goes.
    """
    vault = Vault(store, data_dir, key_file=key_file, environ=environ, announce=announce)
    search = vault.search()
    if search.key is None:
        if vault.key_ids_in_use():
            vault.master_key()  # raises MasterKeyMissing, listing where aiq looked
        raise UsageError("there is no master key to rotate yet", hint="aiq login creates one")
    old = vault.master_key()
    source = search.source
    assert source is not None

    target: KeySource
    if new_key_file is not None:
        named = file_source(new_key_file)
        if named.path.exists():
            raise UsageError(
                f"{named.describe()} already exists; aiq never overwrites a key",
                hint="name a new file",
            )
        target = named
    elif source.writable:
        target = source
    else:
        raise UsageError(
            f"the master key comes from {source.describe()}, which aiq cannot change",
            hint="pass --new-key-file PATH for the new key, then point AIQ_MASTER_KEY_FILE at it "
            "(or install it as the systemd credential aiq-master-key)",
        )
    in_place = target is source

    new = MasterKey.generate()
    if in_place:
        target.stage(new)
    else:
        target.write(new)

    def verify() -> None:
        # Just before the commit: the new key must still be where it will be read from.
        held = target.read_staged() if in_place else target.read()
        if held is None or held.key_id != new.key_id:
            raise MasterKeyMissing(
                f"the new key in {target.describe()} changed during rotation; nothing was changed",
                hint="another aiq keys rotate may have run at the same time; try again",
            )

    try:
        count, others = _reencrypt(store, old, new, target.kind, verify)
    except BaseException:
        if in_place:
            target.discard_staged()
        elif isinstance(target, FileKeySource):
            target.path.unlink(missing_ok=True)
        raise
    if in_place:
        target.promote()
    return Rotation(
        old_key_id=old.key_id,
        new_key_id=new.key_id,
        reencrypted=count,
        where=target.describe(),
        old_where=source.describe(),
        moved=not in_place,
        other_keys=others,
    )


def _reencrypt(
    store: Store, old: MasterKey, new: MasterKey, kind: str, verify: Callable[[], None]
) -> tuple[int, dict[str, int]]:
    """Re-seal every credential of ``old`` with ``new`` in one transaction; returns counts."""
    with store.begin() as conn:
        query = select(credential_table).order_by(
            credential_table.c.org_id, credential_table.c.name
        )
        if store.dialect == "postgresql":
            query = query.with_for_update()
        rows = conn.execute(query).all()
        others: dict[str, int] = {}
        count = 0
        now = utcnow()
        for row in rows:
            if row.key_id != old.key_id:
                others[str(row.key_id)] = others.get(str(row.key_id), 0) + 1
                continue
            sealed = stored(row.key_id, row.nonce, row.ciphertext)
            try:
                plaintext = open_sealed(old, int(row.org_id), str(row.name), sealed)
            except CredentialsCorrupt:
                # The whole transaction rolls back: nothing is re-encrypted.
                raise CredentialsCorrupt(
                    f"the stored {row.name} of practice id {row.org_id} is corrupt or was "
                    "encrypted with another key; nothing was re-encrypted",
                    hint="run aiq login for that practice, then rotate again",
                ) from None
            resealed = seal(new, int(row.org_id), str(row.name), plaintext)
            assert open_sealed(new, int(row.org_id), str(row.name), resealed) == plaintext
            conn.execute(
                update(credential_table)
                .where(
                    credential_table.c.org_id == row.org_id,
                    credential_table.c.name == row.name,
                    credential_table.c.key_id == old.key_id,
                )
                .values(
                    key_id=resealed.key_id,
                    nonce=resealed.nonce,
                    ciphertext=resealed.ciphertext,
                    updated_at=now,
                )
            )
            count += 1
        activate_key(conn, new.key_id, kind)
        retire_key(conn, old.key_id)
        verify()
    return count, others
