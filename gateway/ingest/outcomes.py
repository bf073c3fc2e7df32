"""Every way a tracking hit can end, as one closed list, plus the counters and latency histograms.

A hit is either stored or dropped for exactly one ``Drop`` reason. Drops are normal traffic (no
consent, a crawler), so they are counted, never logged; ``/-/metrics`` shows the counts under
``hits_dropped``. Answers do not depend on the reason (no oracle): a visitor without consent gets
the same response as one with it. Invalid requests are the one exception: they get a 400 that names
the bad parameter, because that says something about the request, never about the visitor.

``StepTimer`` times each pipeline step, and each whole tracking request by its ``HitOutcome``, into
fixed histogram buckets (``/-/metrics``: ``steps`` and ``hit``, per process like the counters).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from enum import StrEnum
from typing import Any, Literal


class Drop(StrEnum):
    NO_CONSENT = "no-consent"  # no valid analytics consent for this site (why: see consent_cookie)
    BEFORE_CONSENT = "before-consent"  # the hit says it happened before the visitor consented
    OPT_IN_REGION = "opt-in-region"  # a default granted under opt-out law, used where opt-in applies
    FOREIGN_ORIGIN = "foreign-origin"  # sent from a page origin the site did not configure
    BOT = "bot"  # crawler, headless browser, link-preview fetcher, monitor, HTTP library
    NOT_RECORDED = "not-recorded"  # rec=1 missing: Matomo's clients send it on every real hit
    UNSUPPORTED = "unsupported"  # a custom action (ca=1) we do not store: media or form analytics
    INVALID = "invalid"  # a bulk entry that failed validation (a single request gets a 400)
    OVERLOADED = "overloaded"  # storage refused it (503): the client may retry


HITS = "hits"  # received, stored
DROPPED = "hits_dropped"
# How a tracking request ended, for its latency: some row stored; nothing to store (every hit dropped,
# a 400 included); storage refused the rows (503).
HitOutcome = Literal["stored", "dropped", "refused"]

# Upper bounds in seconds (Prometheus's ``le``; +Inf is added). A step takes ~5 µs (the consent check)
# to a few ms (buffer: the spool's group-commit fsync); a whole hit from ~50 µs (dropped) up to the
# spool's wait on a slow disk.
STEP_BUCKETS = (10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3)
HIT_BUCKETS = (50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3,
               500e-3, 1.0)


def le_label(bound: float) -> str:
    """A bucket's ``le`` as Prometheus's own clients write it: 1e-05, 0.00025, 0.1, 1.0, +Inf."""
    return repr(float(bound))


class Histogram:
    """Observations in nanoseconds by label (a step, an outcome), counted into fixed buckets.

    On the hot path: one dict lookup, a bisect over a precomputed tuple of integer nanoseconds and two
    list increments per observation. Each label's list holds the per-bucket (not cumulative) counts,
    +Inf last, then the total nanoseconds; the renderer makes them cumulative."""

    __slots__ = ("_bounds_ns", "_counts", "_labels")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        assert list(bounds) == sorted(set(bounds)), "bucket bounds must increase"
        self._bounds_ns = tuple(round(bound * 1e9) for bound in bounds)
        self._labels = (*(le_label(bound) for bound in bounds), "+Inf")
        self._counts: dict[str, list[int]] = {}

    def add(self, label: str, nanos: int) -> None:
        try:
            counts = self._counts[label]
        except KeyError:  # the label's first observation
            counts = self._counts[label] = [0] * (len(self._labels) + 1)
        # bisect_left: an observation equal to a bound belongs to that bound's bucket (le: <=).
        counts[bisect_left(self._bounds_ns, nanos)] += 1
        counts[-1] += nanos

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Plain numbers, JSON-able, that add up across workers: calls, total_ms and buckets by ``le``."""
        figures: dict[str, dict[str, Any]] = {}
        for label, counts in self._counts.items():
            buckets = counts[:-1]
            figures[label] = {"calls": sum(buckets), "total_ms": round(counts[-1] / 1e6, 6),
                              "buckets": dict(zip(self._labels, buckets, strict=True))}
        return figures


class StepTimer(Histogram):
    """Time per ingest step (``add``) and per tracking request by outcome (``hit``), for ``/-/metrics``."""

    __slots__ = ("hits",)

    def __init__(self) -> None:
        super().__init__(STEP_BUCKETS)
        self.hits = Histogram(HIT_BUCKETS)

    def hit(self, outcome: HitOutcome, started: int) -> None:
        """A tracking request that began at ``started`` (``clock_ns``) is answered now."""
        self.hits.add(outcome, clock_ns() - started)


clock_ns = time.perf_counter_ns
