"""Retention and proof periods: the bound every answer starts at, and the sweep that deletes the rest.

Rows are placed around the run's moment (``tests.support.clock``) and swept at that moment, but
ClickHouse's TTL keeps its real clock: a row the sweep retags to the site's retention must outlive
that TTL even when the moment lies ``EARLIEST_MOMENT`` back, hence ``RETENTION`` below.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config.sites import Site
from gateway.monitoring.counters import Metrics
from gateway.rights import retention
from gateway.rights.retention import STEPS, Sweeper, oldest_kept, sweep
from gateway.stats.reports import REPORTS
from gateway.stats.summary_build import build_all
from gateway.stats.visits import DEFAULT_TIMEOUT
from gateway.storage.clickhouse import Database
from gateway.storage.migrations import migrate
from gateway.storage.schema import RIGHTS_REQUESTS_TABLE
from tests.conftest import SettingsFactory
from tests.stats.data import ZONE, consent_row, expired_rows, hit, insert_consents, load
from tests.support.clock import EARLIEST_MOMENT, FIXTURE_RETENTION_DAYS, MOMENT
from tests.support.operator import OPERATOR_JSON

RETENTION = EARLIEST_MOMENT.days + 100  # rows up to 100 days before the moment outlive the real TTL
DAY = dt.timedelta(days=1)
NOW = MOMENT.instant


def shop(**fields: Any) -> Site:
    return Site(id=1, name="Shop", origins=(), timezone=ZONE, **fields)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(("zone", "now", "days", "kept_from"), [
    # Whole days in the site's zone, today counted: 30 days from local midnight 29 days back.
    ("Europe/Berlin", "2026-11-21T14:00", 30, "2026-10-22T22:00"),  # that midnight was summer time
    ("Europe/Berlin", "2026-11-21T14:00", 1, "2026-11-20T23:00"),  # today only
    ("UTC", "2026-11-21T00:00", 1, "2026-11-21T00:00"),
    ("Asia/Shanghai", "2026-12-31T16:30", 1, "2026-12-31T16:00"),  # 00:30 on New Year's Day there
    ("America/Los_Angeles", "2027-01-01T07:59", 1, "2026-12-31T08:00"),  # 23:59 on New Year's Eve
    # 23:30 on the day of 25 hours (the clocks went back at 03:00): a row of 00:15 that day expired
    # at 22:15 UTC by its 24 hours, so the bound is the instant, not the midnight.
    ("Europe/Berlin", "2026-10-25T22:30", 1, "2026-10-24T22:30"),
    ("Europe/Berlin", "2026-10-25T10:00", 1, "2026-10-24T22:00"),  # earlier that day: the midnight
])
def test_oldest_kept_starts_a_whole_local_day_and_never_after_the_ttl(
        zone: str, now: str, days: int, kept_from: str) -> None:
    site = Site(id=1, name="Shop", origins=(), timezone=zone, retention_days=days)
    assert oldest_kept(site, utc(now)) == utc(kept_from)
    # Whatever zone ``now`` is given in.
    assert oldest_kept(site, utc(now).astimezone(dt.timezone(dt.timedelta(hours=-5)))) == utc(kept_from)


def settled(db: Database, ceiling: float = 60.0) -> None:
    """Wait for the sweep's asynchronous mutations (lightweight deletes, the retag) to finish."""
    deadline = time.monotonic() + ceiling
    running = "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND NOT is_done"
    while db.query(running)[0][0]:
        assert time.monotonic() < deadline, f"mutations still running after {ceiling:.0f} s"
        time.sleep(0.05)


def mutations(db: Database) -> int:
    return int(db.query("SELECT count() FROM system.mutations WHERE database = currentDatabase()")[0][0])


def stored(db: Database, site: int = 1) -> list[tuple[int, int]]:
    """(age in whole days before the moment, stored retention) of the site's rows."""
    rows = db.query("SELECT ts, retention_days FROM events WHERE site_id = {site:UInt32} ORDER BY ts DESC",
                    {"site": site})
    return [((NOW - ts.replace(tzinfo=dt.UTC)).days, days) for ts, days in rows]


@pytest.mark.dated
def test_a_changed_retention_applies_to_rows_already_stored(db: Database) -> None:
    # Written under ten years' retention; at ages within, just past and far past the new one.
    ages = (1, 20, RETENTION + 1, RETENTION + 100)
    load(db, [hit(n, NOW - n * DAY - dt.timedelta(minutes=1), path="/") for n in ages])
    load(db, [hit(9, NOW - (RETENTION + 100) * DAY, path="/", site=2)])  # a site not swept here

    done = sweep(db, [shop(retention_days=RETENTION)], NOW)  # shortened, from 3,650 days
    settled(db)
    assert done.rows == {"events-expired": 2, "events-retagged": 2} and not done.failed
    assert stored(db) == [(1, RETENTION), (20, RETENTION)]  # and the TTL now applies RETENTION too
    assert stored(db, site=2) == [(RETENTION + 100, FIXTURE_RETENTION_DAYS)]

    done = sweep(db, [shop(retention_days=RETENTION + 50)], NOW)  # lengthened: saved from the TTL
    settled(db)
    assert done.rows == {"events-retagged": 2}
    assert stored(db) == [(1, RETENTION + 50), (20, RETENTION + 50)]

    # Done is done: another sweep, or another instance's at the same time, finds nothing to do and
    # queues no mutation.
    before = mutations(db)
    assert sweep(db, [shop(retention_days=RETENTION + 50)], NOW).rows == {}
    assert mutations(db) == before


