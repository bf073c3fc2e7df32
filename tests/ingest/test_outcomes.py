"""The ingest's latency histograms: which bucket an observation lands in, and what a snapshot holds."""

from __future__ import annotations

import json

from gateway.ingest.outcomes import HIT_BUCKETS, STEP_BUCKETS, Histogram, StepTimer, le_label


def test_an_observation_lands_in_the_first_bucket_whose_bound_it_does_not_exceed() -> None:
    histogram = Histogram((10e-6, 25e-6, 100e-3))
    for nanos in (0, 10_000, 10_001, 25_000, 99_999_999, 100_000_000, 100_000_001, 7 * 10**9):
        histogram.add("scrub", nanos)
    figures = histogram.snapshot()["scrub"]
    # le is "less than or equal": 10 µs exactly is in le=1e-05; one nanosecond more is not.
    assert figures["buckets"] == {"1e-05": 2, "2.5e-05": 2, "0.1": 2, "+Inf": 2}
    assert figures["calls"] == 8
    assert figures["total_ms"] == (0 + 10_000 + 10_001 + 25_000 + 99_999_999 + 100_000_000 + 100_000_001
                                   + 7 * 10**9) / 1e6


def test_the_timer_keeps_steps_and_whole_hits_apart_in_json_able_numbers() -> None:
    timer = StepTimer()
    timer.add("consent", 6_000)
    timer.add("buffer", 3_000_000)
    timer.hits.add("stored", 3_500_000)
    timer.hits.add("dropped", 40_000)
    steps, hits = timer.snapshot(), timer.hits.snapshot()
    assert set(steps) == {"consent", "buffer"} and set(hits) == {"stored", "dropped"}
    assert list(steps["consent"]["buckets"]) == [*(le_label(b) for b in STEP_BUCKETS), "+Inf"]
    assert list(hits["stored"]["buckets"]) == [*(le_label(b) for b in HIT_BUCKETS), "+Inf"]
    assert steps["consent"]["buckets"]["1e-05"] == 1 and steps["buffer"]["buckets"]["0.005"] == 1
    assert hits["stored"]["buckets"]["0.005"] == 1 and hits["dropped"]["buckets"]["5e-05"] == 1
    assert json.loads(json.dumps([steps, hits])) == [steps, hits]  # what a worker publishes


def test_hit_records_the_time_since_the_request_began() -> None:
    timer = StepTimer()
    timer.hit("refused", 0)  # began at the clock's zero: long ago, beyond every bound
    assert timer.hits.snapshot()["refused"]["buckets"]["+Inf"] == 1


def test_bounds_are_written_as_prometheus_clients_write_them() -> None:
    assert [le_label(b) for b in (10e-6, 25e-6, 250e-6, 1e-3, 2.5e-3, 0.1, 1.0)] == [
        "1e-05", "2.5e-05", "0.00025", "0.001", "0.0025", "0.1", "1.0"]
