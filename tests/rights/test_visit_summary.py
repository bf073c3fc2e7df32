"""Visitors' rights reach the dashboards' visit summary: an erased visitor's visits are gone from it
at once (not at the next build), and so are those reaching into a withdrawal's window; the dashboards
then answer as if cutting every visit anew (the part of a visit before the withdrawal it interrupted
comes back at the next run)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from gateway.rights import audit
from gateway.rights.ledger import Change, ConsentLedger
from gateway.rights.service import Rights
from gateway.rights.sync import purge
from gateway.stats.overview import figures
from gateway.stats.query import CUSTOM, Summary
from gateway.stats.reports import breakdown
from gateway.stats.summary import current_builds
from gateway.stats.summary_build import build_all, last_closed
from gateway.stats.visits import DEFAULT_TIMEOUT
from gateway.storage.clickhouse import Database
from tests.conftest import SettingsFactory
from tests.stats.data import SHOP, ZONE, at, hit, load
from tests.stats.test_summary import DAY, build, consent_of, kept, query, random_hits
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


def test_a_withdrawal_takes_every_visit_reaching_into_its_window_out_at_once(db: Database) -> None:
    # One visitor's visits on four closed days: before the withdrawal, one it interrupts, one after
    # it, and one after the grant given again; among others' visits.
    last = last_closed(ZONE, MOMENT.instant)
    before, interrupted, inside, regranted = last - 3 * DAY, last - 2 * DAY, last - DAY, last
    me = 900
    mine = [hit(me, at(day, 10, minutes), path=path, consent_id=consent_of(me))
            for day in (before, interrupted, inside, regranted) for minutes, path in ((0, "/a"), (20, "/b"))]
    load(db, [*random_hits(seed=23, visitors=20), *mine])
    summary = build(db)
    ledger = ConsentLedger()
    ledger.record(consent_of(me), int(at(regranted, 9).timestamp()), analytics=True)

    withdrawn = at(interrupted, 10, 10).timestamp()
    purge(db, ledger, Change(consent_of(me), restricted_at=withdrawn, erased_at=0.0))
    # At once: the visit inside the window, and the interrupted one whole (its later hit was withdrawn).
    assert visits_by_day(db, me) == {before: 1, regranted: 1}
    # Without a rebuild, the day of the visit inside the window answers as cutting anew (its figures;
    # their previous period is the interrupted day)...
    assert values(db, days(inside, inside), summary) == values(db, days(inside, inside), None)
    # ... the interrupted day counts one visit too few until it is rebuilt at the next run (its
    # fingerprint changed with the deleted hit, as did the other day's), never the withdrawn page.
    stale = breakdown(db, query(days(interrupted, interrupted), summary), "pages", limit=100)["rows"]
    truth = breakdown(db, query(days(interrupted, interrupted), None), "pages", limit=100)["rows"]
    assert {r["page"] for r in truth if r["page"] in ("/a", "/b")} >= {"/a"}
    assert sum(r["pageviews"] for r in stale) == sum(r["pageviews"] for r in truth) - 1  # my /a
    done = build_all(db, [SHOP], MOMENT.instant, DEFAULT_TIMEOUT, kept)
    assert done["built"] == 2 and not done["failed"]
    rebuilt = current_builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT)
    assert rebuilt is not None and rebuilt != summary
    period = days(before, regranted)
    assert figures(db, query(period, rebuilt)) == figures(db, query(period, None))
    assert (breakdown(db, query(period, rebuilt), "exit_pages", limit=100)
            == breakdown(db, query(period, None), "exit_pages", limit=100))
    assert visits_by_day(db, me) == {before: 1, interrupted: 1, regranted: 1}


def visits_by_day(db: Database, visitor: int) -> dict[dt.date, int]:
    """The visitor's visits in the summary's current builds, per day."""
    current = current_builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT)
    assert current is not None
    rows = db.query("SELECT day, count() FROM visits WHERE consent_id = {c:UUID} AND build IN "
                    "{b:Array(UInt64)} GROUP BY day", {"c": consent_of(visitor), "b": list(current.builds)})
    return {day: int(n) for day, n in rows}


def days(first: dt.date, last: dt.date) -> list[tuple[str, str]]:
    return [("period", CUSTOM), ("from", first.isoformat()), ("to", last.isoformat())]


def values(db: Database, period: list[tuple[str, str]], summary: Summary | None) -> dict[str, Any]:
    return {name: figure["value"] for name, figure in figures(db, query(period, summary)).items()}
