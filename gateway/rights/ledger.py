"""The consent ledger: per consent id, the latest decision, so older cookies are superseded.

The signed cookie cannot be revoked, so the server remembers, per consent id, when its latest
decision was made. A cookie decided before that is superseded: a hit carrying it is not stored and a
consent read treats it as no decision (``CookieProblem.SUPERSEDED``). Every decision on one consent
id gets a distinct second (``next_decided_at``), so "older" is exact even for two clicks within a
second, and the consent log's time of a decision floors to the cookie's ``decided_at``.

Only consent ids with more than one decision need an entry: no cookie can be older than an id's
first decision. So a first grant adds nothing, and the ledger holds the ids that were withdrawn,
refused after a grant, updated or erased. Entries older than the longest consent lifetime go: any
cookie they could supersede has expired. The ledger is rebuilt from ``consent_log`` at start and kept
current across instances by ``gateway.rights.sync``.

The same entries decide which buffered rows the writer may still insert (``keeps_row``): rows of an
erased id up to its erasure, and rows stamped after a restricting decision, never reach ClickHouse,
whether they wait in the writer, in the spool or in a replay after a crash.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.config.consent import MAX_LIFETIME_DAYS

if TYPE_CHECKING:
    from gateway.consent.cookie import Consent

HORIZON_SECONDS = (MAX_LIFETIME_DAYS + 1) * 86400  # no cookie outlives this
SEEN_SECONDS = 120.0  # an accepted hit's consent id is remembered this long (to twice as long) for purges


@dataclass(slots=True)
class Entry:
    """The latest decision known for one consent id."""

    decided_at: int  # Unix seconds, as in the cookie
    analytics: bool  # whether that decision grants analytics
    erased_at: float = 0.0  # the latest erasure: rows stamped up to it are gone (0: never erased)
    at: float = 0.0  # the decision's exact time (the log's, to the millisecond): rows before it stay


@dataclass(frozen=True, slots=True)
class Change:
    """What merging a decision changed: a restriction the instance did not know about before."""

    consent_id: uuid.UUID
    restricted_at: float  # rows of this id stamped from here on must not remain (0: none)
    erased_at: float


class ConsentLedger:
    """In memory, one per process. Not thread-safe: used from the event loop only."""

    def __init__(self) -> None:
        self._entries: dict[uuid.UUID, Entry] = {}
        # Consent ids with hits accepted lately: when, and under which visitor id. Two generations,
        # swapped every SEEN_SECONDS by ``rotate``, so forgetting costs nothing per hit.
        self._seen: dict[uuid.UUID, tuple[float, int]] = {}
        self._seen_before: dict[uuid.UUID, tuple[float, int]] = {}
        self._rotated_at = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    # --- the gate (every hit) ---------------------------------------------------------------

    def superseded(self, consent: Consent) -> bool:
        entry = self._entries.get(consent.consent_id)
        if entry is None or consent.decided_at == entry.decided_at:
            return False
        if consent.decided_at < entry.decided_at:
            return True
        if consent.analytics:
            # A cookie we signed for a later grant than any we know of: another instance's, whose
            # log row has not reached us yet. Learn it now, or its hits would be taken for rows of
            # the restriction we know and dropped on their way to ClickHouse.
            entry.decided_at, entry.analytics, entry.at = consent.decided_at, True, float(consent.decided_at)
        return False

    def accepted(self, consent: Consent, now: float) -> None:
        """A hit of this id was accepted: if another instance restricts it now, look for window rows."""
        self._seen[consent.consent_id] = (now, consent.visitor_id)

    # --- decisions ------------------------------------------------------------------------------

    def latest(self, consent_id: uuid.UUID) -> int:
        entry = self._entries.get(consent_id)
        return entry.decided_at if entry is not None else 0

    def regranted_at(self, consent_id: uuid.UUID) -> int:
        """When analytics was last granted again, if the latest decision is a grant; else 0."""
        entry = self._entries.get(consent_id)
        return entry.decided_at if entry is not None and entry.analytics else 0

    def next_decided_at(self, consent_id: uuid.UUID, now: float, previous: int = 0) -> int:
        """The second a new decision on this id is stamped with: now, but always after the last."""
        return max(int(now), previous + 1, self.latest(consent_id) + 1)

    def record(self, consent_id: uuid.UUID, decided_at: int, *, analytics: bool, first: bool = False,
               erased_at: float = 0.0, at: float = 0.0) -> Change | None:
        """Merge a decision (local or learnt from the log); returns the restriction it brings, if new.

        ``first``: the id's first decision, which supersedes nothing and needs no entry (unless the
        id is known already, as when another instance's log rows arrive in another order).
        """
        at = max(at, float(decided_at))
        entry = self._entries.get(consent_id)
        if entry is None:
            if first and not erased_at:
                return None
            entry = self._entries[consent_id] = Entry(decided_at, analytics, erased_at, at)
            restricting = not analytics or bool(erased_at)
        else:
            newer = decided_at > entry.decided_at
            restricting = (newer and not analytics and entry.analytics) or erased_at > entry.erased_at
            if newer:
                entry.decided_at, entry.analytics, entry.at = decided_at, analytics, at
            entry.erased_at = max(entry.erased_at, erased_at)
        if not restricting:
            return None
        return Change(consent_id, restricted_at=at if not analytics else 0.0, erased_at=entry.erased_at)

    def accepted_since(self, consent_id: uuid.UUID, since: float) -> int | None:
        """The visitor id of the latest hit of this id accepted at or after ``since``, if any."""
        seen = self._seen.get(consent_id) or self._seen_before.get(consent_id)
        return seen[1] if seen is not None and seen[0] >= since else None

    def rotate(self, now: float) -> None:
        """Forget hits accepted more than SEEN_SECONDS (to twice that) ago."""
        if now - self._rotated_at >= SEEN_SECONDS:
            self._seen_before, self._seen = self._seen, {}
            self._rotated_at = now

    # --- the writer (every row before it reaches ClickHouse) ---------------------------------

    def keeps(self, consent_id: uuid.UUID, ts: dt.datetime) -> bool:
        entry = self._entries.get(consent_id)
        if entry is None:
            return True
        seconds = ts.timestamp()
        if seconds <= entry.erased_at:
            return False
        return entry.analytics or seconds < entry.at

    def row_filter(self, columns: Sequence[str]) -> Any:
        """A filter over rows of a table with these columns, for ``BatchWriter``; None when the table
        carries no consent id."""
        if "consent_id" not in columns or "ts" not in columns:
            return None
        cid, ts = columns.index("consent_id"), columns.index("ts")
        entries, keeps = self._entries, self.keeps

        def keep(rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]] | None:
            if not entries:
                return None  # None: keep them all, without copying
            if not any(row[cid] in entries for row in rows):
                return None
            return [row for row in rows if keeps(row[cid], row[ts])]

        return keep

    # --- housekeeping ---------------------------------------------------------------------------

    def prune(self, now: float) -> int:
        """Forget what can no longer matter; returns the entries dropped."""
        horizon = now - HORIZON_SECONDS
        stale = [cid for cid, entry in self._entries.items()
                 if entry.decided_at < horizon and entry.erased_at < horizon]
        for cid in stale:
            del self._entries[cid]
        return len(stale)
