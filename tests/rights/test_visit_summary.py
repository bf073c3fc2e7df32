"""Visitors' rights reach the dashboards' visit summary: an erased visitor's visits are gone from it
at once (not at the next build), and the dashboards then answer as if cutting every visit anew."""

from __future__ import annotations

import time

import pytest

from gateway.rights import audit
from gateway.rights.ledger import Change, ConsentLedger
from gateway.rights.service import Rights
from gateway.rights.sync import purge
from gateway.stats.overview import figures
from gateway.stats.query import CUSTOM
from gateway.stats.reports import breakdown
from gateway.stats.summary import current_builds
from gateway.stats.visits import DEFAULT_TIMEOUT
from gateway.storage.clickhouse import Database
from tests.conftest import SettingsFactory
from tests.stats.data import SHOP, ZONE, load
from tests.stats.test_summary import DAY, build, consent_of, query, random_hits
from tests.support.clock import MOMENT

pytestmark = pytest.mark.dated


def visits_of(db: Database, visitor: int) -> int:
    sql = "SELECT count() FROM visits WHERE consent_id = {c:UUID}"
    return int(db.query(sql, {"c": consent_of(visitor)})[0][0])


def busiest(db: Database) -> int:
    """The visitor with the most stored visits."""
    return int(db.query("SELECT visitor_id FROM visits GROUP BY visitor_id ORDER BY count() DESC, visitor_id "
                        "LIMIT 1")[0][0])


async def test_an_erasure_takes_the_visitors_visits_out_of_the_summary_at_once(
        db: Database, make_settings: SettingsFactory) -> None:
    load(db, random_hits(seed=21, visitors=25))
    summary = build(db)
    visitor = busiest(db)
    assert visits_of(db, visitor) > 0
    rights = Rights(make_settings(), db)
    now = time.time()
    refusal = await rights.refusal(SHOP, consent_of(visitor), now)
    await rights.erase(SHOP, [refusal], audit.Request(SHOP.id, "erase", consent_of(visitor), "cli"), now)
    assert visits_of(db, visitor) == 0
    # No rebuild: the same builds, read at once, agree with cutting the remaining hits anew.
    assert current_builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT) == summary
    period = [("period", CUSTOM), ("from", (summary.last - 20 * DAY).isoformat()),
              ("to", summary.last.isoformat())]
    assert figures(db, query(period, summary)) == figures(db, query(period, None))
    assert (breakdown(db, query(period, summary), "entry_pages", limit=100)
            == breakdown(db, query(period, None), "entry_pages", limit=100))


def test_an_erasure_completed_in_the_background_reaches_the_summary_too(db: Database) -> None:
    load(db, random_hits(seed=22, visitors=20))
    build(db)
    visitor = busiest(db)
    # Erased at the run's moment: every hit of the fixture is stamped before it.
    erased = MOMENT.instant.timestamp()
    purge(db, ConsentLedger(), Change(consent_of(visitor), restricted_at=0.0, erased_at=erased))
    assert visits_of(db, visitor) == 0
