"""The layout holds: commands parse and render, use cases check and record, aiq/ar knows AR."""

from __future__ import annotations

import re
from pathlib import Path

AIQ = Path(__file__).resolve().parent.parent / "aiq"


def _sources(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(AIQ)): p.read_text() for p in sorted(folder.rglob("*.py"))}


def test_commands_leave_permissions_and_audit_records_to_the_use_cases() -> None:
    found = [
        f"{name}: {m.group(0)}"
        for name, text in _sources(AIQ / "commands").items()
        for m in re.finditer(r"\brequire(_somewhere)?\(|\baiq\.audit\b|\brecord\(", text)
    ]
    assert not found, found


def test_only_the_ar_package_knows_ars_paths() -> None:
    outside = {
        name: text
        for name, text in _sources(AIQ).items()
        if not name.startswith(("ar/", "sandbox/"))  # the sandbox is AR's stand-in: it serves them
    }
    found = [name for name, text in outside.items() if re.search(r"[\"']/api/", text)]
    assert not found, found


def test_one_definition_of_utcnow_and_of_net_sales() -> None:
    sources = _sources(AIQ)
    assert [n for n, t in sources.items() if "def utcnow(" in t] == ["clock.py"]
    assert [n for n, t in sources.items() if re.search(r"def net_sales\b", t)] == [
        "reports/sales.py"
    ]
