"""Story: the gateway, or its ClickHouse, is killed with SIGKILL mid-load; every hit it answered 2xx is
stored once it is back, and a hit is stored twice only in the one way at-least-once allows.

The short form of benchmarks/faults.py (a few hundred hits a round; the rounds in
tests/support/faults.py). What may be stored twice, and why (gateway/storage/spool.py): rows that
ClickHouse took in the last moments before the gateway died, whose acknowledgement had not yet
reached the spool file, are replayed at the restart. Such a row was answered before the kill; one
answered after it never is. A ClickHouse crash alone stores nothing twice: the writer retries a
batch under its deduplication token, which the tables honour.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.faults import kill_clickhouse, kill_gateway


def test_every_hit_acknowledged_before_a_gateway_kill_is_stored_after_the_restart(
        tmp_path: Path, city_db: Path) -> None:
    round_ = kill_gateway(tmp_path, city_db, tag="killgateway", before=400, after=300)
    print(round_.line())
    assert round_.result.errors, "the kill happened after the load had ended"
    assert round_.tally.lost == 0
    # At least once: only rows answered before the kill can come back, and only once (one replay).
    assert round_.late_duplicates == 0
    assert round_.tally.most_copies <= 2


def test_every_hit_acknowledged_while_clickhouse_is_killed_and_restarted_is_stored_once(
        tmp_path: Path, city_db: Path) -> None:
    round_ = kill_clickhouse(tmp_path, city_db, tag="killclickhouse", before=300, during=2.0, after=300)
    print(round_.line())
    assert round_.tally.acknowledged - round_.acknowledged_before > 300  # hits kept coming while it was down
    assert round_.tally.lost == 0
    assert round_.tally.duplicates == 0
