"""Benchmark: exporting and erasing one visitor with 1,000 events in a 10,000,000-event table.

Seeds embedded ClickHouse with ``--events`` realistic events (``benchmarks.seed_events``), then for
each round gives a fresh consent id 1,000 events (copies of stored rows, in a new part, as a
visitor's hits arrive) and times, through ``gateway.rights.service.Rights`` as the CLI runs it:
the export (decisions and events as the JSON document) and the erasure (consent-log row, count,
lightweight DELETE, the check that none remain, the audit row). Prints each round and best/median.
    .venv/bin/python -m benchmarks.rights_erasure [--events 10000000] [--rounds 5] [--path DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.seed_events import seed
from gateway.config.settings import load_settings
from gateway.rights import audit
from gateway.rights.service import Rights
from gateway.storage.clickhouse import connect
from gateway.storage.migrations import migrate
from gateway.storage.schema import EVENTS_TABLE

VISITOR_EVENTS = 1_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--path", type=Path, help="a chDB folder to reuse (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = args.path or Path(scratch)
        db = connect(f"chdb://{path}?database=rights_bench")
        migrate(db)
        if not db.query("SELECT count() FROM events")[0][0]:
            started = time.perf_counter()
            seed(db, events=args.events)
            print(f"seeded {args.events:,} events in {time.perf_counter() - started:.0f} s")
        settings = load_settings({"GATEWAY_DATA_DIR": str(path / "data")})
        site = settings.sites[0]
        rights = Rights(settings, db)
        columns = ", ".join(c for c in EVENTS_TABLE.columns if c != "consent_id")
        exports, erasures = [], []
        for round_ in range(1, args.rounds + 1):
            consent_id = uuid.uuid4()
            db.command(f"INSERT INTO events ({columns}, consent_id) SELECT {columns}, {{cid:UUID}} "
                       f"FROM events WHERE site_id = {site.id} LIMIT {VISITOR_EVENTS}", {"cid": consent_id})
            total = db.query("SELECT count() FROM events")[0][0]
            started = time.perf_counter()
            asked = audit.Request(site.id, "export", consent_id, "cli")
            document = asyncio.run(rights.export(site, [consent_id], asked, time.time()))
            exports.append(time.perf_counter() - started)
            started = time.perf_counter()

            async def erase(cid: uuid.UUID = consent_id) -> int:
                refusal = await rights.refusal(site, cid, time.time())
                return await rights.erase(site, [refusal], audit.Request(site.id, "erase", cid, "cli"),
                                          time.time())

            erased = asyncio.run(erase())
            erasures.append(time.perf_counter() - started)
            print(f"round {round_}: table {total:,} events; export of {document['event_count']:,} events "
                  f"{exports[-1] * 1000:.0f} ms; erasure of {erased:,} events {erasures[-1] * 1000:.0f} ms")
        for name, times in (("export", exports), ("erasure", erasures)):
            print(f"{name} of {VISITOR_EVENTS:,} events in a {args.events:,}-event table: best "
                  f"{min(times) * 1000:.0f} ms, median {statistics.median(times) * 1000:.0f} ms")
        db.close()


if __name__ == "__main__":
    main()
