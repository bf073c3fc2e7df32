"""Hand-placed hits for the stats tests, small enough to compute every answer by hand.

The shop (site 1) lives in the zone of the run's moment (``tests.support.clock``: the real clock in
Berlin, or a moment set to try a hard one), and "today" is the shop's date at that moment. Times
below are the shop's local times; rows keep ``FIXTURE_RETENTION_DAYS`` so that ClickHouse's TTL,
which runs on its real clock, never takes them during a run:

- A (DE, Berlin, Firefox, desktop): from Google at 09:00, pages / -> /pricing -> /signup with a
  video event and a download (10 minutes, 5 actions); then, after a pause, a direct bounce on /blog.
- B (FR, Paris, Chrome, smartphone): from the "spring" newsletter at 10:00, /pricing kept open by a
  ping, a site search for "shoes" and an outlink (4 minutes, 3 actions).
- C (DE, Munich, Chrome, desktop): from a blog at 11:00, a bounce on /.
- D (US, New York, Safari, tablet): the day before, / then /about (1 minute).
Another site's hit is never counted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from gateway.config.sites import Site
from gateway.rights.retention import oldest_kept
from gateway.storage.clickhouse import Database
from gateway.storage.migrations import migrate
from gateway.storage.schema import CONSENT_LOG_TABLE, EVENTS_TABLE
from tests.support.clock import FIXTURE_RETENTION_DAYS, MOMENT, bucket_of, local_time

ZONE = MOMENT.zone  # the shop's time zone
TODAY = MOMENT.today  # the shop's date, not the UTC date
SHOP = Site(id=1, name="Shop", origins=(), timezone=ZONE)  # the default retention, 395 days
KEPT = oldest_kept(SHOP, MOMENT.instant)  # where the shop's retention starts: every query's kept_from
A, B, C, D = 1, 2, 3, 4

PEOPLE: dict[int, dict[str, Any]] = {
    A: dict(country_code="DE", subdivision_name="Berlin", city_name="Berlin", browser_name="Firefox",
            browser_version="133", os_name="Windows", os_version="11", device_type="desktop",
            screen_width=1920, screen_height=1080, language="de"),
    B: dict(country_code="FR", subdivision_name="Île-de-France", city_name="Paris", browser_name="Chrome",
            browser_version="131", os_name="Android", os_version="15", device_type="smartphone",
            screen_width=390, screen_height=844, language="fr"),
    C: dict(country_code="DE", subdivision_name="Bavaria", city_name="Munich", browser_name="Chrome",
            browser_version="131", os_name="Mac", os_version="15", device_type="desktop",
            screen_width=1920, screen_height=1080, language="de"),
    D: dict(country_code="US", subdivision_name="New York", city_name="New York", browser_name="Safari",
            browser_version="18", os_name="iOS", os_version="18", device_type="tablet",
            screen_width=820, screen_height=1180, language="en"),
}
GOOGLE: dict[str, Any] = dict(referrer_type="search", referrer_host="www.google.com", referrer_name="Google")
SPRING: dict[str, Any] = dict(referrer_type="campaign", referrer_host="mail.example", referrer_name="spring",
              campaign_source="newsletter", campaign_medium="email", campaign_name="spring")
BLOG: dict[str, Any] = dict(referrer_type="website", referrer_host="blog.example.org", referrer_name="")


def at(day: dt.date, hh: int, mm: float = 0) -> dt.datetime:
    """``hh:mm`` on ``day`` in the shop's zone, as a UTC instant."""
    return local_time(ZONE, day, hh, mm)


def bucket(day: dt.date, hh: int, mm: float = 0) -> int:
    """Which of ``day``'s hourly buckets holds local ``hh:mm``: not ``hh`` on a summer-time day."""
    return bucket_of(ZONE, day, at(day, hh, mm))[0]


def label(day: dt.date, hh: int, mm: float = 0) -> str:
    """The label of the hourly bucket that holds local ``hh:mm`` on ``day``: ``"2026-11-02T09:00"``,
    or ``08:30`` where the clocks moved by half an hour."""
    return bucket_of(ZONE, day, at(day, hh, mm))[1]


