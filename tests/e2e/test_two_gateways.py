"""Story: two gateway processes on one ClickHouse server (the stand-in); the visitor withdraws on one
while an attacker keeps replaying the old grant cookie on the other."""

from __future__ import annotations

from pathlib import Path

from tests.support.two_gateways import two_gateways, withdraw_while_replaying


def test_a_withdrawal_or_an_erasure_on_one_gateway_is_honoured_on_the_other_within_two_seconds(
        tmp_path: Path, city_db: Path) -> None:
    with two_gateways(tmp_path, city_db, (18592, 18593)) as (a, b, db):
        result = withdraw_while_replaying(a, b, db)
        erased = withdraw_while_replaying(a, b, db, erase=True)
    print(f"propagation A -> B: {result.propagation * 1000:.0f} ms; events kept from before the withdrawal: "
          f"{result.stored_before}, after it: {result.stored_after}")
    assert result.stored_before > 0  # the replayed hits counted while the grant held
    assert result.stored_after == 0  # whatever B accepted in the window is gone once it learnt
    # The bound (issue 15): 2 s. Typically ~0.5 s (one poll); the figure is printed above.
    assert result.propagation <= 2.0
    print(f"erasure on A, replays on B: propagation {erased.propagation * 1000:.0f} ms; events left "
          f"{erased.stored_before + erased.stored_after}")
    assert erased.propagation <= 2.0
    assert erased.stored_before == erased.stored_after == 0  # B's own buffered and late rows included
