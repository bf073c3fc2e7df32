"""Benchmark: how fast a withdrawal made on one gateway is honoured by another on the same ClickHouse.

Two ``serve`` processes on the ClickHouse stand-in (tests/support/); for each round a new visitor
grants on A, a client replays the grant cookie on B every 20 ms, the visitor withdraws on A. Printed
per round and as best/median: the time from A's answer to B's first refusal, and the events of the
id stored after the withdrawal once B has caught up (must be 0). The bound in issue 15: 2 s.
    .venv/bin/python -m benchmarks.rights_propagation [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from tests.geoip_fixture import build_city_db
from tests.support.two_gateways import two_gateways, withdraw_while_replaying

BOUND = 2.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        city = base / "city.mmdb"
        build_city_db(city)
        with two_gateways(base, city, (18594, 18595)) as (a, b, db):
            times = []
            for round_ in range(1, args.rounds + 1):
                result = withdraw_while_replaying(a, b, db, after=2.5)
                times.append(result.propagation)
                print(f"round {round_}: propagation {result.propagation * 1000:6.0f} ms; events kept before "
                      f"the withdrawal {result.stored_before}, after it {result.stored_after}")
    print(f"propagation A -> B over {len(times)} rounds: best {min(times) * 1000:.0f} ms, median "
          f"{statistics.median(times) * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms (bound {BOUND:.0f} s)")


if __name__ == "__main__":
    main()