def hit(visitor: int, ts: dt.datetime, kind: str = "pageview", path: str = "", *, site: int = 1,
        **fields: Any) -> tuple[Any, ...]:
    """One events row; the visitor's place and device from ``PEOPLE``, ``fields`` override."""
    row: dict[str, Any] = dict.fromkeys(EVENTS_TABLE.columns, "")
    row.update(site_id=site, ts=ts, visitor_id=visitor, new_visit=0, event_type=kind, url_path=path,
               referrer_type="direct", screen_width=0, screen_height=0, event_value=None,
               search_count=None, goal_id=0, revenue=0.0, dimensions={}, consent_id=uuid.uuid4(),
               retention_days=FIXTURE_RETENTION_DAYS)
    row.update(PEOPLE.get(visitor, {}))
    row.update(fields)
    return tuple(row[c] for c in EVENTS_TABLE.columns)


def shop_hits() -> list[tuple[Any, ...]]:
    today, yesterday = TODAY, TODAY - dt.timedelta(days=1)
    return [
        hit(A, at(today, 9, 0), path="/", **GOOGLE),
        hit(A, at(today, 9, 5), path="/pricing"),
        hit(A, at(today, 9, 6), "event", event_category="video", event_action="play", event_name="intro"),
        hit(A, at(today, 9, 8), "download", link_url="https://shop.example/files/a.pdf"),
        hit(A, at(today, 9, 10), path="/signup"),
        hit(A, at(today, 12, 0), path="/blog"),
        hit(B, at(today, 10, 0), path="/pricing", **SPRING),
        hit(B, at(today, 10, 2), "ping"),
        hit(B, at(today, 10, 3), "site_search", search_keyword="shoes"),
        hit(B, at(today, 10, 4), "outlink", link_url="https://partner.example/x"),
        hit(C, at(today, 11, 0), path="/", **BLOG),
        hit(D, at(yesterday, 15, 0), path="/"),
        hit(D, at(yesterday, 15, 1), path="/about"),
        hit(A, at(today, 9, 1), path="/elsewhere", site=2),
    ]


# What expired rows look like in the retention tests: a place, a device and pages no other row has.
GONE: dict[str, Any] = dict(
    country_code="AQ", subdivision_name="Nowhere", city_name="Atlantis", browser_name="Gone",
    browser_version="1", os_name="GoneOS", os_version="1", device_type="console", screen_width=1,
    screen_height=1, language="la")


def expired_rows(today: dt.date, expired_retention: int, ages: tuple[int, ...] = (3, 100), *,
                 site: int = 1) -> list[tuple[Any, ...]]:
    """Visitor 1 the day before ``today`` (in the shop's zone), kept; then a visitor per age in
    ``ages`` (days before ``today``) with ``expired_retention`` days of retention, whose hits touch
    every report. The first two rows are the kept visitor's."""
    def day(n: int, hh: int, mm: float = 0) -> dt.datetime:
        return local_time(ZONE, today - dt.timedelta(days=n), hh, mm)

    keep: dict[str, Any] = {"retention_days": FIXTURE_RETENTION_DAYS, "site": site}
    drop: dict[str, Any] = {"retention_days": expired_retention, "site": site, **GONE}
    return [
        hit(1, day(1, 10), path="/kept", **GOOGLE, **keep),
        hit(1, day(1, 10, 2), path="/kept/too", **keep),
        *(
            row
            for visitor, n in enumerate(ages, 2)
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


def load(db: Database, hits: list[tuple[Any, ...]]) -> Database:
    migrate(db)
    db.insert("events", hits, list(EVENTS_TABLE.columns))
    return db


def consent_row(ts: dt.datetime, action: str, categories: list[str], site: int = 1) -> tuple[Any, ...]:
    row: dict[str, Any] = dict.fromkeys(CONSENT_LOG_TABLE.columns, "")
    row.update(consent_id=uuid.uuid4(), site_id=site, ts=ts, action=action, categories=categories,
               source="banner")
    return tuple(row[c] for c in CONSENT_LOG_TABLE.columns)


def insert_consents(db: Database, rows: list[tuple[Any, ...]]) -> None:
    migrate(db)
    db.insert("consent_log", rows, list(CONSENT_LOG_TABLE.columns))
