"""Benchmark: 100,000 synthetic event rows through the BatchWriter, embedded and via the stand-in.

Each path runs ``--repeat`` times into an emptied table; it prints the best and median wall-clock
seconds from the first submit to the last row being durable, and how much of the best run was
spent inside ClickHouse inserts (the rest is submitting and the event loop). Not a test: run it by
hand, on a quiet machine; this VM's speed drifts by ~30 % between minutes, hence best-of-N.
    .venv/bin/python -m benchmarks.writer_insert [--rows 100000] [--batch 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from gateway.storage.clickhouse import Database, connect
from gateway.storage.migrations import migrate
from gateway.storage.schema import EVENTS_TABLE
from gateway.storage.writer import BatchWriter
from tests.support.clickhouse_standin import running_standin

PATHS = [f"/catalogue/{kind}/{n}" for kind in ("brakes", "filters", "lights", "tyres") for n in range(250)]
CITIES = [("DE", "BE", "Berlin", "Berlin"), ("CN", "SH", "Shanghai", "Shanghai"),
          ("FR", "IDF", "Île-de-France", "Paris"), ("GB", "ENG", "England", "London")]
BROWSERS = [("Chrome", "131", "Windows", "10", "desktop"), ("Safari", "18", "iOS", "18.1", "mobile"),
            ("Firefox", "133", "Linux", "", "desktop"), ("Chrome Mobile", "131", "Android", "14", "mobile")]


def synthetic_rows(count: int, seed: int = 7) -> list[tuple[Any, ...]]:
    rnd = random.Random(seed)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    defaults = {name: "" for name in EVENTS_TABLE.columns}
    rows = []
    for i in range(count):
        country, subdivision, subdivision_name, city = rnd.choice(CITIES)
        browser, browser_version, os_name, os_version, device = rnd.choice(BROWSERS)
        row: dict[str, Any] = dict(defaults, site_id=1, ts=start + dt.timedelta(seconds=i * 25.9),
                   visitor_id=rnd.getrandbits(63), new_visit=0, event_type="pageview",
                   pageview_id=f"{i:06x}"[-6:],
                   url_host="www.example.com", url_path=rnd.choice(PATHS), title="Catalogue",
                   referrer_type="search", referrer_host="www.google.com", referrer_name="Google",
                   country_code=country, subdivision_code=subdivision, subdivision_name=subdivision_name,
                   city_name=city, browser_name=browser, browser_version=browser_version, os_name=os_name,
                   os_version=os_version, device_type=device, screen_width=1920, screen_height=1080,
                   language="en-gb", event_value=None, search_count=None, goal_id=0, revenue=0.0,
                   dimensions={}, consent_id=uuid.uuid4(), retention_days=395)
        rows.append(tuple(row[name] for name in EVENTS_TABLE.columns))
    return rows


async def through_writer(db: Database, rows: list[tuple[Any, ...]], batch: int) -> tuple[float, float]:
    """(seconds until every row is durable, seconds spent inside inserts)."""
    db.command("TRUNCATE TABLE events")
    writer = BatchWriter(db, batch_size=batch, flush_interval=0.2, max_pending=len(rows) + 1)
    await writer.start()
    started = time.perf_counter()
    # One submission per hit, as the tracking endpoint will make them.
    accepted = [writer.submit(EVENTS_TABLE, [row]) for row in rows]
    await asyncio.gather(*accepted)
    elapsed = time.perf_counter() - started
    await writer.close()
    [(stored,)] = db.query("SELECT count() FROM events")
    assert stored == len(rows), (stored, len(rows))
    return elapsed, writer.stats.insert_seconds


def measure(label: str, db: Database, rows: list[tuple[Any, ...]], batch: int, repeat: int) -> None:
    runs = sorted(asyncio.run(through_writer(db, rows, batch)) for _ in range(repeat))
    best, in_inserts = runs[0]
    median = statistics.median(seconds for seconds, _ in runs)
    print(f"{label:<34} {len(rows):>8,} rows  best {best:5.2f} s ({len(rows) / best:>7,.0f} rows/s, "
          f"{in_inserts:4.2f} s in inserts)  median {median:5.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = synthetic_rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(f"chdb://{Path(tmp) / 'embedded'}?database=bench")
        migrate(db)
        measure(f"embedded (chDB), batch {args.batch}", db, rows, args.batch, args.repeat)
        db.close()
        with running_standin(Path(tmp) / "standin") as server:
            db = connect(f"http://default:@{server.host}:{server.port}/bench")
            migrate(db)
            measure(f"HTTP stand-in (lz4), batch {args.batch}", db, rows, args.batch, args.repeat)
            db.close()


if __name__ == "__main__":
    main()
