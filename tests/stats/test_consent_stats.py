"""Consent statistics: decisions classified against the site's categories, per day, opt-in rate; decisions
made without asking counted apart; a grant its visitor never received not counted at all."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.config.consent import Category, ConsentPolicy
from gateway.config.sites import Site
from gateway.stats.consent import classify, consent_stats
from gateway.stats.query import parse_query
from gateway.storage.clickhouse import Database
from gateway.storage.schema import CONSENT_LOG_TABLE
from tests.stats.data import KEPT, TODAY, ZONE, at, bucket, consent_row, insert_consents

# Only ``test_consent_stats`` is ``dated`` (run at every hard moment too): the others place a few
# decisions within today and check how they are classified and left out, not where the day falls.
ALL = ["necessary", "analytics", "marketing"]
EVERY, REQUIRED = frozenset(ALL), frozenset({"necessary"})
NO_AUTOMATIC = {"gpc": 0, "dnt": 0, "regime": 0}
SOURCE = CONSENT_LOG_TABLE.columns.index("source")


def decided_by(row: tuple[Any, ...], source: str) -> tuple[Any, ...]:
    return (*row[:SOURCE], source, *row[SOURCE + 1:])


def test_classify() -> None:
    assert classify("grant", ALL, EVERY, REQUIRED) == "accept_all"
    assert classify("update", ["marketing", "analytics", "necessary"], EVERY, REQUIRED) == "accept_all"
    assert classify("refuse", [], EVERY, REQUIRED) == "reject_all"
    assert classify("grant", ["necessary"], EVERY, REQUIRED) == "reject_all"
    assert classify("grant", [], EVERY, REQUIRED) == "reject_all"
    assert classify("grant", ["necessary", "analytics"], EVERY, REQUIRED) == "custom"
    assert classify("withdraw", [], EVERY, REQUIRED) == "withdraw"


@pytest.mark.dated  # today by the hour, the last 7 days, the previous periods: run at the hard moments too
def test_consent_stats(db: Database) -> None:
    yesterday = TODAY - dt.timedelta(days=1)
    insert_consents(db, [
        consent_row(at(TODAY, 9), "grant", ALL),
        consent_row(at(TODAY, 9, 30), "refuse", []),
        consent_row(at(TODAY, 10), "grant", ["necessary"]),
        consent_row(at(TODAY, 10), "grant", ["necessary", "analytics"]),
        consent_row(at(TODAY, 14), "update", ["necessary", "marketing"]),
        consent_row(at(TODAY, 15), "withdraw", []),
        consent_row(at(yesterday, 12), "grant", ALL),
        consent_row(at(TODAY, 9), "grant", ALL, site=2),
    ])
    site = Site(id=1, name="Shop", origins=())
    result = consent_stats(db, parse_query({"period": "7d", "city": "Berlin"}, 1, ZONE, TODAY,
                                           kept_from=KEPT), site)
    assert result["unit"] == "day" and len(result["labels"]) == 7
    assert result["labels"][-1] == TODAY.isoformat()
    assert result["totals"] == {"accept_all": 2, "reject_all": 2, "custom": 2, "withdraw": 1}
    assert result["series"]["accept_all"] == [0, 0, 0, 0, 0, 1, 1]
    assert result["series"]["withdraw"] == [0, 0, 0, 0, 0, 0, 1]
    assert result["opt_in_rate"] == 50.0  # 3 of 6 decisions allow analytics
    assert result["automatic"] == NO_AUTOMATIC
    assert result["previous"] == {"totals": {"accept_all": 0, "reject_all": 0, "custom": 0, "withdraw": 0},
                                  "opt_in_rate": None, "automatic": NO_AUTOMATIC}
    today = consent_stats(db, parse_query({"period": "today"}, 1, ZONE, TODAY, kept_from=KEPT), site)
    assert today["unit"] == "hour"
    assert {h: n for h, n in enumerate(today["series"]["custom"]) if n} == {bucket(TODAY, 10): 1,
                                                                             bucket(TODAY, 14): 1}
    assert today["previous"] == {"totals": {"accept_all": 1, "reject_all": 0, "custom": 0, "withdraw": 0},
                                 "opt_in_rate": 100.0, "automatic": NO_AUTOMATIC}


def test_a_site_with_its_own_categories(db: Database) -> None:
    insert_consents(db, [consent_row(at(TODAY, 9), "grant", ["necessary", "stats"])])
    site = Site(id=1, name="Shop", origins=(),
                consent=ConsentPolicy(categories=(Category("necessary"), Category("stats"))))
    result = consent_stats(db, parse_query({"period": "today"}, 1, ZONE, TODAY, kept_from=KEPT), site)
    assert result["totals"]["accept_all"] == 1 and result["opt_in_rate"] == 0.0


def test_decisions_made_without_asking_are_counted_apart_and_leave_the_rate_alone(db: Database) -> None:
    asked = [consent_row(at(TODAY, 9), "grant", ALL), consent_row(at(TODAY, 9, 5), "refuse", [])]
    insert_consents(db, asked)
    site = Site(id=1, name="Shop", origins=())
    q = parse_query({"period": "today"}, 1, ZONE, TODAY, kept_from=KEPT)
    before = consent_stats(db, q, site)
    assert (before["opt_in_rate"], before["totals"]["reject_all"]) == (50.0, 1)
    # Browser signals and opt-out law, however often they repeat, are not what people chose.
    insert_consents(db, [decided_by(consent_row(at(TODAY, 10, n % 60), "refuse", ["necessary"]), "gpc")
                         for n in range(300)])
    insert_consents(db, [decided_by(consent_row(at(TODAY, 11), "grant", ["necessary", "analytics"]), source)
                         for source in ("regime", "regime", "dnt")])
    after = consent_stats(db, q, site)
    assert (after["opt_in_rate"], after["totals"], after["series"]) == (
        before["opt_in_rate"], before["totals"], before["series"])
    assert after["automatic"] == {"gpc": 300, "dnt": 1, "regime": 2}


def test_a_grant_answered_503_and_marked_undelivered_counts_for_nothing(db: Database) -> None:
    grant = consent_row(at(TODAY, 9), "grant", ALL)
    action = CONSENT_LOG_TABLE.columns.index("action")
    undelivered = (*grant[:action], "undelivered", *grant[action + 1:])
    insert_consents(db, [grant, undelivered, consent_row(at(TODAY, 9, 30), "refuse", [])])
    site = Site(id=1, name="Shop", origins=())
    result = consent_stats(db, parse_query({"period": "today"}, 1, ZONE, TODAY, kept_from=KEPT), site)
    assert result["totals"] == {"accept_all": 0, "reject_all": 1, "custom": 0, "withdraw": 0}
    assert result["opt_in_rate"] == 0.0 and sum(result["series"]["accept_all"]) == 0


def test_an_orphan_undelivered_row_and_a_grant_stored_twice_change_nothing(db: Database) -> None:
    action = CONSENT_LOG_TABLE.columns.index("action")
    grant, other = consent_row(at(TODAY, 9), "grant", ALL), consent_row(at(TODAY, 11), "grant", ALL)
    site = Site(id=1, name="Shop", origins=())
    q = parse_query({"period": "today"}, 1, ZONE, TODAY, kept_from=KEPT)
    insert_consents(db, [grant, (*grant[:action], "undelivered", *grant[action + 1:]),
                         consent_row(at(TODAY, 9, 30), "refuse", [])])
    before = consent_stats(db, q, site)
    # The grant stored twice (a retry not deduplicated), and a twin whose grant was never stored.
    insert_consents(db, [grant, (*other[:action], "undelivered", *other[action + 1:])])
    after = consent_stats(db, q, site)
    assert after["totals"] == before["totals"]
    assert after["totals"] == {"accept_all": 0, "reject_all": 1, "custom": 0, "withdraw": 0}
    assert (after["opt_in_rate"], after["series"]) == (0.0, before["series"])


def test_decisions_answered_cross_site_and_marked_undelivered_count_for_nothing(db: Database) -> None:
    """A page cross-site with the gateway asks on every page view: each refusal, withdrawal or default
    logged there has its ``undelivered`` twin too, and none of them counts, whichever its kind."""
    action = CONSENT_LOG_TABLE.columns.index("action")
    kept = consent_row(at(TODAY, 9), "grant", ALL)
    kinds = [("grant", ALL), ("refuse", []), ("withdraw", []), ("grant", ["necessary", "analytics"])]
    lost = [consent_row(at(TODAY, 10, n), kind, categories) for n, (kind, categories) in enumerate(kinds)]
    lost.append(decided_by(consent_row(at(TODAY, 11), "grant", ["necessary", "analytics"]), "regime"))
    insert_consents(db, [kept, *lost, *((*row[:action], "undelivered", *row[action + 1:]) for row in lost)])
    site = Site(id=1, name="Shop", origins=())
    result = consent_stats(db, parse_query({"period": "today"}, 1, ZONE, TODAY, kept_from=KEPT), site)
    assert result["totals"] == {"accept_all": 1, "reject_all": 0, "custom": 0, "withdraw": 0}
    assert (result["opt_in_rate"], result["automatic"]) == (100.0, NO_AUTOMATIC)
