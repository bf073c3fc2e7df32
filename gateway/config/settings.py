"""Settings: one frozen object built once at start-up from the environment and a TOML file.

Every setting is declared once in ``FIELDS`` (``gateway.config.fields``: name, default, help); the
same table feeds ``check-config``, the configuration reference (docs/configuration.md) and the
validation errors. Environment variables (``GATEWAY_<NAME>``, or ``GATEWAY_<NAME>_FILE`` naming a file
that holds the value, for secrets) override the file. Loading checks every
key and raises one ``ConfigError`` listing every problem found (unknown keys, bad values, bad
``[[sites]]`` tables), each naming its key, so that one run shows all there is to fix.

Without ``[[sites]]`` the demo site serves; its API token, if ``./scripts/serve`` made one, is read
from ``DATA_DIR/demo-token``.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gateway.config.errors import ConfigError, Problems, unknown_key
from gateway.config.fields import (
    ENV_PREFIX,
    FIELDS,
    FIELDS_BY_NAME,
    FILE_ONLY_KEYS,
    OPT_IN_COUNTRIES,
    Field,
    IPNetwork,
    as_optional_path,
)
from gateway.config.sites import DEMO_SITE, SITE_KEYS, Site, site_from_table
from gateway.storage.clickhouse import URL_SEPARATOR, Target

__all__ = ["DEMO_TOKEN_FILE", "ENV_PREFIX", "FIELDS", "FIELDS_BY_NAME", "FILE_ONLY_KEYS", "OPT_IN_COUNTRIES",
           "SECRET_KEY_FILE", "ConfigError", "Field", "IPNetwork", "Settings", "demo_site", "describe",
           "ensure_secret_keys", "load_settings", "reference_markdown"]

log = logging.getLogger(__name__)

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)
FILE_SUFFIX = "_FILE"  # GATEWAY_<NAME>_FILE: the setting's value is that file's text
DEMO_TOKEN_FILE = "demo-token"  # noqa: S105 (a file name: written by ./scripts/serve, read for the demo site)


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    clickhouse_url: str = field(repr=False)
    clickhouse_password: str = field(repr=False)
    clickhouse_ca_file: Path | None
    clickhouse_cluster: str
    secret_keys: tuple[str, ...] = field(repr=False)
    users_file: Path | None
    geoip_city_db: Path | None
    geoip_asn_db: Path | None
    geoip_reload_interval: float
    trusted_proxies: tuple[IPNetwork, ...]
    shutdown_timeout: float
    migrate_on_start: bool
    writer_batch_size: int
    writer_flush_interval: float
    writer_max_pending: int
    visit_timeout: int
    opt_in_countries: frozenset[str]
    instance_name: str
    log_level: str
    log_format: str
    sites: tuple[Site, ...]
    metrics_token: str = field(default="", repr=False)
    config_file: Path | None = None
    demo: bool = False  # no [[sites]] configured: the demo site (and its /demo/ page) serves

    @property
    def city_db_path(self) -> Path:
        return self.geoip_city_db or self.data_dir / "geoip" / "city.mmdb"

    @property
    def effective_clickhouse_url(self) -> str:
        return self.clickhouse_url or f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def clickhouse_target(self) -> Target:
        """The URL(s) with the password, CA and cluster of their own settings."""
        return Target.parse(self.effective_clickhouse_url).with_options(
            password=self.clickhouse_password, ca_file=self.clickhouse_ca_file,
            cluster=self.clickhouse_cluster)

    def site(self, site_id: int) -> Site | None:
        for site in self.sites:
            if site.id == site_id:
                return site
        return None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``environ`` (default ``os.environ``) and the file it names.

    Raises one ConfigError whose ``problems`` are every problem found, in the order: the file, the
    environment's unknown names, the file's unknown keys, each setting, the sites.
    """
    env = os.environ if environ is None else environ
    problems = Problems()
    config_file = as_optional_path(env.get(ENV_PREFIX + "CONFIG", ""))
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except OSError as exc:
            problems.add(f"GATEWAY_CONFIG: cannot read {config_file}: {exc.strerror}")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            problems.add(f"GATEWAY_CONFIG: {config_file} is not valid TOML: {exc}")

    known_env = sorted({f.env for f in FIELDS} | {ENV_PREFIX + "CONFIG"})
    from_files = sorted(f.env + FILE_SUFFIX for f in FIELDS)
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known_env and name not in from_files:
            problems.add(f"{name}: {unknown_key(name, known_env, 'setting')}")
    env, read_from_files = _with_file_values(env, problems)
    in_file = f"{config_file}: "
    problems.unknown_keys(file_values, [*FIELDS_BY_NAME, *FILE_ONLY_KEYS], in_file)

    values: dict[str, Any] = {}
    for spec in FIELDS:
        if spec.env in env:
            raw, where = env[spec.env], spec.env + (FILE_SUFFIX if spec.env in read_from_files else "")
        elif spec.name in file_values:
            raw, where = file_values[spec.name], in_file + spec.name
        else:
            raw, where = spec.default, spec.name
        try:
            values[spec.name] = spec.parse(raw)
        except ValueError as exc:
            reason = str(exc)
            if spec.secret:  # the message must not print what may be a real secret
                reason = re.sub(r",? got .*$", " (value not shown: secret)", reason)
            problems.add(f"{where}: {reason}")
    ca_file = values.get("clickhouse_ca_file")
    if ca_file is not None:
        if not ca_file.is_file():
            problems.add(f"GATEWAY_CLICKHOUSE_CA_FILE: no such file: {ca_file}")
        if not str(values.get("clickhouse_url", "")).startswith("https://"):
            problems.add("GATEWAY_CLICKHOUSE_CA_FILE: only https:// ClickHouse URLs use a CA file")
    url = values.get("clickhouse_url")
    if values.get("clickhouse_cluster") and url is not None and (not url or url.startswith("chdb://")):
        problems.add("GATEWAY_CLICKHOUSE_CLUSTER: a cluster needs server URLs (GATEWAY_CLICKHOUSE_URL), "
                     "not embedded ClickHouse")
    if not values.get("instance_name"):
        values["instance_name"] = socket.gethostname()
    demo = file_values.get("sites") is None
    if demo:
        data_dir = values.get("data_dir")
        site = problems.attempt(lambda: demo_site(data_dir), DEMO_SITE) if data_dir else DEMO_SITE
        values["sites"] = (site,)
    else:
        no_sites: tuple[Site, ...] = ()
        values["sites"] = problems.attempt(lambda: _load_sites(file_values["sites"], in_file), no_sites)
    problems.raise_if_any()
    return Settings(config_file=config_file, demo=demo, **values)


