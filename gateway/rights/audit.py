"""The audit trail of data requests: every export and erasure, who asked, what it touched.

One ``rights_requests`` row per request, written whatever path it came by (the visitor's banner,
the site token, the CLI, a dashboard user). It holds counts and the pseudonymous consent id, never
the data or the site's user id: a request by user id records the nil id. ``operator`` names the
dashboard user who acted (staff, not a visitor), empty otherwise.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from gateway.storage.clickhouse import Database

NO_CONSENT = uuid.UUID(int=0)
REQUESTERS = ("visitor", "site-token", "cli", "dashboard")


@dataclass(frozen=True, slots=True)
class Request:
    """Who asks for what; ``consent_id`` is None for a request by the site's user id."""

    site_id: int
    kind: str  # export or erase
    consent_id: uuid.UUID | None
    requested_by: str
    operator: str = ""

    def __post_init__(self) -> None:
        assert self.kind in ("export", "erase") and self.requested_by in REQUESTERS

    def row(self, *, events: int, decisions: int, instance: str, now: float) -> tuple[Any, ...]:
        """A row in ``RIGHTS_REQUESTS_TABLE.columns`` order."""
        return (uuid.uuid4(), self.site_id, dt.datetime.fromtimestamp(now, dt.UTC), self.kind,
                "consent" if self.consent_id is not None else "uid", self.consent_id or NO_CONSENT,
                self.requested_by, self.operator[:100], events, decisions, instance)


def entries(db: Database, site_id: int | None = None, consent_id: uuid.UUID | None = None,
            limit: int = 100) -> list[dict[str, Any]]:
    """The newest requests first, for one site or all, optionally for one consent id."""
    where, params = ["1"], {"site": site_id or 0, "cid": consent_id or NO_CONSENT, "limit": limit}
    if site_id is not None:
        where.append("site_id = {site:UInt32}")
    if consent_id is not None:
        where.append("consent_id = {cid:UUID}")
    rows = db.query(
        "SELECT toString(ts), site_id, toString(kind), toString(subject), consent_id, "
        "toString(requested_by), operator, events, decisions, gateway_instance FROM rights_requests "
        f"WHERE {' AND '.join(where)} ORDER BY ts DESC LIMIT {{limit:UInt32}}", params)
    keys = ("time", "site", "kind", "subject", "consent_id", "requested_by", "operator", "events",
            "decisions", "gateway_instance")
    return [dict(zip(keys, (*row[:4], "" if row[4] == NO_CONSENT else str(row[4]), *row[5:]), strict=True))
            for row in rows]
