"""Settings: where aiq keeps things and how it behaves.

Sources, from lowest to highest precedence:

1. the defaults written below;
2. ``config.toml`` in the config directory (platformdirs' user config dir, or ``AIQ_CONFIG_DIR``),
   or the file named by ``--config``;
3. ``AIQ_<SECTION>_<KEY>`` environment variables (``AIQ_DATABASE_URL``, ``AIQ_SYNC_LOOKBACK_DAYS``);
4. command-line flags (``--db``).

This module is imported by every command, so it stays light: the standard library and platformdirs.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiq.errors import ConfigError

APP_NAME = "aiq"


@dataclass
class DatabaseSettings:
    """Where the store lives. Empty ``url`` means the SQLite file in the data directory."""

    url: str = ""


@dataclass
class ARSettings:
    """How to reach Aesthetic Record."""

    base_url: str = "https://api.aestheticrecord.com"
    timeout_seconds: float = 30.0  # waiting for a connection, or for the next bytes of an answer
    max_retries: int = 6
    request_deadline_seconds: float = 120.0  # a whole request: connect, send, the entire answer
    max_response_mb: float = 32.0  # a larger answer is refused (AR's pages are some 100 KB)


@dataclass
class SyncSettings:
    """How `aiq sync` plans and runs its windows."""

    since_months: int = 24
    future_days: int = 90
    lookback_days: int = 14  # appointments: status changes, late cancellations, deletions
    invoice_lookback_days: int = 75  # invoices: refunds and voids come weeks after the sale
    invoice_recent_days: int = 7  # invoices every run re-reads; older ones of the lookback ...
    invoice_lookback_every_hours: int = 24  # ... are re-read this often (0: every run)
    deep_days: int = 400
    deep_every_days: int = 7
    window_days: int = 7
    concurrency: int = 8
    batch_rows: int = 5000
    max_requests_per_minute: int = 0  # 0: as fast as AR's rate limit allows (see docs/sync.md)


@dataclass
class DaemonSettings:
    """The schedule the daemon keeps."""

    interval_minutes: int = 30
    jitter_seconds: int = 120
    deep_hour: int = 3
    max_parallel: int = 2  # practices synced side by side, so none waits behind a long one


@dataclass
class AlertSettings:
    """What raises an alert and where alerts go. Every notifier left empty is off."""

    enabled: bool = True
    email: bool = True  # False: no email alerts at all (the privacy policy's opt-out)
    email_to: str = ""  # comma-separated recipients of email alerts
    email_from: str = "aiq alerts <alerts@localhost>"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | tls | none
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_ca_file: str = ""  # extra CA bundle to trust (a private relay)
    resend_api_key: str = ""
    resend_base_url: str = "https://api.resend.com"
    webhook_url: str = ""
    timeout_seconds: float = 15.0
    mute: str = ""  # comma-separated alert kinds never sent
    failures: int = 3  # consecutive failed syncs before an alert
    freshness: str = "stale"  # alert when data is "stale" (two intervals) or already "delayed"
    remind_hours: float = 24.0  # remind of an alert still open after this long; 0: never
    anomaly_deviations: float = 4.5
    anomaly_percent: float = 50.0
    anomaly_both_ways: bool = False  # also flag unusually good days
    anomaly_weeks: int = 8
    anomaly_days: int = 3  # complete days checked after each sync


@dataclass
class SentrySettings:
    """Error reporting. Empty ``dsn`` turns Sentry off."""

    dsn: str = ""
    environment: str = "production"


@dataclass
class ReportSettings:
    """How reports present figures."""

    currency: str = "USD"
    unit_kinds: str = ""  # "Hylenex=vials, Latisse=bottles": the kind of unit a name part means


@dataclass
class DataSettings:
    """Data rights: how long a deleted practice's data is kept, and the backups."""

    retention_days: int = 30  # a deleted practice's data is purged this long after deletion
    backup_dir: str = ""  # empty: the "backups" folder in the data directory
    backup_keep_days: int = 90  # backups older than this are pruned (the policy promises 90)
    daily_backup: bool = False  # the daemon takes a backup every day


@dataclass
class PrivacySettings:
    """The patient figures (rebooking, return, retention, memberships) and their small cells."""

    min_cell: int = 11  # a patient figure over fewer patients is suppressed
    patient_figures: bool = True  # the patient pass runs (false: no patient figures at all)
    patient_pass_every_hours: int = 24  # a sync reads the whole history again this often