def _with_file_values(env: Mapping[str, str], problems: Problems) -> tuple[Mapping[str, str], set[str]]:
    """``env`` with each ``GATEWAY_<NAME>_FILE`` replaced by ``GATEWAY_<NAME>`` holding that file's text
    (one final newline dropped): secrets from Docker, Kubernetes or systemd credential files. Also the
    names so read, for the errors."""
    values = dict(env)
    read = set()
    for spec in FIELDS:
        path = env.get(spec.env + FILE_SUFFIX)
        if path is None:
            continue
        where = spec.env + FILE_SUFFIX
        if spec.env in env:
            problems.add(f"{where}: {spec.env} is set too; set one of them")
            continue
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            problems.add(f"{where}: cannot read {path}: {exc.strerror}")
            continue
        except UnicodeDecodeError:
            problems.add(f"{where}: {path} is not UTF-8 text")
            continue
        value = text.removesuffix("\n").removesuffix("\r")
        if not value.strip():  # an empty secret would fall back to a default without a word
            problems.add(f"{where}: {path} is empty")
            continue
        values[spec.env] = value
        read.add(spec.env)
    return values, read


def _load_sites(raw: object, in_file: str) -> tuple[Site, ...]:
    where = f"{in_file}sites"
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: must be one or more [[sites]] tables")
    problems = Problems()
    sites: list[Site] = []
    for index, table in enumerate(raw):
        if not isinstance(table, dict):
            problems.add(f"{where}[{index}]: must be a table")
            continue
        try:
            sites.append(site_from_table(table, f"{where}[{index}]"))
        except ConfigError as exc:
            problems.found.extend(exc.problems)
    ids = [s.id for s in sites]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        problems.add(f"{where}: id {duplicate} is used twice")
    problems.raise_if_any()
    return tuple(sites)


def demo_site(data_dir: Path) -> Site:
    """The demo site, with the API token ``./scripts/serve`` wrote to ``DATA_DIR/demo-token`` if any."""
    path = data_dir / DEMO_TOKEN_FILE
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return DEMO_SITE
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the demo site's token: {exc.strerror}") from None
    except UnicodeDecodeError:
        token = ""
    if len(token) < 24 or any(c.isspace() for c in token):  # never shown: it may be a real token
        raise ConfigError(f"{path}: not a site token (24+ characters without spaces); delete the file and "
                          "run ./scripts/serve to make a new one")
    return replace(DEMO_SITE, token=token)


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
            key_file = settings.data_dir / SECRET_KEY_FILE
            try:
                made = key_file.exists()
            except OSError:  # a data folder this user cannot enter: serve will say so
                made = False
            shown = f"(generated in {key_file})" if made else f"(generated on first serve in {key_file})"
        if spec.name == "geoip_city_db" and value is None:
            shown = f"{settings.city_db_path}  (default)"
        rows.append((spec.env, shown, spec.help))
    return rows


def _redact_url(urls: str) -> str:
    # Split as Target.parse splits: a comma inside a password is not a separator.
    return ",".join(_redact_one(url.strip()) for url in URL_SEPARATOR.split(urls))


def _redact_one(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:<redacted>@{hostpart}"


def reference_markdown() -> str:
    """docs/configuration.md's settings reference, generated from ``FIELDS`` so the two cannot drift."""
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