@pytest.mark.dated
def test_the_sweep_takes_the_visit_summarys_days_past_retention_and_retags_the_rest(db: Database) -> None:
    ages = (3, 20, RETENTION + 5)
    load(db, [hit(n, NOW - n * DAY, path="/") for n in ages])
    built = build_all(db, [shop(retention_days=FIXTURE_RETENTION_DAYS)], NOW, DEFAULT_TIMEOUT, oldest_kept)
    assert built["built"] == 3
    done = sweep(db, [shop(retention_days=RETENTION)], NOW)
    settled(db)
    assert done.rows["visits-expired"] == 1 and done.rows["visits-retagged"] == 2
    assert done.rows["visit-builds-expired"] > FIXTURE_RETENTION_DAYS - RETENTION - 2
    left = db.query("SELECT visitor_id, retention_days FROM visits ORDER BY visitor_id")
    assert left == [(3, RETENTION), (20, RETENTION)]
    [(oldest,)] = db.query("SELECT min(day) FROM visit_builds")
    assert oldest >= (NOW - RETENTION * DAY).date() - DAY


def audit_row(ts: dt.datetime, site: int = 1) -> tuple[Any, ...]:
    row: dict[str, Any] = dict.fromkeys(RIGHTS_REQUESTS_TABLE.columns, "")
    row.update(request_id=uuid.uuid4(), site_id=site, ts=ts, kind="erase", subject="consent",
               consent_id=uuid.uuid4(), requested_by="visitor", events=3, decisions=1)
    return tuple(row[c] for c in RIGHTS_REQUESTS_TABLE.columns)


def with_id(row: tuple[Any, ...], consent_id: uuid.UUID) -> tuple[Any, ...]:
    return (consent_id, *row[1:])


@pytest.mark.dated
def test_proof_is_kept_for_its_period_after_a_consent_ids_last_decision(db: Database) -> None:
    site = shop()
    period = site.proof_days * DAY
    stale, renewed, recent, elsewhere = (uuid.uuid4() for _ in range(4))
    decisions = [
        (stale, NOW - period - 10 * DAY, 1), (stale, NOW - period - 5 * DAY, 1),  # last one past the period
        (renewed, NOW - period - 10 * DAY, 1), (renewed, NOW - 5 * DAY, 1),  # decided again lately
        (recent, NOW - 5 * DAY, 1),
        (elsewhere, NOW - period - 10 * DAY, 2),  # another site's, not swept here
    ]
    insert_consents(db, [with_id(consent_row(ts, "grant", ["necessary", "analytics"], site=s), cid)
                         for cid, ts, s in decisions])
    requests = [audit_row(NOW - period - DAY), audit_row(NOW - period + DAY),
                audit_row(NOW - period - DAY, 2)]
    db.insert("rights_requests", requests, list(RIGHTS_REQUESTS_TABLE.columns))

    done = sweep(db, [site], NOW)
    settled(db)
    assert done.rows == {"decisions-expired": 2, "requests-expired": 1} and not done.failed
    kept = db.query("SELECT consent_id, count() FROM consent_log GROUP BY consent_id")
    assert dict(kept) == {renewed: 2, recent: 1, elsewhere: 1}
    audit = db.query("SELECT site_id, ts FROM rights_requests ORDER BY site_id")
    assert [(s, ts.replace(tzinfo=dt.UTC)) for s, ts in audit] == [(1, requests[1][2]), (2, requests[2][2])]


class Down:
    """A ClickHouse that does not answer."""

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        raise ConnectionRefusedError("[Errno 111] Connection refused")


def test_a_sweep_never_raises_it_logs_a_line_per_failure(caplog: pytest.LogCaptureFixture) -> None:
    sites = [shop(), Site(id=2, name="Other", origins=())]
    with caplog.at_level(logging.ERROR, logger=retention.__name__):
        done = sweep(cast(Database, Down()), sites, NOW)
    assert done.failed == {step.name: 2 for step in STEPS} and done.rows == {}
    assert len(caplog.records) == len(STEPS) * 2
    assert "events-expired for site 1 failed: ConnectionRefusedError" in caplog.records[0].getMessage()


