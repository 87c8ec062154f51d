"""Write a new Alembic migration by comparing the models with a scratch SQLite database at head.

Usage: python scripts/new_migration.py "what changed"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from aiq.store.db import Store, _alembic_config


def main() -> None:
    message = sys.argv[1] if len(sys.argv) > 1 else "change"
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        with store.engine.begin() as conn:
            cfg = _alembic_config(conn)
            command.upgrade(cfg, "head")
            command.revision(cfg, message=message, autogenerate=True)
        store.dispose()


if __name__ == "__main__":
    main()
