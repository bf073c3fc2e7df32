"""The visit summary's builder as an operator meets it: a gateway stopped mid-build logs no error and
counts no failure; a day whose build fails leaves the other days built and is tried again an hour
later, not at every run; rows of a build another process has not registered yet are kept until a day
old and behind a registered build of their day (or a week old); a newer version's builds are left
alone; runs are spread around their 10 minutes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.monitoring.counters import Metrics
from gateway.stats.engine import Params
from gateway.stats.overview import figures
from gateway.stats.query import CUSTOM, DateRange, StatsQuery
from gateway.stats.summary import FORMULA, build_sql, builds, current_builds, fingerprints, midnight
from gateway.stats.summary_build import (
    BUILD_EVERY,
    RETRY_FAILED,
    Failures,
    SummaryBuilder,
    build_all,
    build_day,
    delete_leftovers,
    last_closed,
    new_build_id,
    register,
    wall_clock,
)
from gateway.stats.visits import DEFAULT_TIMEOUT
from gateway.storage.clickhouse import Database
from tests.conftest import SettingsFactory
from tests.stats.data import SHOP, TODAY, ZONE, at, hit, load
from tests.stats.test_summary import DAY, consent_of, kept, query, random_hits
from tests.support.clock import MOMENT

pytestmark = pytest.mark.dated  # which days are closed depends on the moment

NEWEST = last_closed(ZONE, MOMENT.instant)
SITE_TOML = f"""
[[sites]]
id = 1
name = "Shop"
origins = ["https://shop.example"]
timezone = "{ZONE}"
token = "site-1-token-0123456789abcdefgh"
"""


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def visits_of_build(db: Database, build: int) -> int:
    return int(db.query("SELECT count() FROM visits WHERE build = {b:UInt64}", {"b": build})[0][0])


def settled(db: Database) -> None:
    """Wait for the builder's asynchronous deletes."""
    deadline = time.monotonic() + 60
    running = "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND NOT is_done"
    while db.query(running)[0][0]:
        assert time.monotonic() < deadline, "mutations still running"
        time.sleep(0.05)


@pytest.fixture
def gateway(make_settings: SettingsFactory, clickhouse_url: str, city_db: Path) -> Starlette:
    """A gateway serving the shop, its clock at the run's moment; created here, before the test's
    log capture starts (the app configures logging)."""
    app = create_app(make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url,
                                    "GATEWAY_GEOIP_CITY_DB": str(city_db)}, SITE_TOML))
    app.state.clock = lambda: MOMENT.instant
    return app


def test_stopping_the_gateway_during_a_build_logs_no_error_and_counts_no_failure(
        gateway: Starlette, db: Database, caplog: pytest.LogCaptureFixture) -> None:
    # A hit on each of 150 days: a run builds them one by one, for seconds, and the gateway stops
    # as soon as the first day is registered.
    load(db, [hit(1, at(NEWEST - n * DAY, 12), path="/") for n in range(150)])
    with TestClient(gateway, base_url="http://127.0.0.1"):
        deadline = time.monotonic() + 60
        while not db.query("SELECT count() FROM visit_builds")[0][0]:
            assert time.monotonic() < deadline, "no build at start"
            time.sleep(0.01)
    registered = int(db.query("SELECT count() FROM visit_builds")[0][0])
    assert 0 < registered < 150  # stopped mid-run
    assert errors(caplog) == []
    assert "failed" not in gateway.state.metrics.snapshot().get("visit_summary", {})
    # Stopped: nothing is built any more.
    time.sleep(0.5)
    assert db.query("SELECT count() FROM visit_builds")[0][0] == registered


def test_a_stop_asked_during_a_statement_sends_no_further_one(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    load(db, random_hits(seed=31, visitors=20))
    stop, sent = threading.Event(), []

    class Stopping:
        """The database, with the stop asked while the first build's insert runs."""

        def __getattr__(self, name: str) -> Any:
            return getattr(db, name)

        def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
            sent.append(sql)
            if sql.startswith("INSERT INTO visits"):
                stop.set()
            return db.command(sql, parameters)

        def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
            sent.append(sql)
            return db.query(sql, parameters)

        def insert(self, table: str, *args: Any) -> None:
            sent.append(f"INSERT INTO {table}")
            db.insert(table, *args)

    done = build_all(Stopping(), [SHOP], MOMENT.instant, DEFAULT_TIMEOUT, kept, stopped=stop.is_set)
    assert sent[-1].startswith("INSERT INTO visits")  # the statement under way ends; none follows
    assert not done["failed"] and errors(caplog) == []
    assert current_builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT) is None  # its rows: a leftover, never read


