"""The loop watch: a blocking call on a real event loop shows as a stall, in the sample, in the running
gateway's ``/-/metrics``, and over two workers as the longer of their stalls, not their sum.

A stall of D is seen as at least D minus the watch's tick (``INTERVAL``, 2 ms): the tick fell due
somewhere inside the blocked turn. No assertion here bounds a time from above.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config.settings import Settings
from gateway.monitoring.loopwatch import BUCKETS, INTERVAL, LoopWatch
from gateway.monitoring.prometheus import render
from gateway.monitoring.share import WorkerSamples
from gateway.useragent import parse
from tests.support.operator import OPERATOR, OPERATOR_JSON

BLOCK = 0.12  # seconds the tests hold the loop with a blocking call


async def watched(block: float) -> LoopWatch:
    """A watch on the running loop through a blocking call of ``block`` seconds, stopped after."""
    watch = LoopWatch()
    watch.start()
    await asyncio.sleep(0.01)  # some ordinary ticks first
    time.sleep(block)  # the stall under test: it holds the loop
    await asyncio.sleep(0.01)
    watch.stop()
    return watch


def lag(sample: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """The longest stall in seconds and the lag histogram of a sample or a sum of samples."""
    loop = sample["loop"]
    return loop["max_lag_ms"] / 1000, loop["lag"]


def series(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_blocking_call_shows_as_a_stall_of_its_length() -> None:
    watch = asyncio.run(watched(BLOCK))
    longest, histogram = lag(watch.sample())
    assert longest >= BLOCK - INTERVAL and watch.longest == pytest.approx(longest)
    buckets = histogram["buckets"]
    assert list(buckets) == [*(repr(bound) for bound in BUCKETS), "+Inf"]
    assert buckets["1.0"] >= 1  # 0.1 s < the stall <= 1 s
    assert histogram["calls"] == sum(buckets.values()) >= 3  # ticks before and after it
    assert histogram["total_ms"] >= (BLOCK - INTERVAL) * 1000


def test_a_stopped_watch_stays_still() -> None:
    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        watch = await watched(0.0)
        before = watch.sample()
        await asyncio.sleep(0.02)
        return before, watch.sample()

    before, after = asyncio.run(run())
    assert before == after


def test_the_gateways_metrics_show_a_stall_of_its_loop(client: TestClient) -> None:
    """The app starts the watch in its lifespan; a blocking call on the loop that serves requests
    appears in ``/-/metrics``, in Prometheus's text and in the JSON twin."""
    assert client.portal is not None
    client.portal.call(time.sleep, BLOCK)  # runs on the app's event loop, holding it
    text = client.get("/-/metrics", headers=OPERATOR)
    assert text.status_code == 200
    found = series(text.text)
    assert found[("consent_gateway_loop_lag_max_seconds", ())] >= BLOCK - INTERVAL
    count = found[("consent_gateway_loop_lag_seconds_count", ())]
    at_most = {le: found[("consent_gateway_loop_lag_seconds_bucket", (("le", le),))] for le in ("0.1", "1.0")}
    assert at_most["1.0"] - at_most["0.1"] >= 1 and count >= at_most["1.0"]
    longest, histogram = lag(client.get("/-/metrics", headers=OPERATOR_JSON).json())
    assert longest >= BLOCK - INTERVAL and histogram["calls"] >= count


def test_two_workers_stalls_combine_with_max_their_histograms_add(tmp_path: Path) -> None:
    async def run() -> None:
        short, long = await watched(BLOCK / 2), await watched(BLOCK)
        first, second = WorkerSamples(tmp_path, short.sample), WorkerSamples(tmp_path, long.sample)
        await first.open()
        await second.open()
        await second.gather()  # publishes its sample for the first to read
        total = await first.gather()
        (a, lag_a), (b, lag_b), (both, summed) = lag(short.sample()), lag(long.sample()), lag(total)
        assert b >= BLOCK - INTERVAL and both == max(a, b) == b and both < a + b
        assert summed["calls"] == lag_a["calls"] + lag_b["calls"]
        assert summed["buckets"] == {le: n + lag_b["buckets"][le] for le, n in lag_a["buckets"].items()}
        found = series(render(total))
        assert found[("consent_gateway_loop_lag_max_seconds", ())] == b
        assert found[("consent_gateway_loop_lag_seconds_count", ())] == summed["calls"]
        await second.close()  # it exits: its ticks stay counted, its stall no longer is a live worker's
        longest, after = lag(await first.gather())
        assert longest == a and after["calls"] == summed["calls"]
        await first.close()

    asyncio.run(run())


def test_start_up_pauses_come_before_the_watch_and_the_first_hit_finds_the_user_agent_rules_built(
        app_settings: Settings) -> None:
    """Compiling ua-parser's rules (~0.1 s of CPU with the Rust resolver) happens while the gateway starts,
    in a thread, not at a worker's first hit on the loop; and the watch starts once start-up is done, so
    its longest stall is one that delayed requests."""
    parse._resolver.cache_clear()
    app = create_app(app_settings)
    with TestClient(app):
        assert parse._resolver.cache_info().currsize == 1  # built before the first request
        assert app.state.loop_watch.longest < BLOCK  # start-up's own pauses are not on its books
