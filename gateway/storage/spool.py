"""The write-ahead spool: a hit is on disk before it is answered, and reaches ClickHouse after.

How a row travels:
  ``append`` encodes the rows into a record (event loop, a few µs) and queues it → the sync task
  writes every record queued since its last write and fsyncs once, on its own thread (group
  commit) → each record is submitted to the BatchWriter in order, and ``append`` returns → when the
  writer's future resolves (ClickHouse took the rows, or refused them for good) an ack is queued
  and written with the next write, with no fsync of its own → a segment whose records are all
  acknowledged is deleted. ``open`` replays the records of earlier runs that have no ack, in the
background (``replay_done`` waits for it). At shutdown: ``spool.close()`` (it flushes the writer once
so that the acks are recorded), then ``writer.close()``.

At least once, not exactly once: a crash after ClickHouse took a batch but before its acks reach
the file (one writer flush plus one sync interval; after a power cut, since the last fsync) sends
that batch again at the next start. The writer's deduplication token does not help here: a
replayed batch is cut differently and carries a new token. Rows are only stored twice, never lost.

A disk that refuses writes (full, over quota, read-only, failing) makes ``append`` raise
``SpoolRefused``, and a spool at its byte cap ``SpoolFull`` (each an ``Overloaded``: the caller
answers 503); ``refusal`` says why, for health, and the spool gets out of it by itself. Nothing is
answered 2xx before its record is on disk: a refused append was never submitted, so its rows are not
stored either.

Here: ``Spool``, the queue ``append`` fills (the byte cap checked on the way, on every hit's path),
when the sync task writes (the group commit), and the order of ``open`` and ``close``. The rest of
the family: ``spool_segments`` (what one write does: segments, fsync, submission, acks, deletion),
``spool_refusal`` (a refusing disk, and how that ends), ``spool_replay`` (earlier runs' records),
``spool_files`` (the files, on the sync thread) and ``spool_format`` (the bytes on disk).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gateway.storage.failures import WriterClosed
from gateway.storage.schema import TableSpec
from gateway.storage.spool_files import SpoolBusy
from gateway.storage.spool_format import (
    HEAD,
    MAGIC,
    RECORD,
    decode_rows,
    encode_rows,
    read_record,
    record_head,
    scan_segment,
    schema_frame,
)
from gateway.storage.spool_refusal import PROBE_INTERVAL, SpoolFull, SpoolRefused, hms
from gateway.storage.spool_replay import REPLAY_WINDOW, pending_rows, replay
from gateway.storage.spool_segments import Batch, Entry, Segments, SpoolStats
from gateway.storage.writer import BatchWriter

__all__ = ["MAGIC", "PROBE_INTERVAL", "REPLAY_WINDOW", "Spool", "SpoolBusy", "SpoolFull", "SpoolRefused",
           "SpoolStats", "decode_rows", "encode_rows", "read_record", "scan_segment"]

log = logging.getLogger(__name__)

_BIG_BATCH = 256 * 1024         # a batch this big is written at once, without waiting out the interval


class Spool:
    def __init__(self, directory: Path, writer: BatchWriter, *, sync_interval: float = 0.0,
                 segment_bytes: int = 16 * 2**20, max_bytes: int = 1 * 2**30,
                 clock: Callable[[], float] = time.time) -> None:
        self._writer = writer
        self._sync_interval = sync_interval
        self._max_bytes = max_bytes
        self._clock = clock  # for the time a refusal started, shown to the operator
        self._next_seq = 1
        self._schemas: dict[TableSpec, tuple[int, bytes]] = {}  # this run's ids and their frames
        self._batch = Batch()
        self._flight: Batch | None = None
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._big = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._replay_task: asyncio.Task[None] | None = None
        self._closing = False
        self._capped: tuple[float, int] | None = None  # since, size of the append the byte cap refused
        self.stats = SpoolStats()
        self._segments = Segments(Path(directory), writer, self.stats, self._schemas, self._wake,
                                  segment_bytes=segment_bytes, clock=clock, collected=self._uncap)
        self._refusal = self._segments.refusal  # the disk's

    @property
    def refusal(self) -> str | None:
        """None while appends are accepted; else why not, for the operator (never any visitor data)."""
        if self._refusal.current is not None:
            return self._refusal.current[1]
        return None if self._capped is None else self._cap_reason(self._capped[0])

    def _cap_reason(self, since: float) -> str:
        return (f"spool at its cap of {self._max_bytes} bytes since {hms(since)}: ClickHouse has not "
                "taken the rows for a while")

    def _uncap(self) -> None:
        if self._capped is not None and self.stats.bytes_on_disk + self._queued_bytes + self._capped[1] \
                <= self._max_bytes:
            self._capped = None  # the append the cap refused would fit now

    async def open(self) -> int:
        """Recover earlier segments; returns the rows being replayed (in order, in the background)."""
        if self._task is not None:
            raise RuntimeError("the spool is already open")
        recovered = await self._segments.open()
        self._next_seq = recovered.next_seq
        self._task = asyncio.create_task(self._run(), name="spool-sync")
        self._task.add_done_callback(_report_crash)
        replays = recovered.replays
        rows = pending_rows(replays)
        if rows:
            log.info("spool: replaying %d row(s) that ClickHouse had not acknowledged", rows)
            self._replay_task = asyncio.create_task(replay(replays, self._writer, self.stats, self._segments),
                                                    name="spool-replay")
            self._replay_task.add_done_callback(_report_crash)
        return rows

    @property
    def replaying(self) -> bool:
        """Earlier runs' records are still being handed to the writer (readiness waits for it)."""
        return self._replay_task is not None and not self._replay_task.done()

    async def replay_done(self) -> None:
        """Wait until every recovered record has been handed to the writer."""
        if self._replay_task is not None:
            await asyncio.shield(self._replay_task)

    async def append(self, table: TableSpec, rows: Sequence[Sequence[Any]]) -> None:
        """Return once ``rows`` are fsync'd and submitted to the writer.

        SpoolFull past ``max_bytes``; SpoolRefused when the disk does not take the record (full,
        read-only, I/O error); the writer's Overloaded/WriterClosed as they come (the record is then
        acknowledged at once, as the caller refuses the hit). The caller answers 503 to each. Never
        a silent loss: a refused record is neither answered nor stored.
        """
        if self._closing or self._task is None:
            raise WriterClosed("the spool is not open")
        if not rows:
            return
        width = len(table.columns)
        for row in rows:
            if len(row) != width:  # checked here: a record the writer refuses would wait on disk forever
                raise ValueError(f"every row for {table.name} must have {width} values")
        payload = encode_rows(rows)
        batch = self._batch
        known = self._schemas.get(table)
        if known is None:
            known = self._schemas[table] = len(self._schemas), schema_frame(len(self._schemas), table)
            batch.data += known[1]
        size = HEAD.size + RECORD.size + len(payload)
        if self.stats.bytes_on_disk + self._queued_bytes + size > self._max_bytes:
            self.stats.refusals += 1
            if self._capped is None:
                self._capped = self._clock(), size
                log.warning("spool: %s; hits are answered 503 meanwhile", self._cap_reason(self._capped[0]))
            raise SpoolFull(f"the spool holds {self.stats.bytes_on_disk} bytes, its cap")
        self._capped = None
        batch.data += record_head(self._next_seq, known[0], len(rows), payload)
        batch.data += payload
        done = asyncio.get_running_loop().create_future()
        batch.entries.append(Entry(self._next_seq, table, rows, done, size))
        self._next_seq += 1
        batch.record_bytes += size
        self._queued_bytes += size
        self._wake.set()
        if len(batch.data) >= _BIG_BATCH:
            self._big.set()
        await done

    async def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, let the writer flush once (for up to ``timeout`` s), record its acks,
        fsync, stop.

        Records still unacknowledged stay on disk for the next ``open``. Close the writer after.
        """
        if self._task is None or self._segments.stopping:
            return
        self._closing = True
        if self._replay_task is not None:
            self._replay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replay_task
        while (batch := self._flight or (self._batch if self._batch.entries else None)) is not None:
            if self._task.done():
                break
            self._wake.set()
            self._big.set()
            if batch.written is None:
                batch.written = asyncio.get_running_loop().create_future()
            await asyncio.wait([batch.written])
        # Without this, rows the writer inserts after the spool closed would be replayed next time.
        # Shielded: cancelling it would not stop its insert; the writer's close takes its turn after it
        # (their flushes share a lock) within what is left of the stop's time, and what ClickHouse did
        # not take stays spooled for the next start.
        flush = asyncio.ensure_future(self._writer.flush())
        flush.add_done_callback(_retrieve)  # cut short, its failure is the writer's close's to report
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(flush), timeout)
        await self._segments.hurried()
        await asyncio.sleep(0)  # the writer's futures' callbacks queue the acks
        self._segments.stopping = True
        self._wake.set()
        with contextlib.suppress(Exception):
            await self._task  # a crash of it was logged already
        await self._segments.close()

    # --- the sync task ------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # While the disk refuses, wake up now and then to try it even if nothing is written.
            refusing = self._refusal.current is not None
            probe = loop.call_later(PROBE_INTERVAL, self._wake.set) if refusing else None
            await self._wake.wait()
            if probe is not None:
                probe.cancel()
            if self._batch.entries and not self._segments.stopping:
                # Group commit: an fsync at most every sync_interval, unless the batch is big. Appends
                # arriving meanwhile (or while the previous fsync runs) share the next one.
                delay = self._segments.last_sync + self._sync_interval - loop.time()
                if delay > 0 and not self._big.is_set():
                    timer = loop.call_later(delay, self._big.set)  # lighter than wait_for: no task
                    await self._big.wait()
                    timer.cancel()
            self._wake.clear()
            self._big.clear()
            await self._write(final=self._segments.stopping)
            if self._segments.stopping:
                return

    async def _write(self, *, final: bool) -> None:
        batch, self._batch = self._batch, Batch()
        self._flight = batch
        try:
            await self._segments.write(batch, final=final)
        finally:
            self._queued_bytes -= batch.record_bytes
            self._flight = None
            if batch.written is not None and not batch.written.done():
                batch.written.set_result(None)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("spool: task %s stopped unexpectedly", task.get_name(), exc_info=task.exception())


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
