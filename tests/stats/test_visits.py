"""Visits cut at query time, on a few hand-placed hits with hand-computed answers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from gateway.stats.visits import DEFAULT_TIMEOUT, VISITS
from gateway.storage.clickhouse import Database
from gateway.storage.migrations import migrate
from gateway.storage.schema import EVENTS_TABLE
from tests.support.clock import FIXTURE_RETENTION_DAYS, MOMENT

# Not ``dated``: ``VISITS`` reads a stretch of UTC instants and knows no local day, so the answers are
# the same at any moment (the dashboards' visits, cut at midnight: test_engine.py, which is dated).
T0 = MOMENT.at(MOMENT.today, 9)  # 09:00 on the run's day: rows on a fixed day would expire (TTL)
A, B, C = 11, 22, 33


def hit(visitor: int, minutes: float, kind: str = "pageview", path: str = "/", new_visit: int = 0,
        site: int = 1) -> tuple[Any, ...]:
    row: dict[str, Any] = dict.fromkeys(EVENTS_TABLE.columns, "")
    row.update(site_id=site, ts=T0 + dt.timedelta(minutes=minutes), visitor_id=visitor, new_visit=new_visit,
               event_type=kind, url_path=path, referrer_type="direct", screen_width=0, screen_height=0,
               event_value=None, search_count=None, goal_id=0, revenue=0.0, dimensions={},
               consent_id=uuid.uuid4(), retention_days=FIXTURE_RETENTION_DAYS)
    return tuple(row[c] for c in EVENTS_TABLE.columns)


HITS = [
    # A: a 10-minute visit of 3 pages, 40 minutes' pause, then a bounce on /contact.
    hit(A, 0, path="/"), hit(A, 4, path="/brakes"), hit(A, 10, path="/brakes/pads"),
    hit(A, 50, path="/contact"),
    # B: one page kept open by heartbeat pings for 6 minutes, then an event: one visit, no bounce.
    hit(B, 1, path="/catalogue"), hit(B, 3, "ping"), hit(B, 6, "ping"), hit(B, 7, "event"),
    # C: one page, then a campaign landing 2 minutes later forces a new visit (two bounces).
    hit(C, 0, path="/a"), hit(C, 2, path="/b", new_visit=1),
    # A tab left open: a ping after an hour's pause starts nothing.
    hit(C, 90, "ping"),
    # Another site's visitor is never counted.
    hit(A, 5, path="/elsewhere", site=2),
]


@pytest.fixture
def events(db: Database) -> Database:
    migrate(db)
    db.insert("events", HITS, list(EVENTS_TABLE.columns))
    return db


def visits(db: Database, timeout: int = DEFAULT_TIMEOUT, start_minutes: int = -60) -> list[dict[str, Any]]:
    sql = (f"SELECT visitor_id, duration, actions, pageviews, entry_page, exit_page, bounce FROM ({VISITS}) "
           "ORDER BY visitor_id, visit_start")
    result = db.query(sql, {"site": 1, "start": T0 + dt.timedelta(minutes=start_minutes),
                            "end": T0 + dt.timedelta(hours=3), "timeout_ms": timeout * 1000})
    names = ["visitor", "duration", "actions", "pageviews", "entry", "exit", "bounce"]
    return [dict(zip(names, row, strict=True)) for row in result]


def test_visits_are_cut_by_inactivity_and_forced_starts(events: Database) -> None:
    assert visits(events) == [
        {"visitor": A, "duration": 600, "actions": 3, "pageviews": 3, "entry": "/", "exit": "/brakes/pads",
         "bounce": 0},
        {"visitor": A, "duration": 0, "actions": 1, "pageviews": 1, "entry": "/contact", "exit": "/contact",
         "bounce": 1},
        {"visitor": B, "duration": 360, "actions": 2, "pageviews": 1, "entry": "/catalogue",
         "exit": "/catalogue", "bounce": 0},
        {"visitor": C, "duration": 0, "actions": 1, "pageviews": 1, "entry": "/a", "exit": "/a", "bounce": 1},
        {"visitor": C, "duration": 0, "actions": 1, "pageviews": 1, "entry": "/b", "exit": "/b", "bounce": 1},
    ]


def test_the_inactivity_window_is_a_parameter(events: Database) -> None:
    # With an hour's window, A's pause of 40 minutes no longer ends the visit.
    a = [v for v in visits(events, timeout=3600) if v["visitor"] == A]
    assert [(v["actions"], v["duration"], v["entry"], v["exit"]) for v in a] == [(4, 3000, "/", "/contact")]


def test_hits_arriving_out_of_order_make_the_same_visits(events: Database) -> None:
    before = visits(events)
    events.insert("events", [hit(A, 2, "event")], list(EVENTS_TABLE.columns))  # a late event
    after = visits(events)
    assert [(v["visitor"], v["duration"]) for v in after] == [(v["visitor"], v["duration"]) for v in before]
    assert after[0]["actions"] == 4
