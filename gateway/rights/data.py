"""One visitor's stored data: found, exported in a stable shape, erased.

A visitor is a consent id on one site. The site's own user id (Matomo ``uid``) leads to the consent
ids whose events carry its keyed hash: an export by user id holds the events that carry it (not the
other visits of those browsers, which may be someone else's); an erasure by user id erases those
consent ids whole, since a browser the user signed in from is theirs to stop tracking.

The export is the visitor-data document, version 1:

    {"format": "consent-gateway.visitor-data", "version": 1, "site": 1,
     "consent_ids": ["…"], "exported_at": "2026-12-07T10:00:00.000Z", "retention_days": 390,
     "decisions": [{"consent_id", "time", "action", "categories", "policy_version", "banner_version",
                    "config_hash", "language", "source", "country_code", "browser_family",
                    "gateway_instance"}, …],
     "event_count": 2, "events": [{"ts": "…", "event_type": "pageview", "url_path": "/", …}, …]}

Events carry every stored column but ``retention_days`` (bookkeeping). Times are UTC ISO 8601 with
milliseconds and a ``Z``; ids are strings; empty values stay as stored. No IP is in it, because no
IP is stored. Rows past the site's retention are left out, as in every report.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from gateway.config.sites import Site
from gateway.consent.log import config_hash_of, history
from gateway.rights.retention import oldest_kept
from gateway.storage.clickhouse import Database
from gateway.storage.schema import EVENTS_TABLE

FORMAT = "consent-gateway.visitor-data"
VERSION = 1
EXPORTED_COLUMNS = tuple(c for c in EVENTS_TABLE.columns if c != "retention_days")


def consent_ids_for_user(db: Database, site: Site, user_hash: str) -> list[uuid.UUID]:
    rows = db.query("SELECT DISTINCT consent_id FROM events WHERE site_id = {site:UInt32} "
                    "AND user_id = {uid:String}", {"site": site.id, "uid": user_hash})
    return sorted(row[0] for row in rows)


def known_consent(db: Database, site: Site, consent_id: uuid.UUID) -> bool:
    """Whether this id has any decision logged or any event stored on the site."""
    params = {"site": site.id, "cid": consent_id}
    return bool(db.query("SELECT count() FROM consent_log WHERE site_id = {site:UInt32} "
                         "AND consent_id = {cid:UUID}", params)[0][0]
                or count_events(db, site, [consent_id]))


def count_events(db: Database, site: Site, consent_ids: Sequence[uuid.UUID], user_hash: str = "",
                 until: float | None = None) -> int:
    """Events of these ids (and of ``user_hash``), stamped up to ``until`` when given."""
    if not consent_ids and not user_hash:
        return 0
    where, params = _subject(site, consent_ids, user_hash)
    if until is not None:
        where += " AND ts <= fromUnixTimestamp64Milli({until:Int64})"
        params["until"] = int(until * 1000)
    return int(db.query(f"SELECT count() FROM events WHERE {where}", params)[0][0])


def delete_events(db: Database, site: Site, consent_ids: Sequence[uuid.UUID], user_hash: str = "") -> None:
    """A lightweight DELETE, synchronous: once it returns, no query sees the rows. The consent ids'
    visits in the visit summary (``gateway/stats/summary.py``) go the same way, after the events: a
    summary build that read the events before this delete is never registered (its day's fingerprint
    changed), and one registered before it loses the rows here."""
    if consent_ids or user_hash:
        where, params = _subject(site, consent_ids, user_hash)
        db.command(f"DELETE FROM {db.mutation_table('events')} WHERE {where}", params)
    if consent_ids:  # an erasure by user id names the consent ids too, erased whole
        db.command(f"DELETE FROM {db.mutation_table('visits')} WHERE site_id = {{site:UInt32}} "
                   "AND consent_id IN {cids:Array(UUID)}", {"site": site.id, "cids": list(consent_ids)})


def _subject(site: Site, consent_ids: Sequence[uuid.UUID], user_hash: str) -> tuple[str, dict[str, Any]]:
    who = []
    if consent_ids:
        who.append("consent_id IN {cids:Array(UUID)}")
    if user_hash:
        who.append("user_id = {uid:String}")
    return (f"site_id = {{site:UInt32}} AND ({' OR '.join(who)})",
            {"site": site.id, "cids": list(consent_ids), "uid": user_hash})


def decisions_of(db: Database, site: Site, consent_ids: Iterable[uuid.UUID]) -> list[dict[str, Any]]:
    decisions = []
    for consent_id in consent_ids:
        for decision in history(db, consent_id, site.id):
            decision.pop("site_id")
            decision["time"] = decision["time"].replace(" ", "T") + "Z"  # toString(ts): UTC, milliseconds
            decisions.append({"consent_id": str(consent_id), **decision,
                              "config_hash": config_hash_of(decision["banner_version"])})
    return decisions


def events_of(db: Database, site: Site, consent_ids: Sequence[uuid.UUID], now: float,
              user_hash: str = "") -> list[dict[str, Any]]:
    """The events of these consent ids; with ``user_hash``, only those carrying that user id (a shared
    browser's other users and its visits before sign-in are not the requester's to read)."""
    if not consent_ids:
        return []
    rows = db.query(f"SELECT {', '.join(EXPORTED_COLUMNS)} FROM events WHERE site_id = {{site:UInt32}} "
                    "AND consent_id IN {cids:Array(UUID)} AND ts >= {oldest:DateTime64(3)} "
                    f"{'AND user_id = {uid:String} ' if user_hash else ''}ORDER BY ts",
                    {"site": site.id, "cids": list(consent_ids), "uid": user_hash,
                     "oldest": oldest_kept(site, dt.datetime.fromtimestamp(now, dt.UTC))})
    return [{name: _plain(value) for name, value in zip(EXPORTED_COLUMNS, row, strict=True)} for row in rows]


def document(db: Database, site: Site, consent_ids: Sequence[uuid.UUID], now: float,
             user_hash: str = "") -> dict[str, Any]:
    events = events_of(db, site, consent_ids, now, user_hash)
    return {"format": FORMAT, "version": VERSION, "site": site.id,
            "consent_ids": [str(c) for c in consent_ids], "exported_at": iso(now),
            "retention_days": site.retention_days, "decisions": decisions_of(db, site, consent_ids),
            "event_count": len(events), "events": events}


def iso(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return iso(aware.timestamp())
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
