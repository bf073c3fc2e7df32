"""Rows past their retention are in no report: the one stats test that writes expired rows on purpose.

Every other fixture gives its rows ``FIXTURE_RETENTION_DAYS`` so that ClickHouse's TTL never takes
them; this test shows what the TTL is for. It runs on ClickHouse's real clock, not the run's moment,
because that is the clock the TTL reads. The reports do not filter on retention themselves: they
rely on ClickHouse deleting expired rows in a background TTL merge, which comes within a second of
the write on a fresh table, so the test waits for it (with a generous ceiling) before it compares.
On a busy server later merges can lag by hours (``merge_with_ttl_timeout``); a query-time filter
would close that gap, and this test would then stop waiting.
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

from gateway.stats.overview import figures
from gateway.stats.query import StatsQuery, parse_query
from gateway.stats.reports import REPORTS, breakdown
from gateway.stats.timeseries import timeseries
from gateway.storage.clickhouse import Database, connect
from tests.stats.data import GOOGLE, SPRING, ZONE, hit, load
from tests.support.clock import FIXTURE_RETENTION_DAYS, local_time

TTL_CEILING = 120.0  # seconds; the merge usually comes within a second
GONE: dict[str, Any] = dict(
    country_code="AQ", subdivision_name="Nowhere", city_name="Atlantis", browser_name="Gone",
    browser_version="1", os_name="GoneOS", os_version="1", device_type="console", screen_width=1,
    screen_height=1, language="la")


def rows(today: dt.date, expired_retention: int) -> list[tuple[Any, ...]]:
    """Visitor 1 yesterday, kept; visitors 2 and 3 three and a hundred days ago, with
    ``expired_retention`` days of retention, touching every report."""
    def day(n: int, hh: int, mm: float = 0) -> dt.datetime:
        return local_time(ZONE, today - dt.timedelta(days=n), hh, mm)

    keep: dict[str, Any] = {"retention_days": FIXTURE_RETENTION_DAYS}
    drop: dict[str, Any] = {"retention_days": expired_retention, **GONE}
    return [
        hit(1, day(1, 10), path="/kept", **GOOGLE, **keep),
        hit(1, day(1, 10, 2), path="/kept/too", **keep),
        *(
            row
            for visitor, n in ((2, 3), (3, 100))
            for row in (
                hit(visitor, day(n, 10), path="/expired", **SPRING, **drop),
                hit(visitor, day(n, 10, 1), "event", path="/expired", event_category="gone",
                    event_action="gone", event_name="gone", **drop),
                hit(visitor, day(n, 10, 2), "site_search", path="/expired", search_keyword="gone", **drop),
                hit(visitor, day(n, 10, 3), "outlink", link_url="https://gone.example/", **drop),
                hit(visitor, day(n, 10, 4), "download", link_url="https://gone.example/a.pdf", **drop),
            )
        ),
    ]


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
        database.command(f"DROP DATABASE IF EXISTS `{name}`")
        database.close()


def test_rows_past_their_retention_are_gone_from_every_report(new_db: Callable[[], Database]) -> None:
    today = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(ZONE)).date()  # the TTL's clock, in the shop
    expired, kept, fresh_only = new_db(), new_db(), new_db()
    load(expired, rows(today, expired_retention=1))  # 3 and 100 days old, kept for 1 day: past retention
    load(kept, rows(today, expired_retention=FIXTURE_RETENTION_DAYS))  # the same rows, kept for years
    load(fresh_only, rows(today, expired_retention=1)[:2])  # what the reports should show: visitor 1

    deadline = time.monotonic() + TTL_CEILING
    while expired.query("SELECT count() FROM events WHERE retention_days = 1")[0][0]:
        assert time.monotonic() < deadline, f"ClickHouse kept expired rows for {TTL_CEILING:.0f} s"
        time.sleep(0.1)

    span = {"period": "custom", "from": (today - dt.timedelta(days=120)).isoformat(), "to": today.isoformat()}
    for params in (span, {**span, "city": "Atlantis"}, {**span, "page": "/expired"}, {"period": "7d"}):
        q = parse_query(params, 1, ZONE, today)
        assert every_report(expired, q) == every_report(fresh_only, q), params
    # Had they been kept, they would show in every report: the comparison above is not empty.
    q = parse_query(span, 1, ZONE, today)
    with_kept, without = every_report(kept, q), every_report(fresh_only, q)
    assert with_kept["figures"]["visitors"]["value"] == 3 and without["figures"]["visitors"]["value"] == 1
    assert [name for name in REPORTS if with_kept[name] == without[name]] == []
