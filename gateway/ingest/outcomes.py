"""Every way a tracking hit can end, as one closed list, plus the counters and step timings.

A hit is either stored or dropped for exactly one ``Drop`` reason. Drops are normal traffic (no
consent, a crawler), so they are counted, never logged; ``/-/metrics`` shows the counts under
``hits_dropped``. Answers do not depend on the reason (no oracle): a visitor without consent gets
the same response as one with it. Invalid requests are the one exception: they get a 400 that names
the bad parameter, because that says something about the request, never about the visitor.
"""

from __future__ import annotations

import time
from enum import StrEnum


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


class StepTimer:
    """Calls and total time per ingest step, for ``/-/metrics`` (per process, like the counters)."""

    def __init__(self) -> None:
        self._calls: dict[str, int] = {}
        self._nanos: dict[str, int] = {}

    def add(self, step: str, nanos: int) -> None:
        self._calls[step] = self._calls.get(step, 0) + 1
        self._nanos[step] = self._nanos.get(step, 0) + nanos

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {step: {"calls": calls, "total_ms": round(self._nanos[step] / 1e6, 3),
                       "mean_us": round(self._nanos[step] / calls / 1e3, 2)}
                for step, calls in self._calls.items()}


clock_ns = time.perf_counter_ns