@dataclass
class Settings:
    """Every setting aiq reads, with the directories it uses."""

    config_dir: Path
    data_dir: Path
    config_file: Path
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    ar: ARSettings = field(default_factory=ARSettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    sentry: SentrySettings = field(default_factory=SentrySettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    data: DataSettings = field(default_factory=DataSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    debug: bool = False

    @property
    def database_url(self) -> str:
        """The database URL in force: the configured one or the default SQLite file."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.data_dir / 'aiq.db'}"

    def ensure_dirs(self) -> None:
        """Create the config and data directories, private to the user (0700)."""
        for d in (self.config_dir, self.data_dir):
            _private_dir(d)


SECTIONS = (
    "database",
    "ar",
    "sync",
    "daemon",
    "alerts",
    "sentry",
    "report",
    "data",
    "privacy",
)


def default_config_dir() -> Path:
    """The config directory: ``AIQ_CONFIG_DIR`` or platformdirs' user config dir."""
    env = os.environ.get("AIQ_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def default_data_dir() -> Path:
    """The data directory: ``AIQ_DATA_DIR`` or platformdirs' user data dir."""
    env = os.environ.get("AIQ_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError:  # pragma: no cover - a directory we do not own; leave it be
        pass


def _coerce(section: str, key: str, value: Any, kind: Any, source: str) -> Any:
    """Turn a TOML or environment value into the field's type, or say what is wrong."""
    try:
        if kind in (int, "int"):
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind in (float, "float"):
            return float(value)
        if kind in (bool, "bool"):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError):
        kind_name = {
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "str": "a string",
        }.get(getattr(kind, "__name__", str(kind)), str(kind))
        raise ConfigError(
            f"{source}: {section}.{key} must be {kind_name}, got {value!r}",
            hint="fix the value or remove it to use the default",
        ) from None


# The sane range of each number setting (inclusive; None: no upper bound). A value outside
# stops aiq with one line, before it can divide by zero or retry minus three times.
RANGES: dict[tuple[str, str], tuple[float, float | None]] = {
    ("ar", "timeout_seconds"): (0.1, 600),
    ("ar", "max_retries"): (0, 20),
    ("ar", "request_deadline_seconds"): (1, 3600),
    ("ar", "max_response_mb"): (1, 1024),
    ("sync", "since_months"): (1, 240),
    ("sync", "future_days"): (0, 730),
    ("sync", "lookback_days"): (0, 3650),
    ("sync", "invoice_lookback_days"): (0, 3650),
    ("sync", "invoice_recent_days"): (0, 3650),
    ("sync", "invoice_lookback_every_hours"): (0, 8760),
    ("sync", "deep_days"): (0, 7300),
    ("sync", "deep_every_days"): (0, 365),
    ("sync", "window_days"): (1, 366),
    ("sync", "concurrency"): (1, 64),
    ("sync", "batch_rows"): (1, 1_000_000),
    ("sync", "max_requests_per_minute"): (0, 1_000_000),
    ("daemon", "interval_minutes"): (1, 1440),
    ("daemon", "jitter_seconds"): (0, 3600),
    ("daemon", "deep_hour"): (0, 23),
    ("daemon", "max_parallel"): (1, 64),
    ("alerts", "smtp_port"): (1, 65535),
    ("alerts", "timeout_seconds"): (0.1, 600),
    ("alerts", "failures"): (1, 1000),
    ("alerts", "remind_hours"): (0, 24 * 365),
    ("alerts", "anomaly_deviations"): (0, 1000),
    ("alerts", "anomaly_percent"): (0, 100_000),
    ("alerts", "anomaly_weeks"): (1, 52),
    ("alerts", "anomaly_days"): (1, 90),
    ("data", "retention_days"): (0, 3650),
    ("data", "backup_keep_days"): (0, 36500),
    ("privacy", "min_cell"): (2, 1000),
    ("privacy", "patient_pass_every_hours"): (1, 8760),
}


def _apply(target: Any, section: str, values: dict[str, Any], source: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(target)}
    for key, value in values.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown setting {section}.{key} (known: {known})")
        coerced = _coerce(section, key, value, fields[key].type, source)
        bounds = RANGES.get((section, key))
        if bounds is not None:
            low, high = bounds
            if coerced < low or (high is not None and coerced > high):
                within = (
                    f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
                )
                raise ConfigError(
                    f"{source}: {section}.{key} must be {within}, got {coerced!r}",
                    hint="fix the value or remove it to use the default",
                )
        setattr(target, key, coerced)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            if os.fstat(fh.fileno()).st_mode & 0o077:
                # config.toml can hold a database password or a Sentry DSN.
                print(
                    f"aiq: warning: {path} is readable by other users; run: chmod 600 {path}",
                    file=sys.stderr,
                )
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except PermissionError:
        raise ConfigError(
            f"cannot read {path}: permission denied", hint="fix its permissions"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}", hint="fix or remove the file"
        ) from None


def load_settings(
    config_file: Path | None = None,
    *,
    database_url: str | None = None,
    debug: bool = False,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Read the settings from defaults, the config file, the environment and flags."""
    env = os.environ if environ is None else environ
    config_dir = default_config_dir()
    explicit = config_file is not None or bool(env.get("AIQ_CONFIG"))
    path = Path(config_file or env.get("AIQ_CONFIG") or config_dir / "config.toml").expanduser()
    if explicit and not path.exists():
        raise ConfigError(f"config file {path} does not exist", hint="check the --config path")
    settings = Settings(config_dir=config_dir, data_dir=default_data_dir(), config_file=path)

    doc = _read_toml(path)
    for section, values in doc.items():
        if section not in SECTIONS or not isinstance(values, dict):
            raise ConfigError(f"{path}: unknown section [{section}] (known: {', '.join(SECTIONS)})")
        _apply(getattr(settings, section), section, values, str(path))

    for section in SECTIONS:
        target = getattr(settings, section)
        prefix = f"AIQ_{section.upper()}_"
        found = {
            f.name: env[prefix + f.name.upper()]
            for f in dataclasses.fields(target)
            if prefix + f.name.upper() in env
        }
        _apply(target, section, found, "environment")

    if database_url is not None:
        settings.database.url = database_url
    settings.debug = debug or _coerce(
        "", "AIQ_DEBUG", env.get("AIQ_DEBUG", "0"), bool, "environment"
    )
    return settings
