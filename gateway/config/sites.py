"""Sites: who may send us hits and consents, and from which page origins.

A site is configured in the TOML file as a ``[[sites]]`` table. Origins are compiled once into
matchers, so the request path only compares a few strings. Later issues add banner texts and
consent categories to the site; they belong here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.config.consent import (
    CONSENT_KEYS,
    MAX_LIFETIME_DAYS,
    ConsentConfigError,
    ConsentPolicy,
    consent_policy_from_table,
)

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_RETENTION_DAYS = 3650
DEFAULT_RETENTION_DAYS = 395  # 13 months: Matomo's and the CNIL's usual ceiling for analytics data
# Proof (the consent log, the rights audit) is kept this long after a consent id's last decision:
# 3 years, the usual limitation period for claims over it. It may not be shorter than a site's
# retention_days + consent_lifetime_days: a hit is stored up to a lifetime after the decision that
# allowed it and kept retention_days, and while it is kept its consent must stay provable. The
# longest proof period covers the longest of both. See gateway/rights/retention.py.
DEFAULT_PROOF_DAYS = 1095
MAX_PROOF_DAYS = MAX_RETENTION_DAYS + MAX_LIFETIME_DAYS


class SiteError(ValueError):
    """A site definition is invalid; the message names the offending key."""


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
    **CONSENT_KEYS,
}


def site_from_table(table: dict[str, object], where: str) -> Site:
    """Build a Site from one ``[[sites]]`` table; errors name ``where.key``."""
    unknown = sorted(set(table) - set(SITE_KEYS))
    if unknown:
        raise SiteError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(SITE_KEYS)})")

    def need(key: str, kind: type, default: object = None) -> object:
        value = table.get(key, default)
        if value is None:
            raise SiteError(f"{where}.{key}: required")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            shown = "(not shown: secret)" if key == "token" else repr(value)
            raise SiteError(f"{where}.{key}: must be {kind.__name__}, got {shown}")
        return value

    site_id = need("id", int)
    assert isinstance(site_id, int)
    if not 0 < site_id < 2**32:
        raise SiteError(f"{where}.id: must be between 1 and 4294967295, got {site_id}")
    raw_origins = need("origins", list)
    assert isinstance(raw_origins, list)
    if not raw_origins or not all(isinstance(o, str) for o in raw_origins):
        raise SiteError(f"{where}.origins: must be a non-empty list of strings")
    try:
        origins = tuple(OriginPattern.parse(o) for o in raw_origins)
    except SiteError as exc:
        raise SiteError(f"{where}.origins: {exc}") from None
    timezone = str(need("timezone", str, "UTC"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SiteError(f"{where}.timezone: unknown time zone {timezone!r}") from None
    retention = need("retention_days", int, DEFAULT_RETENTION_DAYS)
    assert isinstance(retention, int)
    if not 1 <= retention <= MAX_RETENTION_DAYS:
        raise SiteError(f"{where}.retention_days: must be 1..{MAX_RETENTION_DAYS}, got {retention}")
    policy = str(need("policy_version", str, "1"))
    if not policy or len(policy) > 64:
        raise SiteError(f"{where}.policy_version: must be 1..64 characters")
    token = str(need("token", str, ""))
    if token and len(token) < 24:
        raise SiteError(f"{where}.token: must be at least 24 characters (use a random value)")
    language = str(need("language", str, ""))
    if language and not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", language):
        raise SiteError(f"{where}.language: {language!r} is not a language tag like zh-CN")
    keep_fragment = need("keep_url_fragment", bool, False)
    secret_params = need("secret_params", list, [])
    assert isinstance(secret_params, list)
    if not all(isinstance(p, str) and 0 < len(p) <= 64 for p in secret_params):
        raise SiteError(f"{where}.secret_params: must be a list of parameter names")
    try:
        consent = consent_policy_from_table({k: v for k, v in table.items() if k in CONSENT_KEYS}, where)
    except ConsentConfigError as exc:
        raise SiteError(str(exc)) from None
    shortest_proof = retention + consent.lifetime_days
    proof = need("proof_days", int, max(DEFAULT_PROOF_DAYS, shortest_proof))
    assert isinstance(proof, int)
    if not shortest_proof <= proof <= MAX_PROOF_DAYS:
        raise SiteError(f"{where}.proof_days: must be {shortest_proof}..{MAX_PROOF_DAYS} (at least "
                        "retention_days + consent_lifetime_days, so every kept hit's consent stays "
                        f"provable), got {proof}")
    return Site(id=site_id, name=str(need("name", str, f"Site {site_id}")), origins=origins,
                timezone=timezone, retention_days=retention, proof_days=proof, policy_version=policy,
                token=token, consent=consent, language=language, keep_url_fragment=bool(keep_fragment),
                secret_params=tuple(p.lower() for p in secret_params))


DEMO_SITE = Site(
    id=1,
    name="Demo site",
    origins=(OriginPattern.parse("http://localhost:*"), OriginPattern.parse("http://127.0.0.1:*")),
)
