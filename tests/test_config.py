"""Settings: defaults < config.toml < AIQ_* environment < flags, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiq.config import load_settings
from aiq.errors import ConfigError


def write_config(tmp_path: Path, body: str) -> Path:
    cfg = tmp_path / "config" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(body)
    cfg.chmod(0o600)
    return cfg


def test_defaults_put_sqlite_in_data_dir(isolated_dirs: Path) -> None:
    s = load_settings()
    assert s.database_url == f"sqlite:///{isolated_dirs / 'data' / 'aiq.db'}"
    assert s.sync.lookback_days > 0


def test_precedence_file_env_flag(isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        isolated_dirs, '[database]\nurl = "sqlite:///from-file.db"\n[sync]\nlookback_days = 10\n'
    )
    assert load_settings().database.url == "sqlite:///from-file.db"
    assert load_settings().sync.lookback_days == 10
    monkeypatch.setenv("AIQ_DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("AIQ_SYNC_LOOKBACK_DAYS", "12")
    assert load_settings().database.url == "sqlite:///from-env.db"
    assert load_settings().sync.lookback_days == 12
    assert (
        load_settings(database_url="sqlite:///from-flag.db").database.url
        == "sqlite:///from-flag.db"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not toml [", "is not valid TOML"),
        ("[nope]\nx = 1\n", "unknown section [nope]"),
        ("[sync]\nlookbak_days = 3\n", "unknown setting sync.lookbak_days"),
        ('[sync]\nlookback_days = "many"\n', "must be an integer"),
    ],
)
def test_invalid_config_names_the_problem(isolated_dirs: Path, body: str, message: str) -> None:
    write_config(isolated_dirs, body)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_settings()


def test_bad_env_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIQ_SYNC_CONCURRENCY", "lots")
    with pytest.raises(ConfigError, match=r"sync\.concurrency"):
        load_settings()


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