def test_a_day_whose_build_fails_is_logged_the_other_days_are_built_and_it_waits_an_hour(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    load(db, [*random_hits(seed=32, visitors=30), hit(1, at(NEWEST, 12), path="/")])
    # The newest closed day's insert is refused (a constraint on this database): it would block every
    # older day if a failed day ended the site's run.
    db.command(f"ALTER TABLE visits ADD CONSTRAINT failing_day CHECK day != toDate('{NEWEST.isoformat()}')")
    hour = [0.0]
    failures = Failures(clock=lambda: hour[0])

    def run() -> dict[str, int]:
        caplog.clear()
        done = build_all(db, [SHOP], MOMENT.instant, DEFAULT_TIMEOUT, kept, failures=failures)
        return {reason: n for reason, n in done.items() if n}

    done = run()
    assert done["failed"] == 1 and done["built"] >= 5
    [line] = errors(caplog)
    assert f"site 1, day {NEWEST} failed" in line and "failing_day" in line
    current, _ = builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT)
    with_hits = set(fingerprints(db, SHOP.id, ZONE, NEWEST - 20 * DAY, NEWEST))
    assert with_hits - set(current) == {NEWEST}
    assert db.query("SELECT count() FROM visits WHERE day = {d:Date}", {"d": NEWEST})[0][0] == 0
    # Dashboards read the older days from the summary and cut the failed one at query time.
    summary = current_builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT)
    assert summary is not None and summary.last == NEWEST - DAY
    period = [("period", CUSTOM), ("from", (NEWEST - 6 * DAY).isoformat()), ("to", TODAY.isoformat())]
    assert figures(db, query(period, summary)) == figures(db, query(period, None))

    # The next runs within the hour leave it alone: no failure, no line.
    hour[0] = RETRY_FAILED - 1
    assert run() == {} and errors(caplog) == []
    # An hour after, with the cause gone, it is built.
    db.command("ALTER TABLE visits DROP CONSTRAINT failing_day")
    hour[0] = RETRY_FAILED
    assert run() == {"built": 1} and errors(caplog) == []
    summary = current_builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT)
    assert summary is not None and summary.last == NEWEST


