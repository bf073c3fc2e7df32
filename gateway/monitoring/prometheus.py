"""The Prometheus text exposition format (0.0.4) of the summed metrics sample.

Names: ``consent_gateway_<counter>_total{reason="..."}`` for every counter of ``Metrics`` (hits,
hits_dropped, consent_cookie...), ``consent_gateway_writer_*`` and ``consent_gateway_spool_*`` for
the batching writer and the spool (``_total`` counters; levels such as rows pending or bytes on disk
are gauges), two histograms, ``consent_gateway_ingest_step_seconds{step}`` and
``consent_gateway_hit_seconds{outcome}`` (``HISTOGRAMS``), the event loop's stalls
(``consent_gateway_loop_lag_seconds``, a histogram without labels, and the gauge
``consent_gateway_loop_lag_max_seconds``, the longest of any live worker: ``LOOP``), and
``consent_gateway_workers``. A figure the tables below do not know is exported under its own name,
as a counter unless ``metrics_share.GAUGES`` lists it.

A histogram's sample holds per-bucket counts keyed by ``le`` (bounds chosen in
gateway/ingest/outcomes.py and gateway/monitoring/loopwatch.py), summed over workers; here they
become Prometheus's cumulative ``_bucket`` series, with ``+Inf`` equal to ``_count``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from gateway.monitoring import loopwatch
from gateway.monitoring.share import GAUGES, Sample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "consent_gateway_"
COUNTER_HELP = {
    "hits": "Tracking requests received, and hits stored.",
    "hits_dropped": "Tracking hits not stored, by reason (a closed list).",
    "tracking_answers": "Answers to tracking hits (GET and POST), by HTTP status.",
    "consent_cookie": "Consent cookies that did not count, by problem.",
    "consent_decision": "Consent decisions answered, by action; rejected, not-logged, cross-site apart.",
    "consent_sync": "Consent ledger synchronisation with other instances, by outcome.",
    "retention": "Retention sweeps and the rows they expired or retagged.",
    "consent_budget": "Consent decisions of a client over its budget (not logged, or 429), by source.",
    "rights": "Visitor and owner data-rights requests, by outcome.",
    "geoip": "GeoIP lookups that failed.",
    "clickhouse": "Requests answered 503 because ClickHouse failed them, by how.",
    "request_body": "Request bodies refused, by reason.",
    "proxy": "Requests with forwarding headers from a peer not declared as a proxy.",
    "dashboard_login": "Dashboard logins refused, by reason.",
    "visit_summary": "The visit summary's builder: runs, days built (with visits, without), builds raced, "
                     "old generations deleted, failed runs.",
}
# Sample section -> (metric name without prefix, label, help).
HISTOGRAMS: dict[str, tuple[str, str, str]] = {
    "steps": ("ingest_step_seconds", "step", "Time spent in each step of the ingest pipeline (buffer: the "
              "wait for the spool's fsync)."),
    "hit": ("hit_seconds", "outcome", "Tracking requests from their arrival to their answer, the spool's "
            "fsync included, by outcome (stored, dropped, refused)."),
}
# The loop watch's section: its histogram and its longest stall (metric name without prefix, help).
LOOP = {
    loopwatch.LAG: ("loop_lag_seconds", "How late the event loop ran a timer due every 2 ms: the "
                    "loop's stalls, during which no request of the worker moves."),
    loopwatch.MAX: ("loop_lag_max_seconds", "The longest event-loop stall since a worker started (the "
                    "longest of the live workers)."),
}
# (section, key) -> (metric name without prefix, help, label of a nested dict, scale)
FIGURES: dict[tuple[str, str], tuple[str, str, str, float]] = {
    ("writer", "pending_rows"): ("writer_pending_rows", "Rows buffered for ClickHouse.", "", 1),
    ("writer", "rows_written"): ("writer_rows_written", "Rows inserted into ClickHouse.", "", 1),
    ("writer", "batches_written"): ("writer_batches_written", "Inserts into ClickHouse.", "", 1),
    ("writer", "insert_failures"): ("writer_insert_failures", "Inserts that failed and were retried.", "", 1),
    ("writer", "rows_rejected"): ("writer_rows_rejected", "Rows ClickHouse refused for good, by table.",
                                  "table", 1),
    ("writer", "rows_filtered"): ("writer_rows_filtered", "Rows dropped before their insert: erased or "
                                  "superseded meanwhile.", "", 1),
    ("writer", "insert_seconds"): ("writer_insert_seconds", "Time spent in successful inserts.", "", 1),
    ("spool", "appended_rows"): ("spool_appended_rows", "Rows written to the spool.", "", 1),
    ("spool", "replayed_rows"): ("spool_replayed_rows", "Rows replayed from an earlier run's spool.", "", 1),
    ("spool", "acked_rows"): ("spool_acked_rows", "Spooled rows ClickHouse took.", "", 1),
    ("spool", "rejected"): ("spool_rejected_rows", "Spooled rows ClickHouse refused for good.", "", 1),
    ("spool", "corrupt"): ("spool_corrupt_segments", "Spool segments found damaged.", "", 1),
    ("spool", "refusals"): ("spool_refusals", "Appends the spool refused (a full disk, its byte cap): 503s.",
                            "", 1),
    ("spool", "syncs"): ("spool_syncs", "fsyncs of the spool.", "", 1),
    ("spool", "bytes_on_disk"): ("spool_bytes", "Bytes of spool segments on disk.", "", 1),
    ("spool", "segments"): ("spool_segments", "Spool segment files.", "", 1),
    ("spool", "last_sync_ms"): ("spool_last_sync_seconds", "Duration of the latest spool fsync (the "
                                "slowest of the workers).", "", 0.001),
    ("spool", "refusing"): ("spool_refusing", "Workers whose spool refuses hits (they answer 503).", "", 1),
}
_BAD_NAME = re.compile(r"[^a-zA-Z0-9_]")


def render(total: Sample) -> str:
    return "".join(line + "\n" for line in _lines(total))


def _lines(total: Sample) -> Iterator[str]:
    for name, reasons in sorted(total.get("counters", {}).items()):
        metric = f"{PREFIX}{_name(name)}_total"
        samples = [(_labels(reason=str(reason)), value) for reason, value in sorted(reasons.items())]
        yield from _family(metric, "counter", COUNTER_HELP.get(name, f"Count of {name}, by reason."), samples)
    for section in ("writer", "spool"):
        for key, value in sorted(total.get(section, {}).items()):
            yield from _figure(section, key, value)
    for section, (name, label, help_text) in HISTOGRAMS.items():
        series = total.get(section, {})
        if series:
            yield from _histogram(PREFIX + name, label, help_text, series)
    yield from _loop(total.get(loopwatch.SECTION, {}))
    live = sum(1 for worker in total.get("workers", {}).values() if worker.get("live"))
    yield from _family(f"{PREFIX}workers", "gauge", "Worker processes whose figures are live.", [("", live)])


def _figure(section: str, key: str, value: Any) -> Iterator[str]:
    gauge = (section, key) in GAUGES
    name, help_text, label, scale = FIGURES.get((section, key), (f"{section}_{_name(key)}",
                                                                 f"{section} {key}.", "key", 1))
    if isinstance(value, dict):
        samples = [(_labels(**{label: str(k)}), v * scale) for k, v in sorted(value.items())
                   if isinstance(v, int | float)]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        samples = [("", value * scale)]
    else:
        return
    metric = PREFIX + name + ("" if gauge else "_total")
    yield from _family(metric, "gauge" if gauge else "counter", help_text, samples)


def _loop(section: dict[str, Any]) -> Iterator[str]:
    lag, longest = section.get(loopwatch.LAG), section.get(loopwatch.MAX)
    if isinstance(lag, dict) and lag:
        name, help_text = LOOP[loopwatch.LAG]
        yield from _histogram(PREFIX + name, "", help_text, {"": lag})
    if isinstance(longest, int | float) and not isinstance(longest, bool):
        name, help_text = LOOP[loopwatch.MAX]
        yield from _family(PREFIX + name, "gauge", help_text, [("", longest / 1000)])


def _histogram(metric: str, label: str, help_text: str, series: dict[str, Any]) -> Iterator[str]:
    """One histogram family; ``label`` names the key of ``series`` (none when empty: one series)."""
    yield f"# HELP {metric} {help_text}"
    yield f"# TYPE {metric} histogram"
    for value, figures in sorted(series.items()):
        buckets = figures.get("buckets", {})
        bounds = sorted((bound, count) for le, count in buckets.items()
                        if (bound := _bound(le)) is not None and math.isfinite(bound))
        # +Inf is everything, so it equals _count even for a bucket this code no longer names.
        count = sum(buckets.values()) if buckets else figures.get("calls", 0)
        running = 0
        own = {label: value} if label else {}
        for bound, number in bounds:
            running += number
            yield f"{metric}_bucket{_labels(**own, le=repr(bound))} {_value(running)}"
        yield f"{metric}_bucket{_labels(**own, le='+Inf')} {_value(count)}"
        labels = _labels(**own)
        yield f"{metric}_sum{labels} {_value(figures.get('total_ms', 0) / 1000)}"
        yield f"{metric}_count{labels} {_value(count)}"


def _bound(le: str) -> float | None:
    try:
        return float(le)
    except ValueError:
        return None


def _family(metric: str, kind: str, help_text: str, samples: Any) -> Iterator[str]:
    yield f"# HELP {metric} {help_text}"
    yield f"# TYPE {metric} {kind}"
    for labels, value in samples:
        yield f"{metric}{labels} {_value(value)}"


def _name(text: str) -> str:
    return _BAD_NAME.sub("_", text)


def _labels(**labels: str) -> str:
    inner = ",".join(f'{_name(key)}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}" if inner else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(number: float) -> str:
    if isinstance(number, int) or float(number).is_integer():
        return str(int(number))
    return repr(float(number))
