"""Rows past their site's retention are in no report, whether or not ClickHouse has deleted them yet.

Three guards keep them out (``gateway/rights/retention.py``): the reports' own lower bound on ``ts``
(``kept_from``, the site's current retention), the hourly sweep, and ClickHouse's TTL. The first is
tested here on rows the other two have not touched: they carry ``FIXTURE_RETENTION_DAYS`` (the TTL
will not take them; "the merge has not run yet") and no sweep runs. The last test shows the TTL on
its own, on ClickHouse's real clock, with no bound at all.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.config.sites import MAX_RETENTION_DAYS, Site
from gateway.rights.retention import oldest_kept
from gateway.stats.consent import consent_stats
from gateway.stats.overview import figures
from gateway.stats.query import StatsQuery, parse_query
from gateway.stats.realtime import realtime
from gateway.stats.reports import REPORTS, breakdown
from gateway.stats.timeseries import timeseries
from gateway.storage.clickhouse import Database, connect
from gateway.storage.schema import EVENTS_TABLE
from tests.stats.data import GONE, ZONE, consent_row, expired_rows, hit, insert_consents, load
from tests.support.clock import FIXTURE_RETENTION_DAYS, MOMENT, local_time

TTL_CEILING = 120.0  # seconds; the merge usually comes within a second
RETENTION = 30  # the site's, in the tests of the bound


def every_report(db: Database, q: StatsQuery) -> dict[str, Any]:
    out: dict[str, Any] = {"figures": figures(db, q), "timeseries": timeseries(db, q)}
    for name in REPORTS:
        out[name] = breakdown(db, q, name, limit=1000)["rows"]
    return out


@pytest.fixture
def new_db(chdb_path: Path) -> Iterator[Callable[[], Database]]:
    made: list[tuple[Database, str]] = []

    def make() -> Database:
        name = f"retention_{uuid.uuid4().hex[:12]}"
        made.append((connect(f"chdb://{chdb_path}?database={name}"), name))
        return made[-1][0]

    yield make
    for database, name in made:
        database.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")
        database.close()


def queries(today: dt.date, kept_from: dt.datetime) -> list[StatsQuery]:
    """Ranges reaching past the bound, with hit and visit filters on the expired rows, and a 30-day
    range whose previous period (the comparisons) holds them."""
    span = {"period": "custom", "from": (today - dt.timedelta(days=120)).isoformat(), "to": today.isoformat()}
    return [parse_query(params, 1, ZONE, today, kept_from=kept_from)
            for params in (span, {**span, "city": "Atlantis"}, {**span, "page": "/expired"},
                           {"period": "30d"})]


@pytest.mark.dated
def test_a_row_past_the_sites_retention_is_in_no_report_before_any_ttl_merge(
        new_db: Callable[[], Database]) -> None:
    site = Site(id=1, name="Shop", origins=(), timezone=ZONE, retention_days=RETENTION)
    now, today = MOMENT.instant, MOMENT.today
    kept_from = oldest_kept(site, now)
    # Expired yesterday (31 days old: its 30 days ran out yesterday), long ago, and the last instant
    # before the bound; each stored with years of retention, as if the TTL merge had not run.
    ages = (RETENTION + 1, 100)
    stored, fresh_only = new_db(), new_db()
    load(stored, expired_rows(today, FIXTURE_RETENTION_DAYS, ages))
    load(fresh_only, expired_rows(today, FIXTURE_RETENTION_DAYS, ages)[:2])
    edge = hit(9, kept_from - dt.timedelta(milliseconds=1), path="/expired", **GONE)
    load(stored, [edge])

    for q in queries(today, kept_from):
        assert every_report(stored, q) == every_report(fresh_only, q), q.params()
    # Unbounded, the same rows show in every report: the comparison above is not empty.
    keep_all = oldest_kept(Site(id=1, name="Shop", origins=(), timezone=ZONE,
                                retention_days=MAX_RETENTION_DAYS), now)
    q = queries(today, keep_all)[0]
    with_all, without = every_report(stored, q), every_report(fresh_only, q)
    assert with_all["figures"]["visitors"]["value"] == 4 and without["figures"]["visitors"]["value"] == 1
    assert [name for name in REPORTS if with_all[name] == without[name]] == []
    # The previous period of "30d" holds the row that expired yesterday, and the one just before the
    # bound unless a summer-time change moved the bound past the period's first midnight.
    last_30 = queries(today, kept_from)[3]
    before_bound = int(edge[EVENTS_TABLE.columns.index("ts")] < last_30.range.bounds()[0])
    assert figures(stored, queries(today, keep_all)[3])["visitors"]["previous"] == 1 + before_bound
    assert figures(stored, last_30)["visitors"]["previous"] == 0


@pytest.mark.dated
def test_the_bound_is_the_sites_current_retention_not_the_rows(new_db: Callable[[], Database]) -> None:
    # Rows written under a 10-year retention; the site now keeps 30 days: reports follow at once.
    db = load(new_db(), expired_rows(MOMENT.today, FIXTURE_RETENTION_DAYS, (RETENTION + 1,)))
    span = {"period": "custom", "from": (MOMENT.today - dt.timedelta(days=60)).isoformat(),
            "to": MOMENT.today.isoformat()}

    def visitors(retention: int) -> int:
        site = Site(id=1, name="Shop", origins=(), timezone=ZONE, retention_days=retention)
        q = parse_query(span, 1, ZONE, MOMENT.today, kept_from=oldest_kept(site, MOMENT.instant))
        return int(figures(db, q)["visitors"]["value"] or 0)

    assert (visitors(395), visitors(RETENTION + 2), visitors(RETENTION), visitors(1)) == (2, 2, 1, 0)


def test_realtime_reads_nothing_before_the_bound(new_db: Callable[[], Database]) -> None:
    now = MOMENT.instant
    db = load(new_db(), [hit(1, now - dt.timedelta(minutes=20), path="/a"),
                         hit(2, now - dt.timedelta(minutes=5), path="/b")])
    assert realtime(db, 1, now, kept_from=now - dt.timedelta(days=1))["visitors"] == 2
    # Just after midnight with one day's retention, the window starts at midnight.
    live = realtime(db, 1, now, kept_from=now - dt.timedelta(minutes=10))
    assert (live["visitors"], live["pages"]) == (1, [{"page": "/b", "visitors": 1}])
    assert len(live["minutes"]) == 30 and sum(live["minutes"]) == 1


def test_consent_statistics_are_proof_and_keep_to_the_proof_period(new_db: Callable[[], Database]) -> None:
    # Decisions are counted from the consent log, which follows proof_days, not retention_days: a
    # short analytics retention does not empty the consent page.
    db = new_db()
    old = local_time(ZONE, MOMENT.today - dt.timedelta(days=RETENTION + 5), 12)
    insert_consents(db, [consent_row(old, "grant", ["necessary", "analytics"])])
    site = Site(id=1, name="Shop", origins=(), timezone=ZONE, retention_days=RETENTION)
    span = {"period": "custom", "from": (MOMENT.today - dt.timedelta(days=60)).isoformat(),
            "to": MOMENT.today.isoformat()}
    q = parse_query(span, 1, ZONE, MOMENT.today, kept_from=oldest_kept(site, MOMENT.instant))
    assert sum(consent_stats(db, q, site)["totals"].values()) == 1


def test_the_ttl_deletes_rows_past_their_stored_retention_on_its_own(new_db: Callable[[], Database]) -> None:
    """The third guard, with the bound left wide open: ClickHouse's TTL, on its real clock, deletes
    rows whose stored retention has run out, in a background merge that comes within a second of the
    write on a fresh table (hours later on a busy server, which is why the reports do not wait)."""
    today = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(ZONE)).date()  # the TTL's clock, in the shop
    expired, fresh_only = new_db(), new_db()
    load(expired, expired_rows(today, expired_retention=1))  # 3 and 100 days old, kept for 1 day
    load(fresh_only, expired_rows(today, expired_retention=1)[:2])

    deadline = time.monotonic() + TTL_CEILING
    while expired.query("SELECT count() FROM events WHERE retention_days = 1")[0][0]:
        assert time.monotonic() < deadline, f"ClickHouse kept expired rows for {TTL_CEILING:.0f} s"
        time.sleep(0.1)

    wide_open = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    for q in queries(today, wide_open):
        assert every_report(expired, q) == every_report(fresh_only, q), q.params()
