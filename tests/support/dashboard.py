"""Small, hand-made traffic for the dashboard tests, and the sites and users they log in with."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from gateway.storage.clickhouse import Database
from gateway.storage.migrations import migrate
from gateway.storage.schema import EVENTS_TABLE

TOKEN_1 = "site-one-token-0123456789abcdef"
TOKEN_2 = "site-two-token-0123456789abcdef"
PASSWORD = "correct horse battery"
SITES_TOML = f"""
[[sites]]
id = 1
name = "Parts catalogue"
origins = ["https://parts.example"]
timezone = "Europe/Berlin"
token = "{TOKEN_1}"

[[sites]]
id = 2
name = "Other shop"
origins = ["https://other.example"]
timezone = "UTC"
token = "{TOKEN_2}"
"""
# "Now" for the tests: a fixed clock, so the range presets are known days.
NOW = dt.datetime(2026, 11, 21, 15, 0, tzinfo=dt.UTC)


def event(visitor: int, at: dt.datetime, kind: str = "pageview", path: str = "/", site: int = 1,
          **fields: Any) -> tuple[Any, ...]:
    row: dict[str, Any] = dict.fromkeys(EVENTS_TABLE.columns, "")
    row.update(site_id=site, ts=at, visitor_id=visitor, new_visit=0, event_type=kind, url_path=path,
               referrer_type="direct", screen_width=1920, screen_height=1080, event_value=None,
               search_count=None, goal_id=0, revenue=0.0, dimensions={}, consent_id=uuid.uuid4(),
               retention_days=30, country_code="DE", subdivision_name="Berlin", city_name="Berlin",
               browser_name="Chrome", browser_version="120", os_name="Windows", os_version="11",
               device_type="desktop", language="de-de")
    row.update(fields)
    return tuple(row[c] for c in EVENTS_TABLE.columns)


def seed(db: Database) -> None:
    """Three visitors on 20 November 2026 (Berlin time) on site 1, one on site 2.

    Visitor 1 (Berlin, from Google): /, /brakes, /brakes/pads over 10 minutes — one visit, no bounce.
    Visitor 2 (Munich): one page, a bounce. Visitor 3 (Berlin): one page, then a download and a site
    search (one visit of three actions).
    """
    day = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    minute = dt.timedelta(minutes=1)
    google: dict[str, Any] = {"referrer_type": "search", "referrer_name": "Google",
                              "referrer_host": "www.google.com"}
    munich: dict[str, Any] = {"subdivision_name": "Bavaria", "city_name": "Munich"}
    rows = [
        event(1, day, path="/", **google), event(1, day + 4 * minute, path="/brakes"),
        event(1, day + 10 * minute, path="/brakes/pads"),
        event(2, day + 20 * minute, path="/brakes", **munich),
        event(3, day + 30 * minute, path="/search"),
        event(3, day + 30 * minute + dt.timedelta(seconds=5), "download", path="/search",
              link_url="https://parts.example/catalogue.pdf"),
        # A keyword that a spreadsheet would run as a formula.
        event(3, day + 30 * minute + dt.timedelta(seconds=9), "site_search", path="/search",
              search_keyword="=1+1"),
        event(9, day, path="/elsewhere", site=2),
    ]
    migrate(db)
    db.insert("events", rows, list(EVENTS_TABLE.columns))