def test_days_failing_in_a_row_or_clickhouse_gone_end_the_sites_run_and_hold_no_day_back(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    newest = [NEWEST - n * DAY for n in range(3)]
    load(db, [*random_hits(seed=33, visitors=30), *(hit(1, at(day, 12), path="/") for day in newest)])
    failures = Failures()
    # ClickHouse gone after the first day's insert: one line for the site, no day held back.
    sent: list[str] = []

    class Gone:
        def __getattr__(self, name: str) -> Any:
            return getattr(db, name)

        def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
            if any(s.startswith("INSERT INTO visits") for s in sent):
                raise ConnectionRefusedError("[Errno 111] Connection refused")
            sent.append(sql)
            return db.command(sql, parameters)

        def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
            return Gone.command(self, sql, parameters) if sent else db.query(sql, parameters)

    done = build_all(Gone(), [SHOP], MOMENT.instant, DEFAULT_TIMEOUT, kept, failures=failures)
    assert done["failed"] == 1
    assert [line.split(":")[1] for line in errors(caplog)] == [" site 1 failed"]
    # Inserts refused on every day (as without the grant): three lines, then the site's run ends.
    days = ", ".join(f"toDate('{day.isoformat()}')" for day in newest)
    db.command(f"ALTER TABLE visits ADD CONSTRAINT failing_days CHECK day NOT IN ({days})")
    caplog.clear()
    done = build_all(db, [SHOP], MOMENT.instant, DEFAULT_TIMEOUT, kept, failures=failures)
    assert done["failed"] == 3 and not done["built"]
    assert len(errors(caplog)) == 4 and "3 days failed in a row" in errors(caplog)[-1]
    # The next run goes past them (held back for an hour) to the older days.
    caplog.clear()
    done = build_all(db, [SHOP], MOMENT.instant, DEFAULT_TIMEOUT, kept, failures=failures)
    assert done["built"] >= 5 and not done["failed"] and errors(caplog) == []


def unregistered(db: Database, day: dt.date, age: dt.timedelta) -> tuple[int, tuple[int, int], int]:
    """Insert ``day``'s visits as another process's build made ``age`` ago and not registered yet;
    its number, the day's fingerprint and its visits."""
    build = new_build_id(wall_clock() - age)
    q = StatsQuery(SHOP.id, DateRange(day, day, ZONE, CUSTOM), (), DEFAULT_TIMEOUT,
                   kept_from=midnight(day, ZONE))
    p = Params()
    db.command(build_sql(q, p, build, SHOP.retention_days), p.values)
    visits = visits_of_build(db, build)
    assert visits > 0
    return build, fingerprints(db, SHOP.id, ZONE, day, day)[day], visits


def test_a_build_another_process_has_not_registered_yet_keeps_its_rows(db: Database) -> None:
    day = NEWEST - DAY
    load(db, [hit(v, at(d, h), path=f"/p{h}", consent_id=consent_of(v)) for v in (1, 2, 3)
              for d in (day, day - DAY, day - 2 * DAY) for h in (9, 15)])
    # A long build of ``day`` under way for two hours in another process: nothing newer of that day.
    slow, prints, visits = unregistered(db, day, dt.timedelta(hours=2))
    # Builds of a process that stopped two days ago: of a day built since (deleted), of a day never
    # built since (kept: it is the only one of its day).
    behind, *_ = unregistered(db, day - DAY, dt.timedelta(days=2))
    assert build_day(db, SHOP, day - DAY, DEFAULT_TIMEOUT) is not None
    alone, *_ = unregistered(db, day - 2 * DAY, dt.timedelta(days=2))
    # Behind the registered build but made two hours ago: maybe still under way (kept). A week old
    # and unregistered: abandoned, though no registered build of its day is newer (deleted).
    young, *_ = unregistered(db, day - DAY, dt.timedelta(hours=2))
    abandoned, *_ = unregistered(db, day - 2 * DAY, dt.timedelta(days=8))
    # Registered by a newer version of the gateway (a formula this one does not know), two hours ago:
    # while an upgrade rolls out, this process leaves it alone.
    upgraded = new_build_id(wall_clock() - dt.timedelta(hours=2))
    db.insert("visit_builds", [(SHOP.id, day - 3 * DAY, upgraded, ZONE, DEFAULT_TIMEOUT, FORMULA + 1, 0, 0, 0,
                                wall_clock() - dt.timedelta(hours=2))],
              ("site_id", "day", "build", "timezone", "timeout", "formula", "events", "fingerprint", "visits",
               "built_at"))

    deleted = delete_leftovers(db, SHOP, DEFAULT_TIMEOUT)
    settled(db)
    assert visits_of_build(db, slow) == visits and visits_of_build(db, alone) > 0
    assert visits_of_build(db, young) > 0
    assert visits_of_build(db, behind) == 0 and visits_of_build(db, abandoned) == 0 and deleted == 2
    assert builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT)[1][-1].build == upgraded  # still registered
    # The slow build is registered at last: the dashboards read the whole day from it.
    register(db, SHOP, DEFAULT_TIMEOUT, [(day, slow, prints, visits)],
             dt.datetime.fromtimestamp((slow >> 20) / 1000, dt.UTC))
    summary = current_builds(db, SHOP.id, ZONE, DEFAULT_TIMEOUT)
    assert summary is not None and slow in summary.builds
    period = [("period", CUSTOM), ("from", (day - DAY).isoformat()), ("to", day.isoformat())]
    assert figures(db, query(period, summary)) == figures(db, query(period, None))
    assert figures(db, query(period, None))["visits"]["value"] == 12  # 3 visitors, 2 visits a day


def test_the_runs_of_processes_started_together_drift_apart() -> None:
    builder = SummaryBuilder(None, [], lambda: MOMENT.instant, DEFAULT_TIMEOUT, kept, Metrics().count)
    pauses = [builder.pause() for _ in range(200)]
    assert all(BUILD_EVERY * 0.9 <= p <= BUILD_EVERY * 1.1 for p in pauses)
    assert max(pauses) - min(pauses) > BUILD_EVERY * 0.1
