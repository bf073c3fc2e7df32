"""Timing shared by the micro-benchmarks: best and median µs per call over several runs.

Best-of-N because this VM's speed drifts by ~30 % between minutes; the median shows the spread.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def measure(label: str, calls: int, run: Callable[[], None], repeat: int,
            target: float | None = None) -> None:
    """``run`` makes ``calls`` calls; prints the best and median µs per call over ``repeat`` runs, and
    whether the best is under ``target`` µs when one is given."""
    per_call = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        run()
        per_call.append((time.perf_counter_ns() - started) / calls / 1000)
    best, median = min(per_call), statistics.median(per_call)
    verdict = "" if target is None else ("  ok" if best < target else "  OVER TARGET")
    print(f"{label:<58} {calls:>9,} calls  best {best:8.2f} µs  median {median:8.2f} µs{verdict}")
