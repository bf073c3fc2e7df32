"""Settings: one frozen object built once at start-up from the environment and a TOML file.

Every setting is declared once in ``FIELDS`` (name, default, help); the same table feeds
``check-config``, the README's configuration reference and the validation errors. Environment
variables (``GATEWAY_<NAME>``) override the file. Unknown keys and bad values fail at start with
a message that names the key.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gateway.config.sites import DEMO_SITE, SITE_KEYS, Site, SiteError, site_from_table
from gateway.storage.clickhouse import Target

log = logging.getLogger(__name__)

ENV_PREFIX = "GATEWAY_"
SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Where analytics cookies need prior consent: the EU and EEA (GDPR, ePrivacy), the UK, Switzerland,
# China (PIPL) and Brazil (LGPD). A site owner extends it with GATEWAY_OPT_IN_COUNTRIES.
OPT_IN_COUNTRIES = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT",
    "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",  # EU
    "IS", "LI", "NO",  # EEA
    "GB", "CH", "CN", "BR",
)


class ConfigError(ValueError):
    """Invalid configuration; the message starts with the key at fault."""


def _as_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _as_path(value: object) -> Path:
    # Made absolute once, at start-up: later code (subprocesses, chDB) may run elsewhere.
    return Path(_as_str(value)).expanduser().absolute()


def _as_optional_path(value: object) -> Path | None:
    return _as_path(value) if _as_str(value) else None


def _as_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise ValueError(f"must be a list of strings or a comma-separated string, got {value!r}")
    return tuple(v for v in items if v)


def _as_clickhouse_url(value: object) -> str:
    url = _as_str(value)
    if url:
        Target.parse(url)  # ClickHouseUrlError is a ValueError, reported under the setting's key
    return url


def _as_secret_keys(value: object) -> tuple[str, ...]:
    keys = _as_list(value)
    short = [i for i, k in enumerate(keys) if len(k) < 32]  # the index only: never the key
    if short:
        raise ValueError(f"key #{short[0] + 1} is shorter than 32 characters; use e.g. "
                         "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`")
    return keys


def _as_networks(value: object) -> tuple[IPNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(v, strict=False) for v in _as_list(value))
    except ValueError as exc:
        raise ValueError(f"not a list of CIDRs: {exc}") from None


def _as_int(low: int, high: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise ValueError(f"must be an integer, got {value!r}") from None
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"must be an integer from {low} to {high}, got {value!r}")
        return value
    return parse


def _as_seconds(value: object) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"must be a number of seconds, got {value!r}") from None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0.01 <= value <= 3600:
        raise ValueError(f"must be a number of seconds from 0.01 to 3600, got {value!r}")
    return float(value)


def _as_token(value: object) -> str:
    token = _as_str(value).strip()
    if token and (len(token) < 16 or any(c.isspace() for c in token)):
        # The value is never repeated: it may be a real token with a typo.
        raise ValueError("must be 16+ characters without spaces; use e.g. "
                         "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    return token


def _as_countries(value: object) -> frozenset[str]:
    codes = _as_list(value)
    bad = [c for c in codes if not re.fullmatch(r"[A-Z]{2}", c)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not an upper-case ISO 3166 country code")
    return frozenset(codes)


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def _as_log_level(value: object) -> str:
    text = _as_str(value).lower()
    if text not in ("debug", "info", "warning", "error"):
        raise ValueError(f"must be debug, info, warning or error, got {value!r}")
    return text


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    default: str
    help: str
    parse: Callable[[object], Any]
    secret: bool = False

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


FIELDS: tuple[Field, ...] = (
    Field("data_dir", "./data", "Folder for embedded ClickHouse data, the generated secret key and the "
          "GeoIP database.", _as_path),
    Field("clickhouse_url", "", "`http(s)://user:pass@host:port/database` for a ClickHouse server; "
          "`chdb:///absolute/path` or `chdb://relative/path` for embedded (chDB). Empty: embedded under "
          "DATA_DIR/clickhouse.", _as_clickhouse_url, secret=True),
    Field("secret_keys", "", "Comma-separated signing keys (32+ characters each); the first signs, all "
          "verify, so keys can be rotated. Empty: one is generated in DATA_DIR/secret_key (not for "
          "production).", _as_secret_keys, secret=True),
    Field("geoip_city_db", "", "Path of a MaxMind-format city database (GeoIP2/GeoLite2 City, DB-IP City "
          "Lite). Empty: DATA_DIR/geoip/city.mmdb, installed by `consent-gateway geoip install`.",
          _as_optional_path),
    Field("geoip_asn_db", "", "Optional path of a MaxMind-format ASN/ISP database (ISP or organisation "
          "only).", _as_optional_path),
    Field("trusted_proxies", "", "Comma-separated CIDRs of reverse proxies whose X-Forwarded-For / "
          "Forwarded headers are believed. Empty: none; the socket peer is the client.", _as_networks),
    Field("migrate_on_start", "true", "Apply pending ClickHouse migrations when `serve` starts.", _as_bool),
    Field("writer_batch_size", "10000", "Rows per ClickHouse insert: the writer flushes when a table's "
          "buffer reaches this size.", _as_int(1, 1_000_000)),
    Field("writer_flush_interval", "1.0", "Seconds between timed flushes of buffered rows.", _as_seconds),
    Field("writer_max_pending", "200000", "Rows the writer may hold while ClickHouse is unreachable; "
          "beyond it new rows are refused (the caller answers 503), never silently dropped.",
          _as_int(1000, 50_000_000)),
    Field("visit_timeout", "1800", "Seconds without a hit after which a visitor's next hit starts a new "
          "visit.", _as_int(60, 86400)),
    Field("opt_in_countries", ",".join(OPT_IN_COUNTRIES), "ISO country codes where consent is opt-in "
          "(EU/EEA, UK, Switzerland, China, Brazil by default). Elsewhere a site with banner_scope = "
          "opt-in-only grants its opt_out_defaults without a banner. Unknown locations count as opt-in.",
          _as_countries),
    Field("instance_name", "", "Name of this gateway instance, recorded in the consent log. Empty: the "
          "host name.", _as_str),
    Field("log_level", "info", "debug, info, warning or error.", _as_log_level),
    Field("metrics_token", "", "Operator token (16+ characters) for `/-/metrics` and for the details of "
          "`/-/health` and `/-/version`, sent as `Authorization: Bearer TOKEN`. Empty: metrics and "
          "details are refused (403); the public status answers still work.", _as_token, secret=True),
)
FIELDS_BY_NAME = {f.name: f for f in FIELDS}
FILE_ONLY_KEYS = {"sites": "list of [[sites]] tables; without any, the demo site (id 1, localhost origins)"}


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    clickhouse_url: str = field(repr=False)
    secret_keys: tuple[str, ...] = field(repr=False)
    geoip_city_db: Path | None
    geoip_asn_db: Path | None
    trusted_proxies: tuple[IPNetwork, ...]
    migrate_on_start: bool
    writer_batch_size: int
    writer_flush_interval: float
    writer_max_pending: int
    visit_timeout: int
    opt_in_countries: frozenset[str]
    instance_name: str
    log_level: str
    sites: tuple[Site, ...]
    metrics_token: str = field(default="", repr=False)
    config_file: Path | None = None

    @property
    def city_db_path(self) -> Path:
        return self.geoip_city_db or self.data_dir / "geoip" / "city.mmdb"

    @property
    def effective_clickhouse_url(self) -> str:
        return self.clickhouse_url or f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    def site(self, site_id: int) -> Site | None:
        for site in self.sites:
            if site.id == site_id:
                return site
        return None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``environ`` (default ``os.environ``) and the file it names."""
    env = os.environ if environ is None else environ
    config_file = _as_optional_path(env.get(ENV_PREFIX + "CONFIG", ""))
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"GATEWAY_CONFIG: cannot read {config_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"GATEWAY_CONFIG: {config_file} is not valid TOML: {exc}") from None

    known_env = {f.env for f in FIELDS} | {ENV_PREFIX + "CONFIG"}
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known_env:
            raise ConfigError(f"{name}: unknown setting (known: {', '.join(sorted(known_env))})")
    for key in sorted(file_values):
        if key not in FIELDS_BY_NAME and key not in FILE_ONLY_KEYS:
            raise ConfigError(f"{config_file}: {key}: unknown key")

    values: dict[str, Any] = {}
    for spec in FIELDS:
        if spec.env in env:
            raw, where = env[spec.env], spec.env
        elif spec.name in file_values:
            raw, where = file_values[spec.name], f"{config_file}: {spec.name}"
        else:
            raw, where = spec.default, spec.name
        try:
            values[spec.name] = spec.parse(raw)
        except ValueError as exc:
            reason = str(exc)
            if spec.secret:  # the message must not print what may be a real secret
                reason = re.sub(r",? got .*$", " (value not shown: secret)", reason)
            raise ConfigError(f"{where}: {reason}") from None
    if not values["instance_name"]:
        values["instance_name"] = socket.gethostname()
    values["sites"] = _load_sites(file_values.get("sites"), config_file)
    return Settings(config_file=config_file, **values)


