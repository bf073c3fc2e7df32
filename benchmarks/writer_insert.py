"""Benchmark: 100,000 synthetic event rows through the BatchWriter, embedded and via the stand-in.

Prints wall-clock seconds and rows/s for each path. Not a test: run it by hand on a quiet machine.
    .venv/bin/python -m benchmarks.writer_insert [--rows 100000] [--batch 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
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
                   visitor_id=rnd.getrandbits(63), visit_id=rnd.getrandbits(63), event_type="pageview",
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


async def through_writer(db: Database, rows: list[tuple[Any, ...]], batch: int) -> float:
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
    return elapsed


def report(label: str, rows: int, seconds: float) -> None:
    print(f"{label:<34} {rows:>8,} rows  {seconds:6.2f} s  {rows / seconds:>10,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    rows = synthetic_rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(f"chdb://{Path(tmp) / 'embedded'}?database=bench")
        migrate(db)
        report(f"embedded (chDB), batch {args.batch}", len(rows),
               asyncio.run(through_writer(db, rows, args.batch)))
        db.close()
        with running_standin(Path(tmp) / "standin") as server:
            db = connect(f"http://default:@{server.host}:{server.port}/bench")
            migrate(db)
            report(f"HTTP stand-in (lz4), batch {args.batch}", len(rows),
                   asyncio.run(through_writer(db, rows, args.batch)))
            db.close()


if __name__ == "__main__":
    main()
