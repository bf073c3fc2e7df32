"""The Prometheus text format as Prometheus's own parser reads it: every family typed, histograms whose
buckets add up, workers summed bucket by bucket, and every name the one the docs list.

``full_sample`` builds what ``/-/metrics`` renders from the real parts' snapshots (the counters, a
step timer, the writer's and the spool's stats, summed by ``WorkerSamples``) with every counter,
figure, step and outcome present; tests/deploy/test_grafana.py checks the dashboard against it.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from gateway.ingest.outcomes import HIT_BUCKETS, STEP_BUCKETS, Drop, StepTimer
from gateway.ingest.pipeline import STEPS
from gateway.monitoring import share
from gateway.monitoring.counters import Metrics
from gateway.monitoring.loopwatch import BUCKETS as LOOP_BUCKETS
from gateway.monitoring.loopwatch import LoopWatch
from gateway.monitoring.prometheus import COUNTER_HELP, render
from gateway.monitoring.share import Sample, WorkerSamples
from gateway.storage.spool_segments import SpoolStats
from gateway.storage.writer_insert import WriterStats

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_STEPS = ("consent", *(name for name, _ in STEPS), "buffer")  # consent and buffer frame STEPS
OUTCOMES = ("stored", "dropped", "refused")
REASONS = {"hits": ("received", "stored"), "hits_dropped": tuple(Drop),
           "consent_decision": ("grant", "refuse", "withdraw", "rejected", "grant-cross-site"),
           "consent_sync": ("poll-failed", "purged"), "retention": ("sweeps", "expired"),
           "rights": ("visitor-erase", "visitor-export")}


def full_sample() -> Sample:
    """What one worker's ``/-/metrics`` renders after busy traffic: every metric the code exports."""
    metrics = Metrics()
    for name in COUNTER_HELP:
        for reason in REASONS.get(name, ("example",)):
            metrics.count(name, reason, 3)
    timer = StepTimer()
    for index, step in enumerate(PIPELINE_STEPS):
        for nanos in (4_000, 9_000 * (index + 1), 2_000_000, 300_000_000):
            timer.add(step, nanos)
    for index, outcome in enumerate(OUTCOMES):
        for nanos in (60_000, 3_000_000 * (index + 1), 2 * 10**9):
            timer.hits.add(outcome, nanos)
    writer = WriterStats(pending_rows=40, rows_written=1000, batches_written=9, insert_failures=1,
                         rows_rejected=Counter({"events": 2}), rows_filtered=1, insert_seconds=0.75)
    spool = SpoolStats(appended_rows=1040, replayed_rows=3, acked_rows=1000, rejected=2, corrupt=1,
                       refusals=4, bytes_on_disk=65536, segments=2, last_sync_ms=1.25, syncs=300)
    local = {"counters": metrics.snapshot(), "writer": writer.snapshot(),
             "spool": spool.snapshot() | {"refusing": 0}, "steps": timer.snapshot(),
             "hit": timer.hits.snapshot()} | asyncio.run(stalled_loop()).sample()
    return asyncio.run(WorkerSamples(None, lambda: local).gather())


async def stalled_loop() -> LoopWatch:
    """A loop watch that saw a few ticks and a 30 ms stall."""
    watch = LoopWatch()
    watch.start()
    await asyncio.sleep(0.005)
    time.sleep(0.03)  # the stall it records: it holds the loop
    await asyncio.sleep(0.005)
    watch.stop()
    return watch


def families(text: str) -> dict[str, Metric]:
    """The families of ``text`` by their exposed name (counters with ``_total``), each declared."""
    found: dict[str, Metric] = {}
    for family in text_string_to_metric_families(text):
        # A sample the parser cannot place in the family declared before it comes out untyped.
        assert family.type in ("counter", "gauge", "histogram"), (family.name, family.type)
        name = family.name + "_total" if family.type == "counter" else family.name
        assert name not in found, f"{name} declared twice"
        assert family.documentation, f"{name} has no HELP"
        found[name] = family
    return found


def histogram_series(family: Metric) -> dict[tuple[tuple[str, str], ...], dict[str, Any]]:
    """Per label set: its buckets as (le, cumulative count), its _sum and its _count."""
    series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for sample in family.samples:
        key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        entry = series.setdefault(key, {"buckets": []})
        if sample.name == family.name + "_bucket":
            entry["buckets"].append((float(sample.labels["le"]), sample.value))
        elif sample.name in (family.name + "_sum", family.name + "_count"):
            entry[sample.name.rsplit("_", 1)[1]] = sample.value
        else:
            raise AssertionError(f"{sample.name} in histogram {family.name}")
    return series