def _load_sites(raw: object, config_file: Path | None) -> tuple[Site, ...]:
    if raw is None:
        return (DEMO_SITE,)
    where = f"{config_file}: sites"
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: must be one or more [[sites]] tables")
    sites: list[Site] = []
    for index, table in enumerate(raw):
        if not isinstance(table, dict):
            raise ConfigError(f"{where}[{index}]: must be a table")
        try:
            sites.append(site_from_table(table, f"{where}[{index}]"))
        except SiteError as exc:
            raise ConfigError(str(exc)) from None
    ids = [s.id for s in sites]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate is not None:
        raise ConfigError(f"{where}: id {duplicate} is used twice")
    return tuple(sites)


def ensure_secret_keys(settings: Settings, *, warn: bool = True) -> Settings:
    """Settings with signing keys: the configured ones, or one generated once in the data folder."""
    if settings.secret_keys:
        return settings
    path = settings.data_dir / SECRET_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        try:
            # Written whole under a temporary name, then linked into place: a process that loses the
            # race, or reads concurrently, never sees a half-written key.
            temporary = path.with_name(f".{SECRET_KEY_FILE}.{os.getpid()}")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            finally:
                temporary.unlink()
        except FileExistsError:
            pass
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise ConfigError(f"{path}: the generated secret key is damaged; delete the file to make a new one")
    if warn:
        log.warning("GATEWAY_SECRET_KEYS is not set: using the key generated in %s. Production must set "
                    "GATEWAY_SECRET_KEYS so that every instance signs with the same key.", path)
    return replace(settings, secret_keys=(key,))


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(env var, effective value with secrets redacted, help) rows for check-config."""
    rows = []
    for spec in FIELDS:
        value: object = getattr(settings, spec.name)
        if spec.secret and value:
            shown = "<redacted>" if spec.name != "clickhouse_url" else _redact_url(str(value))
        elif isinstance(value, frozenset):
            shown = ",".join(sorted(value))
        elif isinstance(value, tuple):
            shown = ",".join(str(v) for v in value)
        elif value is None:
            shown = ""
        else:
            shown = str(value)
        if spec.name == "clickhouse_url" and not value:
            shown = settings.effective_clickhouse_url + "  (embedded)"
        if spec.name == "secret_keys" and not value:
            shown = f"(generated on first serve in {settings.data_dir / SECRET_KEY_FILE})"
        if spec.name == "geoip_city_db" and value is None:
            shown = f"{settings.city_db_path}  (default)"
        rows.append((spec.env, shown, spec.help))
    return rows


def _redact_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:<redacted>@{hostpart}"


def reference_markdown() -> str:
    """The README's configuration reference, generated from ``FIELDS`` so the two cannot drift."""
    lines = ["| Variable | TOML key | Default | Meaning |", "|---|---|---|---|",
             f"| `{ENV_PREFIX}CONFIG` | — | — | Path of the TOML configuration file. |"]
    for spec in FIELDS:
        default = f"`{spec.default}`" if spec.default else "—"
        lines.append(f"| `{spec.env}` | `{spec.name}` | {default} | {spec.help} |")
    for key, text in FILE_ONLY_KEYS.items():
        lines.append(f"| — | `[[{key}]]` | — | {text[0].upper()}{text[1:]}. |")
    lines += ["", "Keys of a `[[sites]]` table:", "", "| Key | Meaning |", "|---|---|"]
    lines += [f"| `{key}` | {text[0].upper()}{text[1:]}. |" for key, text in SITE_KEYS.items()]
    return "\n".join(lines) + "\n"
