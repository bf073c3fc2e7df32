"""Story: several gateway processes on one ClickHouse server behave as one service (issue 18, section 1).

Three ``serve`` processes on three ports, and one ``serve --workers 3`` on one port, each process with
its own data folder and spool, all on one database of the ClickHouse stand-in (a TEST STAND-IN for
clickhouse-server: chDB behind ClickHouse's HTTP interface, tests/support/clickhouse_standin.py).
The processes and the mixed load are in tests/support/gateways.py; the long form, with hits per
second for 1, 2 and 3 processes and the propagation time, is benchmarks/multi_process.py.

What may be stored twice after a ``kill -9`` (at least once) is explained in tests/e2e/test_faults.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from gateway.storage.migrations import pending
from gateway.storage.schema import MIGRATIONS
from tests.e2e.gateway_process import free_port
from tests.support.clickhouse_standin import StandIn, running_standin
from tests.support.gateways import (
    TOKENS,
    Fleet,
    distinct_ports,
    kill_and_restart,
    metrics,
    mixed_load,
    overview,
    running_fleet,
    stats_range,
    stop_and_tally,
)
from tests.support.two_gateways import withdraw_while_replaying

PROPAGATION_BOUND = 2.0  # seconds: the rights issue's bound (docs/privacy.md); the ledger polls every 0.5 s
WARM_UP = 20  # hits without consent each process gets before the tests (tests/support/gateways.py)


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    with running_standin(tmp_path_factory.mktemp("clickhouse")) as server:
        yield server


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, city_db: Path, standin: StandIn) -> Iterator[Fleet]:
    ports = tuple(distinct_ports(3))  # picked now, not at import: minutes later another may hold them
    with running_fleet(tmp_path_factory.mktemp("three"), city_db, ports, database="three", standin=standin,
                       warm_up=WARM_UP) as three:
        yield three


def test_three_processes_started_together_on_a_fresh_database_leave_it_fully_migrated(fleet: Fleet) -> None:
    recorded = fleet.db.query("SELECT version, count() FROM schema_migrations GROUP BY version "
                              "ORDER BY version")
    print(f"migrations recorded (version, times) by three processes starting at once: {recorded}")
    assert pending(fleet.db) == ()  # every version recorded, with this code's checksums
    assert [version for version, _ in recorded] == [m.version for m in MIGRATIONS]


def test_a_mixed_load_over_three_processes_one_killed_stores_every_acknowledged_consented_hit_and_no_other(
        fleet: Fleet) -> None:
    with mixed_load(fleet, "three") as streams:
        killed = kill_and_restart(fleet, streams, 1, before=150, after=150)
        result = stop_and_tally(fleet, streams, killed)
    print(f"{result.line()}; gw-1's spool after its restart: {metrics(fleet.gateways[1])['spool']}")
    assert all(stream.load.result.acknowledged for stream in streams)  # every process took hits
    assert any(stream.load.result.errors for stream in streams if stream.gateway == 1), \
        "the kill happened after the load had ended"
    assert result.consented.lost == 0
    # At least once: only rows the killed process answered before the kill can come back, once.
    assert result.late_duplicates == 0
    assert result.consented.most_copies <= 2
    assert result.unconsented_acknowledged > 0
    assert result.unconsented_stored == 0


def test_a_withdrawal_on_one_process_is_honoured_on_another_within_the_bound(fleet: Fleet) -> None:
    result = withdraw_while_replaying(fleet.gateways[1], fleet.gateways[2], fleet.db)
    print(f"propagation gw-1 -> gw-2: {result.propagation * 1000:.0f} ms; events kept from before the "
          f"withdrawal: {result.stored_before}, after it: {result.stored_after}")
    assert result.stored_before > 0  # the replayed hits counted while the grant held
    assert result.stored_after == 0  # whatever gw-2 accepted in the window is gone once it learnt
    assert result.propagation <= PROPAGATION_BOUND


def test_every_process_shows_the_same_dashboard_figures(fleet: Fleet) -> None:
    with mixed_load(fleet, "dashboard", concurrency=1) as streams:
        for stream in streams:
            stream.load.wait_for(20)
        stop_and_tally(fleet, streams)  # and every process's writer empty
    query = stats_range()
    for site in TOKENS:
        answers = [overview(gateway, site, query) for gateway in fleet.gateways]
        pages = [httpx.get(f"{gateway.base}/dashboard/{site}/reports/pages.json?{query}", timeout=30,
                           headers={"Authorization": f"Bearer {TOKENS[site]}"}).json()
                 for gateway in fleet.gateways]
        (stored,) = fleet.db.query("SELECT count() FROM events WHERE site_id = {s:UInt32} AND "
                                   "event_type = 'pageview'", {"s": site})[0]
        figures = answers[0]["figures"]
        print(f"site {site}: {figures}")
        assert answers[1] == answers[0] and answers[2] == answers[0]
        assert pages[1] == pages[0] and pages[2] == pages[0]
        assert figures["pageviews"]["value"] == stored > 0


def test_serve_with_three_workers_stores_every_acknowledged_hit_sums_its_counters_and_migrates_once(
        tmp_path: Path, city_db: Path, standin: StandIn) -> None:
    with running_fleet(tmp_path, city_db, (free_port(),), workers=3, database="workers", standin=standin,
                       warm_up=WARM_UP) as workers, mixed_load(workers, "workers") as streams:
        for stream in streams:
            stream.load.wait_for(150 if stream.consented else 20)
        result = stop_and_tally(workers, streams)
        figures = metrics(workers.gateways[0])
        (rows,) = workers.db.query("SELECT count() FROM events")[0]
        recorded = workers.db.query("SELECT version, count() FROM schema_migrations GROUP BY version "
                                    "ORDER BY version")
    print(result.line())
    print(f"/-/metrics: hits {figures['counters']['hits']}, dropped {figures['counters']['hits_dropped']}, "
          f"workers {figures['workers']}")
    assert result.consented.lost == 0
    assert result.consented.duplicates == 0
    assert result.unconsented_acknowledged > 0
    assert result.unconsented_stored == 0
    assert len(figures["workers"]) == 3
    # The sum is of several workers' counts: more than one took hits (the kernel spreads connections).
    took = [w["counters"].get("hits", {}).get("stored", 0) for w in figures["workers"].values()]
    assert sum(1 for stored in took if stored) >= 2, took
    assert figures["counters"]["hits"]["stored"] == rows == result.consented.stored
    assert sum(figures["counters"]["hits_dropped"].values()) == result.unconsented_acknowledged + WARM_UP
    assert recorded == [(m.version, 1) for m in MIGRATIONS]  # migrated once, by serve, before its workers
