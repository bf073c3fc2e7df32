"""Why the spool refuses an append, and how a disk's refusal ends by itself.

Two refusals, each an ``Overloaded`` the caller answers with 503: ``SpoolFull`` once the spool holds
its byte cap (ClickHouse has not taken the rows for a while; ``Spool.append`` checks the cap, on the
hit's path), and ``SpoolRefused`` when the disk refuses writes (full, over quota, read-only, failing),
whose course ``DiskRefusal`` keeps: since when and why (``Spool.refusal`` says it, for health), the
room the probe waits for, and the one warning when it is over.

The spool gets out of a disk's refusal by itself (``spool_segments``): the failed write is cut back
to whole frames and its segment given up; acknowledged segments, that one included, are deleted as
soon as their acks are in (a write that failed for lack of space is retried at once when that freed
some); every later write tries the disk again, and while none comes a probe deletes what may go and
tries a fresh segment every ``PROBE_INTERVAL`` seconds. The refusal ends when a write that carries
records succeeds, or when the probe can reserve room for the largest record of the write refused last
(a fresh segment's header alone proves nothing: on a nearly full disk it fits where no hit does, and
health would flap). Not the whole failed batch: a group commit can hold more than the disk, and while
the spool refuses no hit comes to try a smaller write. A refusal that comes back within ``SETTLE``
seconds of its end is the same outage: it keeps its start time, and its end is logged only once
appends have gone on for ``SETTLE`` seconds (one error line and one warning per outage).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.storage.failures import Overloaded

log = logging.getLogger("gateway.storage.spool")

PROBE_CAP = 256 * 1024          # most room the probe asks for: a record as big as the disk must not lock it
PROBE_INTERVAL = 0.5            # seconds between tries of a refusing disk while no write comes
SETTLE = 5.0                    # seconds a refusal must stay over before it counts (and is logged) as over
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_TROUBLE = {errno.ENOSPC: "spool disk full", errno.EDQUOT: "spool disk over quota",
            errno.EFBIG: "spool file size limit reached", errno.EROFS: "spool disk read-only"}


class SpoolFull(Overloaded):
    """The spool reached its byte cap (ClickHouse has been away long): the caller answers 503."""


class SpoolRefused(Overloaded):
    """The spool's disk refuses writes (full, read-only, failing): the caller answers 503. The
    OSError is the cause; ``Spool.refusal`` says why, once, for the operator."""


class DiskRefusal:
    """The disk's refusal as the operator sees it: since when and why, and its end, logged once."""

    def __init__(self, directory: Path, clock: Callable[[], float], refusals: Callable[[], int],
                 started: Callable[[], None]) -> None:
        self._dir = directory
        self._clock = clock  # for the time a refusal started, shown to the operator
        self._refusals = refusals  # the spool's count of refused appends: the end says what an outage cost
        self._started = started  # told when a refusal starts (the spool hurries its writer)
        self.current: tuple[float, str, int] | None = None  # since, why, refusals then
        self.needed = 0  # a fresh segment holding the largest record refused last: the probe waits for it
        self._ended: tuple[float, int, float, asyncio.TimerHandle] | None = None  # since, refusals, end, log

    @property
    def reason(self) -> str | None:
        return None if self.current is None else self.current[1]

    async def refuse(self, exc: OSError, needed: int, free_bytes: Callable[[], Awaitable[int | None]]) -> str:
        """A write failed with ``exc``: the refusal starts or goes on; why, for the appends it fails.
        ``needed`` is the room the probe must find before it ends the refusal."""
        self.needed = needed
        if self.current is None:
            since, refusals = self._clock(), self._refusals()
            free = await free_bytes()
            ended, self._ended = self._ended, None
            if ended is not None:  # back within SETTLE of its end: the same outage, logged already
                since, refusals, _, pending_log = ended
                pending_log.cancel()
            trouble = _TROUBLE.get(exc.errno or 0) or f"spool disk failing ({exc.strerror or exc})"
            free_text = "" if free is None else f": {free} bytes free in {self._dir}"
            self.current = since, f"{trouble} since {hms(since)}{free_text}", refusals
            if ended is None:
                log.error("spool: %s; hits are answered 503 until it takes writes again", self.current[1])
            self._started()
        return self.current[1]

    def resume(self) -> None:
        """Accept appends again; the end is logged once no refusal came back for ``SETTLE`` seconds."""
        if self.current is not None:
            since, _, refusals = self.current
            self.current = None
            pending_log = asyncio.get_running_loop().call_later(SETTLE, self._log_end)
            self._ended = since, refusals, self._clock(), pending_log

    def finish(self) -> None:
        """At close: the end of a refusal, not logged yet, is logged now, or never."""
        if self._ended is not None:
            self._ended[3].cancel()
            self._log_end()

    def _log_end(self) -> None:
        if self._ended is not None:
            since, refusals, end, _ = self._ended
            self._ended = None
            log.warning("spool: the disk takes writes again, after %.1f s and %d refused append(s)",
                        end - since, self._refusals() - refusals)


def hms(moment: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(moment))
