"""The engine's fast visits (hits packed into integers) cut exactly as the reference VISITS query."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from gateway.stats.engine import Params, Span, visit_rows
from gateway.stats.query import DateRange, parse_query
from gateway.stats.visits import DAY_VISITS, DEFAULT_TIMEOUT, VISITS
from gateway.storage.clickhouse import Database
from tests.stats.data import KEPT, TODAY, ZONE, hit, load

pytestmark = pytest.mark.dated  # placed around the run's moment: run at the hard ones too

KINDS = ["pageview"] * 5 + ["ping", "ping", "event", "outlink"]


def test_packed_visits_match_the_reference(db: Database) -> None:
    rng = random.Random(7)
    hits = []
    start, end = DateRange(TODAY, TODAY, ZONE, "today").bounds()  # the shop's day, in UTC
    # Distinct instants: two hits of a visitor in the same millisecond have no defined order.
    for visitor in range(1, 41):
        ts = start + dt.timedelta(minutes=rng.randrange(0, 600))
        for _ in range(rng.randrange(1, 12)):
            ts += dt.timedelta(seconds=rng.choice([1, 30, 600, 1799, 1801, 5000]))
            if ts < end:
                hits.append(hit(visitor, ts, rng.choice(KINDS), path=f"/p{rng.randrange(4)}",
                                new_visit=int(rng.random() < 0.1)))
    load(db, hits)
    reference = db.query(
        f"SELECT visitor_id, duration, actions, pageviews, entry_page, exit_page, bounce FROM ({VISITS}) "
        "ORDER BY visitor_id, visit_start",
        {"site": 1, "start": start, "end": end, "timeout_ms": DEFAULT_TIMEOUT * 1000})
    q = parse_query({"period": "today"}, 1, ZONE, TODAY, kept_from=KEPT)
    p = Params()
    rows = visit_rows(q, p, Span.of(q), ("entry_page", "exit_page"))
    packed = db.query(f"SELECT visitor_id, duration, actions, pageviews, entry_page, exit_page, bounce "
                      f"FROM ({rows}) ORDER BY visitor_id, v_first", p.values)
    assert len(reference) > 60
    assert packed == reference


def test_packed_visits_end_at_local_midnight_as_the_reference_day_visits(db: Database) -> None:
    rng = random.Random(8)
    hits = []
    first = TODAY - dt.timedelta(days=3)
    start, end = DateRange(first, TODAY, ZONE, "custom").bounds()
    for visitor in range(1, 31):
        ts = DateRange(first, first, ZONE, "custom").bounds()[1] - dt.timedelta(minutes=rng.randrange(1, 90))
        for _ in range(rng.randrange(1, 10)):  # evenings running past midnight
            ts += dt.timedelta(seconds=rng.choice([30, 600, 1799, 1801]))
            hits.append(hit(visitor, ts, rng.choice(KINDS), path=f"/p{rng.randrange(4)}"))
    load(db, hits)
    reference = db.query(
        f"SELECT visitor_id, duration, actions, pageviews, entry_page, exit_page, bounce FROM ({DAY_VISITS}) "
        "ORDER BY visitor_id, visit_start",
        {"site": 1, "start": start, "end": end, "timeout_ms": DEFAULT_TIMEOUT * 1000, "tz": ZONE})
    q = parse_query([("period", "custom"), ("from", first.isoformat()), ("to", TODAY.isoformat())], 1, ZONE,
                    TODAY, kept_from=KEPT)
    p = Params()
    rows = visit_rows(q, p, Span.of(q), ("entry_page", "exit_page"))
    packed = db.query(f"SELECT visitor_id, duration, actions, pageviews, entry_page, exit_page, bounce "
                      f"FROM ({rows}) ORDER BY visitor_id, v_first", p.values)
    undivided = db.query(f"SELECT count() FROM ({VISITS})", {"site": 1, "start": start, "end": end,
                                                              "timeout_ms": DEFAULT_TIMEOUT * 1000})
    assert packed == reference
    assert len(reference) > undivided[0][0]  # some visits crossed midnight and were cut there
