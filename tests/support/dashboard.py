"""Small, hand-made traffic for the dashboard tests, and the sites and users they log in with."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from gateway.storage.clickhouse import Database
from gateway.storage.migrations import migrate
from gateway.storage.schema import EVENTS_TABLE
from tests.support.clock import FIXTURE_RETENTION_DAYS, MOMENT, local_time

TOKEN_1 = "site-one-token-0123456789abcdef"
TOKEN_2 = "site-two-token-0123456789abcdef"
PASSWORD = "correct horse battery"
# Site 1 lives in the zone of the run's moment (Berlin but when a hard moment is tried elsewhere);
# site 2 in UTC, so the two sites' "today" differ around midnight.
SITE_1_ZONE = MOMENT.zone
SITES_TOML = f"""
[[sites]]
id = 1
name = "Parts catalogue"
origins = ["https://parts.example"]
timezone = "{SITE_1_ZONE}"
token = "{TOKEN_1}"

[[sites]]
id = 2
name = "Other shop"
origins = ["https://other.example"]
timezone = "UTC"
token = "{TOKEN_2}"
"""
# "Now" for the tests: the run's moment (tests.support.clock), pinned as the app's clock, so the
# range presets are the same days for the whole run; the seeded day is site 1's day before.
NOW = MOMENT.instant
DAY = MOMENT.today - dt.timedelta(days=1)
RANGE = f"period=custom&from={DAY}&to={DAY}"


def event(visitor: int, at: dt.datetime, kind: str = "pageview", path: str = "/", site: int = 1,
          **fields: Any) -> tuple[Any, ...]:
    row: dict[str, Any] = dict.fromkeys(EVENTS_TABLE.columns, "")
    row.update(site_id=site, ts=at, visitor_id=visitor, new_visit=0, event_type=kind, url_path=path,
               referrer_type="direct", screen_width=1920, screen_height=1080, event_value=None,
               search_count=None, goal_id=0, revenue=0.0, dimensions={}, consent_id=uuid.uuid4(),
               retention_days=FIXTURE_RETENTION_DAYS, country_code="DE", subdivision_name="Berlin",
               city_name="Berlin", browser_name="Chrome", browser_version="120", os_name="Windows",
               os_version="11", device_type="desktop", language="de-de")
    row.update(fields)
    return tuple(row[c] for c in EVENTS_TABLE.columns)


def seed(db: Database) -> None:
    """Three visitors on ``DAY`` (site 1's day before ``NOW``) on site 1, one on site 2 that day (UTC).

    Visitor 1 (Berlin, from Google): /, /brakes, /brakes/pads over 10 minutes — one visit, no bounce.
    Visitor 2 (Munich): one page, a bounce. Visitor 3 (Berlin): one page, then a download and a site
    search (one visit of three actions).
    """
    day = local_time(SITE_1_ZONE, DAY, 10)
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
        event(9, local_time("UTC", DAY, 10), path="/elsewhere", site=2),
    ]
    migrate(db)
    db.insert("events", rows, list(EVENTS_TABLE.columns))
