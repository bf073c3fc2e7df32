"""Fault rounds, long form: acknowledged vs stored when the gateway or its ClickHouse is killed mid-load.

For each round, a fresh data folder and (for the ClickHouse fault) a fresh stand-in:
  * gateway: ``consent-gateway serve`` on embedded ClickHouse takes hits from ``--concurrency``
    connections; after ``--before`` acknowledged hits it gets SIGKILL, is restarted on the same port
    and data (its spool replays), and takes ``--after`` more;
  * ClickHouse: the gateway writes to the ClickHouse stand-in, which gets SIGKILL after ``--before``
    acknowledged hits, stays down ``--down`` s while hits keep coming, and is restarted on its port
    and folder; ``--after`` more hits once it is back.
Then the gateway stops gracefully and every acknowledged marker is looked up. Printed per round and
summed: acknowledged, stored, lost (must be 0), duplicates (at least once: see gateway/storage/
spool.py; only rows answered before a gateway kill can be duplicated), stored without an answer.
The short form is tests/e2e/test_faults.py.
    .venv/bin/python -m benchmarks.faults [--rounds 3] [--before 4000] [--after 3000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import string
import tempfile
from pathlib import Path

from tests.geoip_fixture import build_city_db
from tests.support.faults import FaultRound, kill_clickhouse, kill_gateway


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=int, default=4000, help="hits acknowledged before the kill")
    parser.add_argument("--after", type=int, default=3000, help="hits acknowledged after the restart")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--down", type=float, default=5.0, help="seconds ClickHouse stays down")
    parser.add_argument("--only", choices=("gateway", "clickhouse"), help="run one fault only")
    args = parser.parse_args()
    totals: dict[str, list[FaultRound]] = {}
    with tempfile.TemporaryDirectory(prefix="faults-") as folder:
        base = Path(folder)
        city = build_city_db(base / "city.mmdb")
        for n in range(args.rounds):
            letter = string.ascii_lowercase[n % 26]
            if args.only != "clickhouse":
                (base / f"g{n}").mkdir()
                result = kill_gateway(base / f"g{n}", city, tag=f"gateway{letter}", before=args.before,
                                      after=args.after, concurrency=args.concurrency)
                print(f"round {n + 1}: {result.line()}", flush=True)
                totals.setdefault(result.fault, []).append(result)
            if args.only != "gateway":
                (base / f"c{n}").mkdir()
                result = kill_clickhouse(base / f"c{n}", city, tag=f"clickhouse{letter}", before=args.before,
                                         during=args.down, after=args.after, concurrency=args.concurrency)
                print(f"round {n + 1}: {result.line()}", flush=True)
                totals.setdefault(result.fault, []).append(result)
    for fault, rounds in totals.items():
        tallies = [r.tally for r in rounds]
        print(f"{fault}, {len(rounds)} round(s): acknowledged {sum(t.acknowledged for t in tallies)}, stored "
              f"{sum(t.stored for t in tallies)}, lost {sum(t.lost for t in tallies)}, duplicates "
              f"{sum(t.duplicates for t in tallies)} (of rows answered after the kill: "
              f"{sum(r.late_duplicates for r in rounds)}), stored without an answer "
              f"{sum(t.unanswered_stored for t in tallies)}")


if __name__ == "__main__":
    main()
