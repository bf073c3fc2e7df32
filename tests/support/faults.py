"""Fault rounds: the gateway, or its ClickHouse, killed with SIGKILL while hits pour in.

Shared by tests/e2e/test_faults.py (short rounds) and benchmarks/faults.py (long ones). Each round
runs the real ``consent-gateway serve`` (tests/e2e/gateway_process.py), sends consented hits with
unique markers (tests/support/load.py), kills one part mid-load, brings it back on the same port
and data, keeps the load going a while, stops the gateway gracefully, and compares the markers
answered 2xx with those ClickHouse stored.

- :func:`kill_gateway`: embedded ClickHouse (chDB) in the gateway process; the restart replays the
  spool. Duplicates are possible (at least once): rows ClickHouse took whose acknowledgement had
  not reached the spool file when the process died are replayed (see gateway/storage/spool.py).
- :func:`kill_clickhouse`: the ClickHouse stand-in (a server, over HTTP) is killed and restarted on
  its port and folder; the gateway keeps answering from its spool meanwhile and its writer retries
  each batch under the same deduplication token.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.gateway_process import free_port, running_gateway
from tests.support.clickhouse_standin import running_standin
from tests.support.load import HitLoad, LoadResult, Tally, grant, stored_markers, tally


@dataclass(frozen=True, slots=True)
class FaultRound:
    fault: str
    tally: Tally
    acknowledged_before: int  # markers answered 2xx before the fault (the first ones of the list)
    late_duplicates: int  # duplicated markers acknowledged after the fault: must be 0
    down: float  # seconds from the kill until the part answered again
    result: LoadResult

    def line(self) -> str:
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.result.statuses.items()))
        errors = ", ".join(f"{name}: {count}" for name, count in sorted(self.result.errors.items()))
        return (f"{self.fault}: {self.tally.line()} ({self.acknowledged_before} before the kill; down "
                f"{self.down:.1f} s; answers {statuses}; no answer {errors or 0})")


def _env(folder: Path, city_db: Path, clickhouse_url: str | None) -> dict[str, str]:
    env = {"GATEWAY_DATA_DIR": str(folder / "data"), "GATEWAY_GEOIP_CITY_DB": str(city_db),
           "GATEWAY_SECRET_KEYS": "f" * 40, "GATEWAY_WRITER_FLUSH_INTERVAL": "0.2",
           "GATEWAY_LOG_LEVEL": "WARNING"}
    return env | ({"GATEWAY_CLICKHOUSE_URL": clickhouse_url} if clickhouse_url else {})


def _late_duplicates(result: LoadResult, before: int, stored: Counter[str]) -> int:
    return sum(1 for marker in result.acknowledged[before:] if stored[marker] > 1)


def kill_gateway(folder: Path, city_db: Path, *, tag: str, before: int, after: int, concurrency: int = 8,
                 port: int | None = None) -> FaultRound:
    """``before`` hits acknowledged, SIGKILL the gateway, restart it, ``after`` more acknowledged."""
    port = port or free_port()
    env = _env(folder, city_db, None)
    with ExitStack() as stack:
        first = stack.enter_context(running_gateway(env, folder / f"{tag}-first.log", port=port))
        load = stack.enter_context(HitLoad(first.base, grant(first.base), tag=tag, concurrency=concurrency))
        load.wait_for(before)
        first.kill()
        killed = time.monotonic()
        # Answers already on their way when the process died still arrive; none after the restart
        # can come from the dead process, so the count read now splits the list.
        time.sleep(0.3)
        acknowledged_before = load.acknowledged
        stack.enter_context(running_gateway(env, folder / f"{tag}-second.log", port=port))
        down = time.monotonic() - killed
        load.wait_for(acknowledged_before + after)
        result = load.stop()
    # The gateway stopped gracefully (its writer flushed); its chDB folder is free to read.
    stored = stored_markers(f"chdb://{(folder / 'data' / 'clickhouse').resolve()}", tag)
    return FaultRound("gateway killed", tally(result, stored), acknowledged_before,
                      _late_duplicates(result, acknowledged_before, stored), down, result)


def kill_clickhouse(folder: Path, city_db: Path, *, tag: str, before: int, during: float, after: int,
                    concurrency: int = 8, port: int | None = None) -> FaultRound:
    """``before`` hits acknowledged, SIGKILL the stand-in for ``during`` s (hits keep coming), restart it
    on its port and folder, ``after`` more acknowledged once ClickHouse took rows again."""
    with running_standin(folder / "clickhouse", port or 0) as standin:
        url = f"http://default:@{standin.host}:{standin.port}/faults"
        with running_gateway(_env(folder, city_db, url), folder / f"{tag}.log") as gateway, \
                HitLoad(gateway.base, grant(gateway.base), tag=tag, concurrency=concurrency) as load:
            load.wait_for(before)
            standin.kill()
            killed = time.monotonic()
            acknowledged_before = load.acknowledged
            time.sleep(during)
            standin.restart()
            down = time.monotonic() - killed
            load.wait_for(load.acknowledged + after)
            result = load.stop()
        # The gateway stopped gracefully: its writer flushed into the stand-in, which still runs.
        stored = stored_markers(url, tag)
    return FaultRound("ClickHouse killed", tally(result, stored), acknowledged_before,
                      _late_duplicates(result, acknowledged_before, stored), down, result)
