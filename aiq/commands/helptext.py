"""Help text shown as written: Typer renders help with Rich markup, which would take
``[parquet]`` in ``pip install 'aiq[parquet]'`` or ``[data]`` in "the [data] section" for a style
tag and print nothing. aiq writes no markup in its help, so every help text is escaped once, when
its command is built (tests/test_help.py renders every help page and compares)."""

from __future__ import annotations

import re
from typing import Any

# rich.markup's own pattern for what it would read as a tag (lower case, '#', '/' or '@' first).
_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def escape(text: str) -> str:
    """``text`` with every would-be Rich tag escaped, as ``rich.markup.escape`` does."""
    return _TAG.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)


def escape_help(command: Any) -> None:
    """Escape the help of a click command, its parameters and (for a group) its subcommands."""
    for attribute in ("help", "short_help", "epilog"):
        text = getattr(command, attribute, None)
        if isinstance(text, str):
            setattr(command, attribute, escape(text))
    for param in getattr(command, "params", ()):
        text = getattr(param, "help", None)
        if isinstance(text, str):
            param.help = escape(text)
    for sub in (getattr(command, "commands", None) or {}).values():
        escape_help(sub)
