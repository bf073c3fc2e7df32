"""Sites: who may send us hits and consents, and from which page origins.

A site is configured in the TOML file as a ``[[sites]]`` table; every problem of a table is
reported at once, each naming its key. Origins are compiled once into matchers, so the request path
only compares a few strings. A site's consent keys are read by ``gateway.config.consent``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from gateway.config.consent import CONSENT_KEYS, MAX_LIFETIME_DAYS, ConsentPolicy, consent_policy_from_table
from gateway.config.dimensions import HELP as CUSTOM_DIMENSIONS_HELP
from gateway.config.dimensions import CustomDimension, custom_dimensions_from_table
from gateway.config.errors import ConfigError, Problems, did_you_mean

DEFAULT_PORTS = {"http": 80, "https": 443}
_KINDS: dict[type, str] = {int: "an integer", str: "a string", list: "a list", bool: "true or false"}
MAX_RETENTION_DAYS = 3650
DEFAULT_RETENTION_DAYS = 395  # 13 months: Matomo's and the CNIL's usual ceiling for analytics data
# Proof (the consent log, the rights audit) is kept this long after a consent id's last decision:
# 3 years, the usual limitation period for claims over it. It may not be shorter than a site's
# retention_days + consent_lifetime_days: a hit is stored up to a lifetime after the decision that
# allowed it and kept retention_days, and while it is kept its consent must stay provable. The
# longest proof period covers the longest of both. See gateway/rights/retention.py.
DEFAULT_PROOF_DAYS = 1095
MAX_PROOF_DAYS = MAX_RETENTION_DAYS + MAX_LIFETIME_DAYS
T = TypeVar("T")


class SiteError(ConfigError):
    """A site definition is invalid; each problem names the offending key."""


@dataclass(frozen=True, slots=True)
class OriginPattern:
    """One allowed page origin: exact, ``https://*.example.com`` or ``http://localhost:*``."""

    text: str
    scheme: str
    host: str  # lower case; for a wildcard, the suffix after "*." (sub-domains only, not the apex)
    wildcard_host: bool
    port: int | None  # None: any port

    @classmethod
    def parse(cls, text: str) -> OriginPattern:
        match = re.fullmatch(r"(https?)://(\*\.)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d+|\*))?/?", text)
        if match is None:
            raise SiteError(f"{text!r} is not an origin like https://example.com, https://*.example.com "
                            "or http://localhost:*")
        scheme, star, host, port = match.groups()
        if port == "*":
            parsed_port = None
        elif port is None:
            parsed_port = DEFAULT_PORTS[scheme]
        else:
            parsed_port = int(port)
        return cls(text=text, scheme=scheme, host=host.lower(), wildcard_host=star is not None,
                   port=parsed_port)

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if scheme != self.scheme or (self.port is not None and port != self.port):
            return False
        if self.wildcard_host:
            return host.endswith("." + self.host)
        return host == self.host


