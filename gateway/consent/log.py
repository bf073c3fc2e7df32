"""The consent log: one row per decision, and the history that proves a consent.

A row records what was chosen (action, categories), under what (policy version, the hash of the
banner configuration shown, language) and from where at country level (browser family, country,
gateway instance). Never an IP, never the full user agent.

A grant is in the log if and only if its visitor was answered with its cookie. In the rare case the
consent API cannot know (an insert that may have stored the grant failed or hung), it answers 503 and
logs the same row again with the action ``undelivered``: that grant never took effect. A decision
answered to a cross-site request gets the same twin at once: the browser does not keep its cookie
(gateway/consent/record.py).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from gateway.config.consent import NECESSARY, ShownBanner
from gateway.config.sites import Site
from gateway.consent.cookie import Consent
from gateway.storage.clickhouse import Database


def action_for(new: Consent, current: Consent | None, *, withdraw: bool = False) -> str:
    """withdraw for DELETE; update when a current decision with some grant changes; otherwise
    grant or refuse, so accepting after a refusal, a withdrawal or a lapse logs a grant."""
    if withdraw:
        return "withdraw"
    if current is not None and current.categories - {NECESSARY}:
        return "update"
    return "grant" if new.categories - {NECESSARY} else "refuse"


def log_row(consent: Consent, action: str, *, banner_version: str, language: str, country_code: str,
            browser_family: str, instance: str, now: float) -> tuple[Any, ...]:
    """A row in ``CONSENT_LOG_TABLE.columns`` order."""
    return (consent.consent_id, consent.site_id, dt.datetime.fromtimestamp(now, dt.UTC), action,
            sorted(consent.categories), consent.policy_version, banner_version, language, consent.source,
            country_code, browser_family, instance)


def undelivered_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The row that cancels the grant ``row``: the same decision, time and wording, never delivered."""
    return (*row[:3], "undelivered", *row[4:])


def config_row(site: Site, shown: ShownBanner) -> tuple[Any, ...]:
    """The banner configuration a site shows, in ``CONSENT_CONFIGS_TABLE.columns`` order."""
    return (site.id, shown.config_hash, site.policy_version, shown.canonical)


def missing_config_rows(db: Database, sites: dict[int, tuple[Site, ShownBanner]]) -> list[tuple[Any, ...]]:
    """Rows for the configurations not stored yet: each is stored once, at its first serving."""
    stored = set(db.query("SELECT site_id, config_hash FROM consent_configs GROUP BY site_id, config_hash"))
    return [config_row(site, shown) for site, shown in sites.values()
            if (site.id, shown.config_hash) not in stored]


def history(db: Database, consent_id: uuid.UUID, site_id: int | None = None) -> list[dict[str, Any]]:
    """Every decision logged under ``consent_id`` (for one site, or any), oldest first."""
    where = "consent_id = {cid:UUID}" + (" AND site_id = {site:UInt32}" if site_id is not None else "")
    rows = db.query(
        "SELECT site_id, toString(ts), toString(action), categories, policy_version, banner_version, "
        f"language, toString(source), country_code, browser_family, gateway_instance FROM consent_log "
        f"WHERE {where} ORDER BY ts, action", {"cid": consent_id, "site": site_id or 0})
    keys = ("site_id", "time", "action", "categories", "policy_version", "banner_version", "language",
            "source", "country_code", "browser_family", "gateway_instance")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def shown_configs(db: Database, site_id: int, hashes: set[str]) -> dict[str, Any]:
    """The banner configurations behind ``hashes``: what the visitor was shown."""
    if not hashes:
        return {}
    rows = db.query("SELECT config_hash, any(payload), toString(min(first_seen)) FROM consent_configs "
                    "WHERE site_id = {site:UInt32} AND config_hash IN {hashes:Array(String)} "
                    "GROUP BY config_hash", {"site": site_id, "hashes": sorted(hashes)})
    return {h: {"first_seen": seen, "config": json.loads(payload)} for h, payload, seen in rows}


def config_hash_of(banner_version: str) -> str:
    """The server-side hash in a logged banner version ("client-version/hash" or "hash")."""
    return banner_version.rpartition("/")[2]
