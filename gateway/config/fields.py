"""The settings as data: every setting declared once (name, default, help, converter) in ``FIELDS``.

The same table feeds the loader (``settings``), ``check-config``, the generated configuration
reference and the errors, which name the key. A converter takes the raw value from the environment
(a string) or the TOML file (a string, number, boolean or list) and returns the typed value, or
raises ValueError saying what form it expects.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config.errors import not_a_choice
from gateway.storage.clickhouse import Target, check_name

ENV_PREFIX = "GATEWAY_"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Where analytics cookies need prior consent: the EU and EEA (GDPR, ePrivacy), the UK, Switzerland,
# China (PIPL) and Brazil (LGPD). A site owner extends it with GATEWAY_OPT_IN_COUNTRIES.
OPT_IN_COUNTRIES = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT",
    "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",  # EU
    "IS", "LI", "NO",  # EEA
    "GB", "CH", "CN", "BR",
)
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")

def _as_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _as_path(value: object) -> Path:
    # Made absolute once, at start-up: later code (subprocesses, chDB) may run elsewhere.
    return Path(_as_str(value)).expanduser().absolute()


def as_optional_path(value: object) -> Path | None:
    return _as_path(value) if _as_str(value) else None


def _as_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):  # commas, or lines (a secret file with one key per line)
        items = [v.strip() for v in re.split(r"[,\n]", value)]
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


def _as_seconds_or_off(value: object) -> float:
    """0 (off), or seconds as ``_as_seconds`` takes them."""
    try:
        if float(str(value).strip()) == 0 and not isinstance(value, bool):
            return 0.0
    except ValueError:
        pass  # _as_seconds says what it expects
    return _as_seconds(value)


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
    if text not in LOG_LEVELS:
        raise ValueError(not_a_choice(value, LOG_LEVELS))
    return text


def _as_cluster(value: object) -> str:
    name = _as_str(value).strip()
    return check_name(name) if name else name


def _as_log_format(value: object) -> str:
    text = _as_str(value).lower()
    if text not in LOG_FORMATS:
        raise ValueError(not_a_choice(value, LOG_FORMATS))
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
    Field("clickhouse_url", "", "`http(s)://user:pass@host:port/database` for a ClickHouse server, or "
          "several such URLs separated by commas (replicas: the gateway moves to the next when one does "
          "not answer); `chdb:///absolute/path` or `chdb://relative/path` for embedded (chDB). Empty: "
          "embedded under DATA_DIR/clickhouse.", _as_clickhouse_url, secret=True),
    Field("clickhouse_password", "", "ClickHouse password, instead of the one in the URL (e.g. from a "
          "secret file: GATEWAY_CLICKHOUSE_PASSWORD_FILE).", _as_str, secret=True),
    Field("clickhouse_ca_file", "", "CA certificate file (PEM) that signed the ClickHouse servers' "
          "certificates, for https URLs. Empty: the system's CAs.", as_optional_path),
    Field("clickhouse_cluster", "", "Name of the ClickHouse cluster (remote_servers) the schema was made "
          "for with `migrate --cluster`: erasures and retention then change the shards' local tables ON "
          "CLUSTER, and inserts wait until their shard has the rows. Empty: one server.", _as_cluster),
    Field("secret_keys", "", "Comma-separated signing keys (32+ characters each); the first signs, all "
          "verify, so keys can be rotated. Empty: one is generated in DATA_DIR/secret_key (not for "
          "production).", _as_secret_keys, secret=True),
    Field("users_file", "", "Path of the dashboard users and share links file. Empty: DATA_DIR/users.json. "
          "Several instances with data folders of their own point it at one shared file (a mounted "
          "Secret, read-only: then users and links are changed where the Secret is made); each "
          "instance notices a new version by itself.", as_optional_path),
    Field("geoip_city_db", "", "Path of a MaxMind-format city database (GeoIP2/GeoLite2 City, DB-IP City "
          "Lite). Empty: DATA_DIR/geoip/city.mmdb, installed by `consent-gateway geoip install`.",
          as_optional_path),
    Field("geoip_asn_db", "", "Optional path of a MaxMind-format ASN/ISP database (ISP or organisation "
          "only).", as_optional_path),
    Field("geoip_reload_interval", "60", "Seconds between looks at the GeoIP database files: one replaced on "
          "disk (`geoip install --version latest`) is used without a restart. 0: never.",
          _as_seconds_or_off),
    Field("trusted_proxies", "", "Comma-separated CIDRs of reverse proxies whose X-Forwarded-For / "
          "Forwarded headers are believed. Empty: none; the socket peer is the client.", _as_networks),
    Field("shutdown_timeout", "20", "Seconds a stopping gateway (SIGTERM, Ctrl-C) gives requests in "
          "flight, the writer's last inserts and the spool's acknowledgements before it exits; what is "
          "not inserted by then stays in the spool for the next start. Keep Kubernetes' "
          "terminationGracePeriodSeconds and systemd's TimeoutStopSec above it.", _as_seconds),
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
    Field("log_format", "text", "text (one line per record) or json (one JSON object per line, for log "
          "shippers: time, level, logger, message, and traceback when there is one).", _as_log_format),
    Field("metrics_token", "", "Operator token (16+ characters) for `/-/metrics` and for the details of "
          "`/-/health`, `/-/ready` and `/-/version`, sent as `Authorization: Bearer TOKEN`. Empty: "
          "metrics and details are refused (403); the public status answers still work.", _as_token,
          secret=True),
)
FIELDS_BY_NAME = {f.name: f for f in FIELDS}
FILE_ONLY_KEYS = {"sites": "list of [[sites]] tables; without any, the demo site (id 1, localhost origins)"}