def check_histogram(family: Metric, bounds: Iterable[float]) -> None:
    for labels, entry in histogram_series(family).items():
        les = [le for le, _ in entry["buckets"]]
        counts = [count for _, count in entry["buckets"]]
        assert les == [*bounds, math.inf], (family.name, labels)
        assert counts == sorted(counts), f"{family.name}{labels}: buckets not cumulative"
        assert counts[-1] == entry["count"], f"{family.name}{labels}: +Inf is not _count"
        assert entry["sum"] >= 0


def documented_names() -> set[str]:
    """The metric names in the first column of docs/operating.md's table of metric names."""
    text = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
    section = text.split("### Metric names", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in rows for name in re.findall(r"consent_gateway_[a-z0-9_]+", cell)}


def test_every_family_parses_and_histograms_add_up() -> None:
    found = families(render(full_sample()))
    check_histogram(found["consent_gateway_ingest_step_seconds"], STEP_BUCKETS)
    check_histogram(found["consent_gateway_hit_seconds"], HIT_BUCKETS)
    check_histogram(found["consent_gateway_loop_lag_seconds"], LOOP_BUCKETS)
    assert found["consent_gateway_loop_lag_max_seconds"].type == "gauge"
    steps = histogram_series(found["consent_gateway_ingest_step_seconds"])
    assert {dict(labels)["step"] for labels in steps} == set(PIPELINE_STEPS)
    consent = steps[(("step", "consent"),)]
    assert dict(consent["buckets"])[10e-6] == 2  # 4 µs and 9 µs
    assert consent["count"] == 4 and consent["sum"] == pytest.approx(0.302013)
    hits = histogram_series(found["consent_gateway_hit_seconds"])
    assert {dict(labels)["outcome"] for labels in hits} == set(OUTCOMES)
    stored = hits[(("outcome", "stored"),)]
    assert dict(stored["buckets"])[1.0] == 2 and stored["count"] == 3  # 2 s: only in +Inf


def test_the_names_are_the_documented_ones() -> None:
    assert set(families(render(full_sample()))) == documented_names()


def test_every_counter_the_code_increments_is_named_and_documented() -> None:
    """A new ``metrics.count("name", ...)`` needs a help line here and a row in the docs."""
    counted: set[str] = set()
    for path in (ROOT / "gateway").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        counted |= set(re.findall(r"\.count\(\s*\"([a-z_]+)\"", source))
        counted |= set(re.findall(r"^\w*METRIC = \"([a-z_]+)\"", source, re.M))
        counted |= set(re.findall(r"^\w+ = \(\"([a-z_]+)\", \"[a-z-]+\"\)  # the metric", source, re.M))
    assert {"consent_cookie", "request_body", "dashboard_login", "proxy", "retention"} <= counted
    assert counted | {"hits", "hits_dropped"} <= set(COUNTER_HELP)


def test_two_workers_are_summed_bucket_by_bucket() -> None:
    """Each worker publishes per-bucket counts; ``share.add`` sums them; the rendered histogram is the
    one a single process would show after both workers' hits."""
    first, second, alone = StepTimer(), StepTimer(), StepTimer()
    for timer, durations in ((first, (4_000, 30_000, 30_000, 2 * 10**9)), (second, (10_000, 90_000_000))):
        for nanos in durations:
            for each in (timer, alone):
                each.add("scrub", nanos)
                each.hits.add("stored", nanos * 10)

    def published(timer: StepTimer) -> Sample:  # as the worker's JSON file holds it
        sample: Sample = json.loads(json.dumps({"steps": timer.snapshot(), "hit": timer.hits.snapshot()}))
        return sample

    summed = share.add(share.add({}, published(first)), published(second))
    total = histogram_series(families(render(summed))["consent_gateway_ingest_step_seconds"])
    scrub = total[(("step", "scrub"),)]
    assert [count for le, count in scrub["buckets"] if le in (10e-6, 50e-6, 0.1, math.inf)] == [2, 4, 5, 6]
    assert scrub["count"] == 6
    expected = families(render(published(alone)))
    for name in ("consent_gateway_ingest_step_seconds", "consent_gateway_hit_seconds"):
        got = histogram_series(families(render(summed))[name])
        want = histogram_series(expected[name])
        assert {k: (v["buckets"], v["count"]) for k, v in got.items()} == {
            k: (v["buckets"], v["count"]) for k, v in want.items()}
        assert {k: v["sum"] for k, v in got.items()} == pytest.approx({k: v["sum"] for k, v in want.items()})
