"""Benchmark: the write-ahead spool on a tracking hit's path.

Prints, best of ``--repeat`` runs each:
  (a) the raw fdatasync time of a small append on this disk (p50/p99);
  (b) the event-loop cost of one one-row event: encoding alone, and the whole append as the loop
      thread pays it (CPU time of that thread per append, fsyncs excluded: they run on a thread);
  (c) appends/s and p50/p99 append latency with 1, 50 and 500 concurrent appenders, one-row events
      of the events table (~50 columns, like a tracking hit), into a real BatchWriter over embedded
      ClickHouse; with the fsyncs it took and the bytes each event occupies on disk.
Not a test: run it by hand on a quiet machine (this VM's speed drifts by ~30 % between minutes):
    .venv/bin/python -m benchmarks.spool [--appends 20000] [--repeat 5] [--dir /var/tmp] [--sync-interval S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.writer_insert import synthetic_rows
from gateway.storage.clickhouse import Database, connect
from gateway.storage.migrations import migrate
from gateway.storage.schema import EVENTS_TABLE
from gateway.storage.spool import Spool, encode_rows
from gateway.storage.writer import BatchWriter


def realistic_rows(count: int) -> list[tuple[Any, ...]]:
    """The writer benchmark's rows, with the fields a real hit fills that those leave empty."""
    columns = EVENTS_TABLE.columns
    filled = {"title": "Brake pads, front axle – Catalogue | Example Parts", "url_query": "ref=nav&page=2",
              "referrer_path": "/search", "referrer_keyword": "", "campaign_source": "newsletter",
              "campaign_medium": "email", "campaign_name": "spring-2026", "isp": "Deutsche Telekom AG",
              "city_name_local": "Berlin", "device_brand": "Apple", "device_model": "iPhone",
              "dimensions": {"plan": "pro", "ab": "variant-b"}}
    rows = []
    for row in synthetic_rows(count):
        values = dict(zip(columns, row, strict=True)) | filled
        values["pageview_id"] = uuid.uuid4().hex[:6]
        rows.append(tuple(values[name] for name in columns))
    return rows


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def raw_fsync(folder: Path, repeat: int) -> tuple[float, float]:
    """(p50, p99) ms of fdatasync after appending 4 KB, best of ``repeat`` runs of 500."""
    best: tuple[float, float] | None = None
    for _ in range(repeat):
        path = folder / "fsync-probe"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        times = []
        for _ in range(500):
            os.write(fd, b"x" * 4096)
            started = time.perf_counter()
            os.fdatasync(fd)
            times.append((time.perf_counter() - started) * 1000)
        os.close(fd)
        path.unlink()
        times.sort()
        run = (percentile(times, 0.5), percentile(times, 0.99))
        best = run if best is None or run[0] < best[0] else best
    assert best is not None
    return best


def encode_cost(row: tuple[Any, ...], repeat: int) -> float:
    """µs per encode_rows([row]), best of ``repeat`` runs of 20,000."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(20_000):
            encode_rows([row])
        runs.append((time.perf_counter() - started) / 20_000 * 1e6)
    return min(runs)


async def one_run(db: Database, folder: Path, rows: list[tuple[Any, ...]], concurrency: int,
                  sync_interval: float) -> dict[str, float]:
    db.command("TRUNCATE TABLE events")
    writer = BatchWriter(db, flush_interval=1.0, max_pending=len(rows) + 1)
    await writer.start()
    spool = Spool(folder, writer, sync_interval=sync_interval)
    await spool.open()
    latencies: list[float] = []
    queue = iter(rows)

    async def appender() -> None:
        for row in queue:  # shared iterator: the appenders take rows in turn
            started = time.perf_counter()
            await spool.append(EVENTS_TABLE, [row])
            latencies.append(time.perf_counter() - started)

    loop_cpu = time.thread_time()
    started = time.perf_counter()
    await asyncio.gather(*(appender() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    loop_cpu = time.thread_time() - loop_cpu  # includes writer.submit and the event loop's own work
    on_disk, syncs = spool.stats.bytes_on_disk, spool.stats.syncs
    await spool.close()
    await writer.close()
    [(stored,)] = db.query("SELECT count() FROM events")
    assert stored == len(rows), (stored, len(rows))
    latencies.sort()
    return {"rate": len(rows) / elapsed, "p50": percentile(latencies, 0.5) * 1000,
            "p99": percentile(latencies, 0.99) * 1000, "syncs": syncs, "bytes": on_disk / len(rows),
            "loop_us": loop_cpu / len(rows) * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="the spool's disk (a real one, not tmpfs)")
    parser.add_argument("--sync-interval", type=float, default=0.002, help="Spool(sync_interval=...)")
    args = parser.parse_args()
    rows = realistic_rows(args.appends)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        p50, p99 = raw_fsync(folder, args.repeat)
        print(f"fdatasync of a 4 KB append on this disk:  p50 {p50:6.3f} ms  p99 {p99:6.3f} ms")
        print(f"encode one one-row event ({len(EVENTS_TABLE.columns)} columns): "
              f"{encode_cost(rows[0], args.repeat):5.1f} µs, {len(encode_rows([rows[0]]))} bytes of JSON")
        db = connect(f"chdb://{folder / 'clickhouse'}?database=bench")
        migrate(db)
        for concurrency in (1, 50, 500):
            count = min(len(rows), 2_000) if concurrency == 1 else len(rows)
            runs = [asyncio.run(one_run(db, folder / f"spool-{concurrency}-{i}", rows[:count], concurrency,
                                        args.sync_interval)) for i in range(args.repeat)]
            best = max(runs, key=lambda run: run["rate"])
            median = statistics.median(run["rate"] for run in runs)
            print(f"{concurrency:>3} appenders, {count:>6,} appends: best {best['rate']:>8,.0f}/s "
                  f"(median {median:>8,.0f}/s)  p50 {best['p50']:6.3f} ms  p99 {best['p99']:6.3f} ms  "
                  f"{best['syncs']:>5.0f} fsyncs  {best['bytes']:4.0f} B/event  "
                  f"loop CPU {best['loop_us']:5.1f} µs/append")
        db.close()


if __name__ == "__main__":
    main()
