"""Seeding a site with realistic events and consent decisions, generated inside ClickHouse.

Millions of rows built in Python and sent over would take minutes; instead every row is computed
by ``INSERT ... SELECT ... FROM numbers(N)`` from deterministic hashes (``benchmarks.seed_sql``), so a
seed always gives the same data and 10,000,000 events take well under a minute. The tables of
``benchmarks.seed_data`` are loaded into a scratch table ``seed_lookup`` first (``seed_lookups``).

How the data is shaped, in three steps:
  1. visitors (``numbers(visitors)``): a place, a device and browser, a language, and a number of
     visits (Pareto: ~3 in 4 come once, a few dozens of times). Visit starts are drawn from the
     hours of the range weighted by the site's day and week (shifted into a visitor's own time
     zone), sorted and spread >= 100 minutes apart, so the visits the dashboard cuts at query
     time are the visits made here;
  2. visits (scratch table ``seed_visits``): a referrer (returning visitors come direct more
     often), a bounce or not, a heavy-tailed number of pageviews on Zipf-ranked pages (the entry
     page depends on the referrer and campaign), time on each page, and per page the site
     searches, events, outlinks, downloads and heartbeat pings. Pings fill up to the number of
     events asked for: a first pass counts the other hits, the second sets the ping rate;
  3. hits: one events row per planned hit; the referrer and campaign on a visit's first hit only
     (``new_visit`` on campaign landings); a running sum over the visits stops at exactly
     ``events`` rows.
The consent log gets ~0.35 decisions per visitor (accept all, reject all, custom, update, withdraw).
Then ``OPTIMIZE ... FINAL``, so timings do not depend on how far background merges got.
    python -m benchmarks.seed_events --path /tmp/bench_chdb --events 10000000 [--visitors N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import dataclass

from benchmarks.seed_lookups import lookups
from benchmarks.seed_profile import profile
from benchmarks.seed_sql import Gen, consent_sql, hits_sql, visits_sql
from gateway.storage.clickhouse import Database, connect
from gateway.storage.migrations import migrate

CONSENT_PER_VISITOR = 0.35
SCRATCH = ("seed_lookup", "seed_visits")


@dataclass(frozen=True, slots=True)
class Seeded:
    events: int
    visits: int  # as planned: the dashboard's visits come out within a few per mille of it
    visitors: int
    decisions: int
    start: dt.datetime
    end: dt.datetime
    seconds: dict[str, float]


def seed(db: Database, *, events: int = 10_000_000, visitors: int | None = None, days: int = 90,
         end: dt.datetime | dt.date | None = None, site_id: int = 1, seed: int = 42,
         optimize: bool = True) -> Seeded:
    """Give site ``site_id`` ``events`` hits by about ``visitors`` visitors (default ``events / 10``:
    1,000,000 for 10,000,000) over the ``days`` before ``end`` (default now, so realtime has
    visitors; a date means the end of that day in UTC, or now if sooner), and their consent
    decisions. The site must have no events yet."""
    visitors = visitors or max(1, events // 10)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    if end is None:
        stop = now
    elif isinstance(end, dt.datetime):
        stop = end.astimezone(dt.UTC)
    else:
        stop = min(now, dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC))
    start = stop - dt.timedelta(days=days)
    start_ms, end_ms = int(start.timestamp() * 1000), int(stop.timestamp() * 1000)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        seconds[step], clock = time.perf_counter() - clock, time.perf_counter()

    migrate(db)
    [(existing,)] = db.query("SELECT count() FROM events WHERE site_id = {site:UInt32}", {"site": site_id})
    if existing:
        raise SystemExit(f"site {site_id} already has {existing:,} events here: seed into an empty folder")
    tables = lookups(start, days * 24, seed)
    numeric = {name for name, values in tables.items() if values and isinstance(values[0], int)}
    for scratch in SCRATCH:
        db.command(f"DROP TABLE IF EXISTS {scratch}")
    db.command("CREATE TABLE seed_lookup (name String, strs Array(String), nums Array(Int64)) "
               "ENGINE = Memory")
    db.insert("seed_lookup", [(name, [], values) if name in numeric else (name, values, [])
                              for name, values in tables.items()], ["name", "strs", "nums"])
    g = Gen(seed, tables, numeric)
    # Pass 1 without pings: how many other hits, and how many pages stay open long enough to ping.
    plan = {"visitors": visitors, "start_ms": start_ms, "end_ms": end_ms}
    [(others, eligible)] = db.query(
        f"SELECT sum(n), sum(eligible) FROM ({visits_sql(g, ping_rate=0, **plan)})")
    ping_rate = max(0.0, (events - others) / max(1, eligible) * 1.004)  # a margin, cut off exactly later
    db.command("CREATE TABLE seed_visits ENGINE = MergeTree ORDER BY (k, j) AS "
               + visits_sql(g, ping_rate=ping_rate, **plan))
    lap("plan visits")
    db.command(hits_sql(g, events=events, site_id=site_id))
    lap("insert events")
    [(planned, visits)] = db.query("SELECT sum(n), count() FROM seed_visits")
    decisions = round(visitors * CONSENT_PER_VISITOR)
    db.command(consent_sql(g, decisions=decisions, visitors=visitors, site_id=site_id, start_ms=start_ms,
                           end_ms=end_ms))
    lap("insert consent log")
    for scratch in SCRATCH:
        db.command(f"DROP TABLE IF EXISTS {scratch}")
    if optimize:
        db.command("OPTIMIZE TABLE events FINAL")
        db.command("OPTIMIZE TABLE consent_log FINAL")
        lap("optimize")
    [(stored, people)] = db.query(
        "SELECT count(), uniqExact(visitor_id) FROM events WHERE site_id = {s:UInt32}", {"s": site_id})
    if planned < events:
        print(f"note: the plan had {planned:,} hits, fewer than the {events:,} asked for")
    return Seeded(events=int(stored), visits=min(int(visits), int(stored)), visitors=int(people),
                  decisions=decisions, start=start, end=stop, seconds=seconds)


def report(result: Seeded, elapsed: float) -> str:
    steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in result.seconds.items())
    return (f"seeded {result.events:,} events, ~{result.visits:,} visits, {result.visitors:,} visitors, "
            f"{result.decisions:,} consent decisions, {result.start:%Y-%m-%d %H:%M} to "
            f"{result.end:%Y-%m-%d %H:%M} UTC in {elapsed:.1f} s ({steps})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--path", required=True, help="embedded ClickHouse folder (created if missing)")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--visitors", type=int, default=0, help="default: events / 10")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--site", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-optimize", action="store_true", help="leave the parts unmerged")
    parser.add_argument("--profile", action="store_true", help="then print the data's key figures")
    args = parser.parse_args()
    db = connect(f"chdb://{args.path}")
    try:
        started = time.perf_counter()
        result = seed(db, events=args.events, visitors=args.visitors or None, days=args.days,
                      site_id=args.site, seed=args.seed, optimize=not args.no_optimize)
        print(report(result, time.perf_counter() - started), flush=True)
        if args.profile:
            for figure, value in profile(db, args.site):
                print(f"  {figure:<38} {value}")
    finally:
        db.close()


if __name__ == "__main__":
    main()