@lru_cache(maxsize=1024)  # on every browser hit and consent call; a site has few page origins
def split_origin(origin: str) -> tuple[str, str, int] | None:
    """An Origin header value as (scheme, host, port), or None when it is not a web origin."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


@dataclass(frozen=True, slots=True)
class Site:
    id: int
    name: str
    origins: tuple[OriginPattern, ...]
    timezone: str = "UTC"
    retention_days: int = DEFAULT_RETENTION_DAYS
    proof_days: int = DEFAULT_PROOF_DAYS  # at least retention_days + the consent lifetime
    policy_version: str = "1"
    token: str = field(default="", repr=False)  # site API token for server-side use; "" disables it
    consent: ConsentPolicy = field(default_factory=ConsentPolicy)
    language: str = ""  # city names are also stored in this language where the GeoIP database has it
    keep_url_fragment: bool = False  # single-page apps that route by #fragment keep it (text-scrubbed)
    secret_params: tuple[str, ...] = ()  # query parameters redacted in addition to the defaults
    custom_dimensions: tuple[CustomDimension, ...] = ()  # by number (gateway/config/dimensions.py)

    def allows_origin(self, origin: str) -> bool:
        parts = split_origin(origin)
        return parts is not None and any(p.matches(*parts) for p in self.origins)


SITE_KEYS = {
    "id": "integer, unique, > 0",
    "name": "display name",
    "origins": "list of allowed page origins: exact, https://*.example.com, or http://host:*",
    "timezone": "IANA time zone for dashboards, e.g. Europe/Berlin",
    "retention_days": f"days events are kept, 1..{MAX_RETENTION_DAYS}, today counted; reports never show "
                      "older days, and a change applies to rows already stored (within the hour)",
    "proof_days": "days the consent log and the rights audit keep a consent id after its last decision, "
                  f"retention_days + consent_lifetime_days..{MAX_PROOF_DAYS}; default {DEFAULT_PROOF_DAYS} "
                  "(3 years), or that sum when longer",
    "policy_version": "privacy-policy version; bumping it makes earlier consents stale",
    "token": "site API token (at least 24 characters) for server-side calls; secret",
    "language": "language tag (e.g. zh-CN) in which city names are stored too, where the GeoIP database "
                "has them; default: English only",
    "keep_url_fragment": "keep the #fragment of page URLs (single-page apps routing by hash); default false",
    "secret_params": "query-parameter names whose values are redacted from URLs (a trailing * matches a "
                     "prefix), added to the built-in list (token, password, email, session ids, ...)",
    "custom_dimensions": CUSTOM_DIMENSIONS_HELP,
    **CONSENT_KEYS,
}


def site_from_table(table: dict[str, object], where: str) -> Site:
    """Build a Site from one ``[[sites]]`` table; raises a SiteError listing every problem, each naming
    ``where.key``."""
    problems = Problems()
    problems.unknown_keys(table, SITE_KEYS, f"{where}.")

    def need(key: str, kind: type[T], default: T | None = None) -> T | None:
        """The key's value when it has the right type, else None with the problem recorded."""
        value = table.get(key, default)
        if value is None:
            problems.add(f"{where}.{key}: required ({SITE_KEYS[key]})")
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            shown = "(not shown: secret)" if key == "token" else repr(value)
            problems.add(f"{where}.{key}: must be {_KINDS[kind]}, got {shown}")
            return None
        return value

    def check(key: str, valid: bool, problem: str) -> bool:
        if not valid:
            problems.add(f"{where}.{key}: {problem}")
        return valid

    site_id = need("id", int)
    if site_id is not None:
        check("id", 0 < site_id < 2**32, f"must be between 1 and 4294967295, got {site_id}")
    origins = _origins(need("origins", list), f"{where}.origins", problems)
    timezone = need("timezone", str, "UTC")
    if timezone is not None:
        check("timezone", _is_zone(timezone), f"unknown time zone {timezone!r}: an IANA name such as "
              f"Europe/Berlin, America/New_York or UTC{did_you_mean(timezone, _zones())}")
    retention = need("retention_days", int, DEFAULT_RETENTION_DAYS)
    if retention is not None and not check("retention_days", 1 <= retention <= MAX_RETENTION_DAYS,
                                           f"must be 1..{MAX_RETENTION_DAYS}, got {retention}"):
        retention = None
    policy = need("policy_version", str, "1")
    if policy is not None:
        check("policy_version", 0 < len(policy) <= 64, "must be 1..64 characters")
    token = need("token", str, "")
    if token:
        check("token", len(token) >= 24, "must be at least 24 characters (use a random value)")
    language = need("language", str, "")
    if language:
        check("language", re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", language) is not None,
              f"{language!r} is not a language tag like zh-CN")
    keep_fragment = need("keep_url_fragment", bool, False)
    secret_params = need("secret_params", list, [])
    if secret_params is not None:
        check("secret_params", all(isinstance(p, str) and 0 < len(p) <= 64 for p in secret_params),
              "must be a list of parameter names")
    consent = problems.attempt(
        lambda: consent_policy_from_table({k: v for k, v in table.items() if k in CONSENT_KEYS}, where), None)
    if retention is not None and consent is not None:
        shortest_proof = retention + consent.lifetime_days
        proof = need("proof_days", int, max(DEFAULT_PROOF_DAYS, shortest_proof))
        if proof is not None:
            check("proof_days", shortest_proof <= proof <= MAX_PROOF_DAYS,
                  f"must be {shortest_proof}..{MAX_PROOF_DAYS} (at least retention_days + "
                  f"consent_lifetime_days, so every kept hit's consent stays provable), got {proof}")
    else:
        proof = need("proof_days", int, DEFAULT_PROOF_DAYS)  # its range depends on what failed
    name = need("name", str, f"Site {site_id}")
    custom = problems.attempt(lambda: custom_dimensions_from_table(table.get("custom_dimensions", {}),
                                                                   f"{where}.custom_dimensions"), None)
    problems.raise_if_any(SiteError)
    assert site_id is not None and timezone is not None and retention is not None and proof is not None
    assert policy is not None and token is not None and consent is not None and language is not None
    assert name is not None and secret_params is not None
    return Site(id=site_id, name=name, origins=origins, timezone=timezone, retention_days=retention,
                proof_days=proof, policy_version=policy, token=token, consent=consent, language=language,
                keep_url_fragment=bool(keep_fragment), secret_params=tuple(p.lower() for p in secret_params),
                custom_dimensions=custom or ())


def _origins(raw: list[object] | None, where: str, problems: Problems) -> tuple[OriginPattern, ...]:
    if raw is None:
        return ()
    if not raw or not all(isinstance(o, str) for o in raw):
        problems.add(f"{where}: must be a non-empty list of strings")
        return ()
    found: list[OriginPattern] = []
    for text in raw:
        assert isinstance(text, str)
        try:
            found.append(OriginPattern.parse(text))
        except SiteError as exc:
            problems.add(f"{where}: {exc}")
    return tuple(found)


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones ("Europe"), a long name
        return False
    return True


def _zones() -> list[str]:
    """Every IANA time zone name, for a "did you mean" (read only when a name is wrong)."""
    return sorted(available_timezones())


DEMO_SITE = Site(
    id=1,
    name="Demo site",
    origins=(OriginPattern.parse("http://localhost:*"), OriginPattern.parse("http://127.0.0.1:*")),
)