def test_a_step_cut_off_by_the_gateway_stopping_is_no_failure(db: Database,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    # The app closes the database while a sweep's statement runs: no error line, no failure counted.
    migrate(db)
    db.close()
    flags = iter([False])  # not stopping when the step starts, stopping once it failed

    with caplog.at_level(logging.ERROR, logger=retention.__name__):
        done = sweep(db, [shop()], NOW, stopped=lambda: next(flags, True))
    assert done.failed == {} and done.rows == {}
    assert caplog.records == []


async def test_the_sweeper_keeps_going_and_counts_what_failed() -> None:
    metrics, calls = Metrics(), []

    def clock() -> dt.datetime:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a clock that fails once")
        return NOW

    sweeper = Sweeper(cast(Database, Down()), [shop()], clock, metrics.count, every=0.01)
    sweeper.start()
    deadline = time.monotonic() + 10
    while sweeper.runs < 3:
        assert time.monotonic() < deadline, "the sweeper stopped"
        await asyncio.sleep(0.01)
    await sweeper.stop()
    runs = sweeper.runs
    await asyncio.sleep(0.05)
    assert sweeper.runs == runs  # stopped
    assert metrics.get("retention", "sweep-failed") == 1
    assert metrics.get("retention", "events-expired-failed") >= 2


SITES_TOML = """
[[sites]]
id = {id}
name = "Site {id}"
origins = ["https://site{id}.example"]
timezone = "{zone}"
retention_days = {days}
token = "site-{id}-token-0123456789abcdefgh"
"""


def sites_toml(*sites: tuple[int, int]) -> str:
    return "".join(SITES_TOML.format(id=site, zone=ZONE, days=days) for site, days in sites)


AppFor = Callable[[str], TestClient]  # a running gateway with these [[sites]]


@pytest.fixture
def app_for(make_settings: SettingsFactory, clickhouse_url: str, city_db: Path,
            db: Database) -> Iterator[AppFor]:
    clients: list[TestClient] = []

    def make(toml: str) -> TestClient:
        settings = make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url,
                                  "GATEWAY_GEOIP_CITY_DB": str(city_db)}, toml)
        app = create_app(settings)
        app.state.clock = lambda: NOW
        clients.append(TestClient(app, base_url="http://127.0.0.1").__enter__())
        return clients[-1]

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.mark.dated
def test_the_gateway_sweeps_at_start(app_for: AppFor, db: Database) -> None:
    migrate(db)
    load(db, [hit(1, NOW - DAY, path="/"), hit(2, NOW - (RETENTION + 5) * DAY, path="/")])
    client = app_for(sites_toml((1, RETENTION)))
    deadline = time.monotonic() + 30
    while client.get("/-/metrics", headers=OPERATOR_JSON).json()["counters"].get(
            "retention", {}).get("events-retagged") != 1:
        assert time.monotonic() < deadline, "no sweep at start"
        time.sleep(0.05)
    counters = client.get("/-/metrics", headers=OPERATOR_JSON).json()["counters"]["retention"]
    assert counters == {"sweeps": 1, "events-expired": 1, "events-retagged": 1}
    settled(db)
    assert stored(db) == [(1, RETENTION)]


def answers(client: TestClient, site: int) -> dict[str, Any]:
    """What the dashboard answers about ``site``: the overview, realtime and consent over the last 120
    days and over the last 30 (whose previous period holds the row that expired yesterday), and every
    report over the 120 days (a CSV too). The stats tests try filters on every report."""
    auth = {"Authorization": f"Bearer site-{site}-token-0123456789abcdefgh"}
    span = f"period=custom&from={MOMENT.today - 120 * DAY}&to={MOMENT.today}"
    paths = [f"/dashboard/{site}{page}?{params}" for page in (".json", "/realtime.json", "/consent.json")
             for params in (span, "period=30d")]
    paths += [f"/dashboard/{site}/reports/{name}.json?{span}" for name in REPORTS]
    paths += [f"/dashboard/{site}/reports/cities.csv?{span}"]
    out: dict[str, Any] = {}
    for path in paths:
        answer = client.get(path, headers=auth)
        assert answer.status_code == 200, (path, answer.text[:300])
        key = path.removeprefix(f"/dashboard/{site}")
        out[key] = answer.text if ".csv" in path else {k: v for k, v in answer.json().items() if k != "site"}
    return out


@pytest.mark.dated
def test_no_dashboard_answer_shows_a_row_past_the_sites_retention(
        app_for: AppFor, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # No sweep, and rows stored with ten years' retention: as if neither the sweep nor the TTL merge
    # had come yet. Site 1 keeps 30 days and has rows that expired yesterday and long ago; site 2 the
    # same rows and ten years; site 3 keeps 30 days and has only the kept rows.
    monkeypatch.setattr(retention, "STEPS", ())
    migrate(db)
    for site in (1, 2):
        load(db, expired_rows(MOMENT.today, FIXTURE_RETENTION_DAYS, (31, 100), site=site))
    load(db, expired_rows(MOMENT.today, FIXTURE_RETENTION_DAYS, site=3)[:2])
    client = app_for(sites_toml((1, 30), (2, FIXTURE_RETENTION_DAYS), (3, 30)))

    short, long_kept, kept_only = answers(client, 1), answers(client, 2), answers(client, 3)
    assert short == kept_only
    # Kept, the rows would show in the overview and in every report: the comparison is not empty.
    differ = {key.split("?")[0] for key in short if short[key] != long_kept[key]}
    assert differ >= {".json", *(f"/reports/{name}.json" for name in REPORTS)}
