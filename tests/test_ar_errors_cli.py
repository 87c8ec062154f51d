"""What AR's troubles look like at the terminal: one clear line on stderr, never a traceback."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from aiq.sandbox import Sandbox
from aiq.sandbox.config import DEFAULT_EMAIL, DEFAULT_PASSWORD
from aiq.sandbox.server import serve_in_thread
from aiq.sandbox.testing import make_config
from tests.helpers import Result, aiq
from tests.vault.fixtures import no_os_keyring as no_os_keyring  # autouse: no real keyring


def login(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    base_url: str,
) -> Result:
    """`aiq login` to ``base_url`` with a fresh SQLite database (migrated first, so that the
    error is all stderr holds)."""
    db = f"sqlite:///{tmp_path / 'aiq.db'}"
    assert aiq(capsys, "--db", db, "db", "upgrade").code == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(DEFAULT_PASSWORD + "\n"))
    return aiq(
        capsys, "--db", db, "login", "--email", DEFAULT_EMAIL, "--password-stdin",
        "--base-url", base_url,
    )  # fmt: skip


def test_answers_that_never_decode_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A corrupt gzip body every time (httpx's DecodingError): AR is named, not a traceback or
    an "unexpected error"."""
    sb = Sandbox(make_config(clinics=1))
    sb.faults.set("corrupt_gzip", endpoints=["login"])
    monkeypatch.setenv("AIQ_AR_MAX_RETRIES", "0")  # no retry, so no backoff to wait out
    with serve_in_thread(sb) as running:
        r = login(capsys, monkeypatch, tmp_path, running.base_url)
    assert (r.code, r.err) == (
        1,
        "aiq: error: AR did not answer POST /api/login after 1 attempt (last: a gzip body that "
        "does not decode) (AR may be down or overloaded; try again later)\n",
    )
    assert sb.faults.injected["corrupt_gzip"] == 1
