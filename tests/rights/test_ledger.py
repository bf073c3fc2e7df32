"""The ledger's rules, without a server: which cookie is superseded, which buffered row may still land."""

from __future__ import annotations

import datetime as dt
import uuid

from gateway.consent.cookie import Consent
from gateway.rights.ledger import HORIZON_SECONDS, SEEN_SECONDS, ConsentLedger
from gateway.storage.schema import EVENTS_TABLE

T0 = 1_800_000_000
CID = uuid.UUID(int=7)


def cookie(decided_at: int, analytics: bool = True) -> Consent:
    categories = frozenset({"necessary", "analytics"} if analytics else {"necessary"})
    visitor = 42 if analytics else 0
    return Consent(CID, 3, categories, "1", decided_at, decided_at + 86400 * 182, visitor, "banner")


def at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def test_a_first_decision_needs_no_entry_and_supersedes_nothing() -> None:
    ledger = ConsentLedger()
    assert ledger.record(CID, T0, analytics=True, first=True) is None
    assert len(ledger) == 0 and not ledger.superseded(cookie(T0))


def test_a_withdrawal_supersedes_every_older_cookie_not_the_new_one() -> None:
    ledger = ConsentLedger()
    change = ledger.record(CID, T0 + 5, analytics=False)
    assert change is not None and change.restricted_at == T0 + 5
    assert ledger.superseded(cookie(T0)) and ledger.superseded(cookie(T0 + 4))
    assert not ledger.superseded(cookie(T0 + 5, analytics=False))


def test_decisions_within_one_second_still_get_distinct_seconds() -> None:
    ledger = ConsentLedger()
    first = ledger.next_decided_at(CID, T0 + 0.1, previous=T0)
    ledger.record(CID, first, analytics=False)
    second = ledger.next_decided_at(CID, T0 + 0.2, previous=first)
    assert T0 < first < second


def test_merging_the_same_decision_twice_changes_nothing() -> None:
    ledger = ConsentLedger()
    assert ledger.record(CID, T0, analytics=False) is not None
    assert ledger.record(CID, T0, analytics=False) is None
    assert ledger.record(CID, T0 - 10, analytics=True) is None  # an older row arriving late
    assert ledger.superseded(cookie(T0 - 10))


def test_a_regrant_updates_the_entry_so_its_rows_are_kept() -> None:
    ledger = ConsentLedger()
    ledger.record(CID, T0, analytics=False)
    assert not ledger.keeps(CID, at(T0 + 1))
    ledger.record(CID, T0 + 10, analytics=True)
    assert ledger.keeps(CID, at(T0 + 11)) and ledger.regranted_at(CID) == T0 + 10
    assert ledger.superseded(cookie(T0 - 1)) and not ledger.superseded(cookie(T0 + 10))


def test_the_writer_filter_drops_erased_and_post_withdrawal_rows_only() -> None:
    ledger = ConsentLedger()
    keep = ledger.row_filter(EVENTS_TABLE.columns)
    cid, ts = EVENTS_TABLE.columns.index("consent_id"), EVENTS_TABLE.columns.index("ts")

    def row(consent_id: uuid.UUID, seconds: float) -> list[object]:
        values: list[object] = [None] * len(EVENTS_TABLE.columns)
        values[cid], values[ts] = consent_id, at(seconds)
        return values

    other = uuid.UUID(int=8)
    rows = [row(CID, T0 - 5), row(CID, T0 + 5), row(other, T0 + 5)]
    assert keep(rows) is None  # nothing known: kept as is, no copy
    ledger.record(CID, T0, analytics=False)
    assert keep(rows) == [rows[0], rows[2]]
    ledger.record(CID, T0 + 20, analytics=False, erased_at=T0 + 20.5)
    assert keep(rows) == [rows[2]]
    assert ledger.row_filter(("site_id", "ts")) is None


def test_entries_older_than_any_cookie_are_pruned() -> None:
    ledger = ConsentLedger()
    ledger.record(CID, T0, analytics=False)
    assert ledger.prune(T0 + HORIZON_SECONDS - 1) == 0
    assert ledger.prune(T0 + HORIZON_SECONDS + 1) == 1 and len(ledger) == 0


def test_accepted_hits_are_remembered_with_their_visitor_for_two_rotations_at_most() -> None:
    ledger = ConsentLedger()
    ledger.accepted(cookie(T0), T0)
    assert ledger.accepted_since(CID, T0 - 1) == 42 and ledger.accepted_since(CID, T0 + 1) is None
    ledger.rotate(T0 + SEEN_SECONDS)
    assert ledger.accepted_since(CID, T0 - 1) == 42  # the previous generation still answers
    ledger.rotate(T0 + 2 * SEEN_SECONDS)
    assert ledger.accepted_since(CID, 0) is None


def test_a_newer_grant_cookie_than_the_ledger_knows_is_learnt_so_its_rows_are_kept() -> None:
    # Another instance withdrew (learnt here) and then granted again (its log row not yet here): the
    # new grant's cookie is ours and newer, so its hits must not be dropped as rows of the withdrawal.
    ledger = ConsentLedger()
    ledger.record(CID, T0, analytics=False)
    regrant = cookie(T0 + 3)
    assert not ledger.superseded(regrant)
    assert ledger.keeps(CID, at(T0 + 4)) and ledger.superseded(cookie(T0 - 1))
    assert ledger.record(CID, T0 + 3, analytics=True) is None  # its log row, arriving later
