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


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[sync]\nwindow_days = 0\n", "sync.window_days must be between 1 and 366, got 0"),
        ("[ar]\nmax_retries = -3\n", "ar.max_retries must be between 0 and 20, got -3"),
        ("[daemon]\ndeep_hour = 24\n", "daemon.deep_hour must be between 0 and 23, got 24"),
        ("[ar]\ntimeout_seconds = 0\n", "ar.timeout_seconds must be between 0.1 and 600"),
    ],
)
def test_numbers_out_of_range_are_refused(isolated_dirs: Path, body: str, message: str) -> None:
    write_config(isolated_dirs, body)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_settings()


def test_every_number_setting_has_a_range() -> None:
    import dataclasses

    from aiq.config import RANGES, SECTIONS, Settings

    settings = Settings(config_dir=Path("."), data_dir=Path("."), config_file=Path("x"))
    numbers = {
        (section, f.name)
        for section in SECTIONS
        for f in dataclasses.fields(getattr(settings, section))
        if f.type in (int, float, "int", "float")
    }
    assert numbers and numbers <= set(RANGES), sorted(numbers - set(RANGES))
    for (section, key), (low, high) in RANGES.items():
        default = getattr(getattr(settings, section), key)
        assert low <= default and (high is None or default <= high), (section, key)


def test_a_sqlite_path_in_a_directory_that_does_not_exist_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.helpers import aiq

    missing = tmp_path / "no" / "such" / "dir"
    for args in (("sync",), ("report", "revenue"), ("status",)):
        result = aiq(capsys, "--db", f"sqlite:///{missing / 'a.db'}", *args)
        assert result.code == 2, (args, result.err)
        assert "a.db does not exist" in result.err or "does not exist" in result.err
    assert not (tmp_path / "no").exists()  # nothing created on the way


@pytest.mark.parametrize(
    "args",
    [
        ("report", "revenue", "--from", "0001-01-01", "--to", "9999-12-31"),
        ("report", "appointments", "--month", "0001-01"),
        ("sync", "--since", "0001-01-01"),
        ("export", "--from", "0001-01-01", "--out", "x"),
    ],
)
def test_absurd_dates_are_usage_errors(
    capsys: pytest.CaptureFixture[str], isolated_dirs: Path, args: tuple[str, ...]
) -> None:
    from tests.helpers import aiq

    result = aiq(capsys, *args)
    assert result.code == 2, result.err
    assert "outside the years 1900 to 2200" in result.err or "is not a month" in result.err
