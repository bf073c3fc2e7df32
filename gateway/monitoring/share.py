"""Metrics summed over the worker processes of one ``serve --workers N``.

A scrape reaches one worker at random, so each worker publishes what it counted and the one that
answers sums them all. ``serve`` with several workers names the folder in ``SHARE_ENV`` (a single
process, or an app in tests, keeps its figures to itself). Each worker claims a slot
(``DATA_DIR/metrics/N.lock``, held with flock, so a restarted worker takes the slot its predecessor
left) and writes ``N.json`` (mode 0600, written whole then renamed) every ``INTERVAL`` seconds and
at shutdown.

A sample is ``{"counters": {name: {reason: n}}, "writer": {...}, "spool": {...}, "steps": {...},
"hit": {...}, "loop": {...}}``; ``steps`` and ``hit`` are latency histograms (``{label: {"calls",
"total_ms", "buckets": {le: n}}}``, per-bucket counts, not cumulative), so they sum like any other
count; so does ``loop``'s ``lag`` (gateway/monitoring/loopwatch.py), whose ``max_lag_ms`` is a level
combined with ``max``: the longest stall of any live worker, never a sum of stalls.
Counters only grow: the last sample of a worker that exited stays in the sum, and a worker that
takes over a slot starts from the sample it finds there, so sums never go back within a run (what a
killed worker counted after its last write, at most ``INTERVAL`` seconds, is lost; what an answer
included never is, since the answering worker publishes its sample first). Gauges (``GAUGES``:
rows pending, bytes on disk...) describe the present: only live workers' count, a worker being live
while its sample is younger than ``STALE_AFTER``. ``serve`` empties the folder when it starts, so the
sums start at zero with each run, as Prometheus expects of a restarted target. ``SHARE_ENV`` is no
GATEWAY_* variable: it is not a setting but ``serve``'s word to its workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import fcntl
import json
import logging
import operator
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.monitoring import loopwatch

log = logging.getLogger(__name__)

Sample = dict[str, Any]
SHARE_ENV = "CONSENT_GATEWAY_WORKER_METRICS"
INTERVAL = 1.0
STALE_AFTER = 5 * INTERVAL
MAX_SLOTS = 256
# (section, key) of the figures that are levels, not counts; how live workers' levels combine.
GAUGES: dict[tuple[str, str], Callable[[Any, Any], Any]] = {
    ("writer", "pending_rows"): operator.add,
    ("spool", "bytes_on_disk"): operator.add,
    ("spool", "segments"): operator.add,
    ("spool", "refusing"): operator.add,  # workers whose spool refuses hits
    ("spool", "last_sync_ms"): max,
    (loopwatch.SECTION, loopwatch.MAX): max,  # the longest loop stall since a worker started
}


def clear(folder: Path) -> None:
    """Forget the samples of earlier runs (``serve`` calls this before it starts workers)."""
    for path in folder.glob("*.json"):
        path.unlink(missing_ok=True)


def split(sample: Sample) -> tuple[Sample, Sample]:
    """(counts, levels) of a sample, copies that ``add`` may change."""
    counts: Sample = {}
    levels: Sample = {}
    for section, figures in sample.items():
        if not isinstance(figures, dict):
            continue
        counts[section] = {k: copy.deepcopy(v) for k, v in figures.items() if (section, k) not in GAUGES}
        levels[section] = {k: v for k, v in figures.items() if (section, k) in GAUGES}
    return counts, levels


def add(total: Sample, more: Sample) -> Sample:
    """``total`` with every number of ``more`` added at the same place (nested dicts of numbers)."""
    for key, value in more.items():
        if isinstance(value, dict):
            add(total.setdefault(key, {}), value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value
    return total


def combine_levels(total: Sample, more: Sample) -> Sample:
    for (section, key), merge in GAUGES.items():
        value = more.get(section, {}).get(key)
        if isinstance(value, int | float):
            known = total.setdefault(section, {}).get(key)
            total[section][key] = value if known is None else merge(known, value)
    return total


class WorkerSamples:
    """This worker's slot in ``folder``: publishes its sample, sums everyone's on demand. Without a
    folder, the worker is alone: its own sample is the sum."""

    def __init__(self, folder: Path | None, sample: Callable[[], Sample]) -> None:
        self._folder = folder
        self._sample = sample
        self._slot = -1
        self._lock_fd = -1
        self._base: Sample = {}
        self._task: asyncio.Task[None] | None = None
        # A cancelled publishing task leaves its thread writing: the last sample must not be overwritten.
        self._writing = threading.Lock()
        self._exited = False
        # Samples are numbered when taken: a slower thread's older sample never overwrites a newer
        # one already written (a scrape's answer published first, then the periodic one landing late).
        self._taken = self._written = 0

    @property
    def slot(self) -> int:
        return self._slot

    async def open(self) -> None:
        if self._folder is None:
            return
        await asyncio.to_thread(self._claim)
        self._task = asyncio.create_task(self._publish_forever(), name="metrics-publish")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._lock_fd >= 0:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self._write, *self._stamped(), True)
            os.close(self._lock_fd)
            self._lock_fd = -1

    def local(self) -> Sample:
        """This worker's counts since the run began in its slot, with its current levels."""
        counts, levels = split(self._sample())
        return combine_levels(add(split(self._base)[0], counts), levels)

    async def gather(self) -> Sample:
        """Every worker's counts and the live workers' levels, summed, with a per-worker digest."""
        number, own = self._stamped()
        if self._folder is not None:
            # Published before it is answered: another worker answering the next scrape, or this one
            # killed before its next publishing, then reads at least what this answer says, so the
            # sums never go back between scrapes.
            try:
                await asyncio.to_thread(self._write, number, own, False)
            except OSError as exc:
                log.warning("cannot publish this worker's metrics: %s", exc.strerror or exc)
        others = await asyncio.to_thread(self._read_others) if self._folder is not None else {}
        counts, levels = split(own)
        workers: dict[str, Any] = {str(max(self._slot, 0)): {"live": True, "pid": os.getpid(), "age_s": 0.0,
                                                     "counters": own.get("counters", {})}}
        now = time.time()
        for slot, record in sorted(others.items()):
            sample = record.get("sample", {})
            age = now - float(record.get("written", 0))
            live = not record.get("exited") and age < STALE_AFTER
            other_counts, other_levels = split(sample)
            add(counts, other_counts)
            if live:
                combine_levels(levels, other_levels)
            workers[str(slot)] = {"live": live, "pid": record.get("pid"), "age_s": round(age, 1),
                                  "counters": sample.get("counters", {})}
        total = combine_levels(counts, levels)
        for figures in (*total.get("steps", {}).values(), *total.get("hit", {}).values()):
            calls = figures.get("calls", 0)
            figures["mean_us"] = round(figures.get("total_ms", 0) * 1000 / calls, 2) if calls else 0.0
        total["workers"] = workers
        return total

    def _claim(self) -> None:
        assert self._folder is not None
        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for slot in range(MAX_SLOTS):
            fd = os.open(self._folder / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self._slot, self._lock_fd = slot, fd
            previous = self._read(self._folder / f"{slot}.json")
            if previous is not None:  # a predecessor in this slot exited: go on from its counts
                self._base = split(previous.get("sample", {}))[0]
            return
        raise RuntimeError(f"all {MAX_SLOTS} metrics slots under {self._folder} are taken")

    async def _publish_forever(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            try:
                await asyncio.to_thread(self._write, *self._stamped(), False)
            except OSError as exc:  # a full disk: the sum lags until it frees, the worker goes on
                log.warning("cannot publish this worker's metrics: %s", exc.strerror or exc)

    def _stamp(self) -> int:
        self._taken += 1
        return self._taken

    def _stamped(self) -> tuple[int, Sample]:
        return self._stamp(), self.local()

    def _write(self, number: int, sample: Sample, exited: bool) -> None:
        assert self._folder is not None
        with self._writing:
            if not self._exited and number > self._written:
                self._exited, self._written = exited, number
                self._write_file(self._folder, sample, exited)

    def _write_file(self, folder: Path, sample: Sample, exited: bool) -> None:
        record = {"slot": self._slot, "pid": os.getpid(), "written": time.time(), "exited": exited,
                  "sample": sample}
        path = folder / f"{self._slot}.json"
        temporary = folder / f".{self._slot}.json.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, separators=(",", ":"))
        temporary.replace(path)

    def _read_others(self) -> dict[int, Sample]:
        found: dict[int, Sample] = {}
        if self._folder is None:
            return found
        for path in self._folder.glob("*.json"):
            if path.stem.isdigit() and int(path.stem) != self._slot:
                record = self._read(path)
                if record is not None:
                    found[int(path.stem)] = record
        return found

    @staticmethod
    def _read(path: Path) -> Sample | None:
        try:
            record = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None  # gone meanwhile, or not ours: written whole and renamed, never half
        return record if isinstance(record, dict) and isinstance(record.get("sample"), dict) else None
