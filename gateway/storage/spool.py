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
``SpoolRefused`` (an ``Overloaded``: the caller answers 503) and ``refusal`` say why, for health.
The spool gets out of it by itself: the failed write is cut back to whole frames and its segment
given up; acknowledged segments, that one included, are deleted as soon as their acks are in
(a write that failed for lack of space is retried at once when that freed some); every later
write tries the disk again, and while none comes a probe deletes what may go and tries a fresh
segment every ``PROBE_INTERVAL`` seconds. The refusal ends when a write that carries records
succeeds, or when the probe can reserve room for the largest record of the write refused last (a
fresh segment's header alone proves nothing: on a nearly full disk it fits where no hit does, and
health would flap). Not the whole failed batch: a group commit can hold more than the disk, and
while the spool refuses no hit comes to try a smaller write. A refusal
that comes back within ``SETTLE`` seconds of its end is the same outage: it keeps its start time,
and its end is logged only once appends have gone on for ``SETTLE`` seconds (one error line and one
warning per outage). A segment whose records are all acknowledged is also rolled over once it
passes ``ROLL_ACKED`` bytes, so that on a small disk the space it holds comes back before the disk
fills. Nothing is answered 2xx before its record is on disk: a refused append was never
submitted, so its rows are not stored either. The file format is in ``spool_format``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import struct
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from gateway.storage.schema import TableSpec
from gateway.storage.spool_files import Replay, Segment, SegmentFiles, SpoolBusy
from gateway.storage.spool_format import (
    HEAD,
    MAGIC,
    RECORD,
    ack_frame,
    decode_rows,
    encode_rows,
    read_record,
    record_head,
    scan_segment,
    schema_frame,
)
from gateway.storage.writer import BatchWriter, Overloaded, Rejected, WriterClosed

__all__ = ["MAGIC", "REPLAY_WINDOW", "Spool", "SpoolBusy", "SpoolFull", "SpoolRefused", "SpoolStats",
           "decode_rows", "encode_rows", "read_record", "scan_segment"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_BIG_BATCH = 256 * 1024         # a batch this big is written at once, without waiting out the interval
REPLAY_WINDOW = 20_000          # rows replay keeps in the writer; the rest of max_pending is for live hits
ROLL_ACKED = 256 * 1024         # a fully acknowledged segment this big is rolled over, then deleted
PROBE_CAP = 256 * 1024          # most room the probe asks for: a record as big as the disk must not lock it
PROBE_INTERVAL = 0.5            # seconds between tries of a refusing disk while no write comes
SETTLE = 5.0                    # seconds a refusal must stay over before it counts (and is logged) as over
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_TROUBLE = {errno.ENOSPC: "spool disk full", errno.EDQUOT: "spool disk over quota",
            errno.EFBIG: "spool file size limit reached", errno.EROFS: "spool disk read-only"}


class SpoolFull(Overloaded):
    """The spool reached its byte cap (ClickHouse has been away long): the caller answers 503."""


class SpoolRefused(Overloaded):
    """The spool's disk refuses writes (full, read-only, failing): the caller answers 503. The
    OSError is the cause; ``Spool.refusal`` says why, once, for the operator."""


@dataclass(slots=True)
class SpoolStats:
    appended_rows: int = 0
    replayed_rows: int = 0
    acked_rows: int = 0     # rows ClickHouse took
    rejected: int = 0       # rows ClickHouse refused for good: acknowledged, logged, never replayed
    corrupt: int = 0        # segments damaged in the middle, read up to the damage
    refusals: int = 0       # appends refused: the disk would not take them, or the byte cap was reached
    bytes_on_disk: int = 0
    segments: int = 0
    last_sync_ms: float = 0.0
    syncs: int = 0

    def snapshot(self) -> dict[str, Any]:
        return asdict(self) | {"last_sync_ms": round(self.last_sync_ms, 3)}


@dataclass(slots=True)
class _Entry:
    seq: int
    table: TableSpec
    rows: Sequence[Sequence[Any]]
    done: asyncio.Future[None]
    size: int  # of its record on disk, framing included


@dataclass(slots=True)
class _Batch:
    data: bytearray = field(default_factory=bytearray)
    entries: list[_Entry] = field(default_factory=list)
    record_bytes: int = 0  # counted against max_bytes until written
    written: asyncio.Future[None] | None = None  # resolved once its entries went to the writer


class Spool:
    def __init__(self, directory: Path, writer: BatchWriter, *, sync_interval: float = 0.0,
                 segment_bytes: int = 16 * 2**20, max_bytes: int = 1 * 2**30,
                 clock: Callable[[], float] = time.time) -> None:
        self._dir = Path(directory)
        self._files = SegmentFiles(self._dir)
        self._writer = writer
        self._sync_interval = sync_interval
        self._segment_bytes = segment_bytes
        self._max_bytes = max_bytes
        self._clock = clock  # for the time a refusal started, shown to the operator
        self._segments: dict[int, Segment] = {}  # ascending numbers
        self._active: Segment | None = None
        self._next_segment = 1
        self._next_seq = 1
        self._schemas: dict[TableSpec, tuple[int, bytes]] = {}  # this run's ids and their frames
        self._batch = _Batch()
        self._flight: _Batch | None = None
        self._queued_bytes = 0
        self._acks: list[tuple[int, int]] = []  # (seq, segment number), to be written
        self._wake = asyncio.Event()
        self._big = asyncio.Event()
        self._last_sync = 0.0
        # One thread owns the file descriptor: writes, fsyncs, segment creation and deletion.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-sync")
        self._task: asyncio.Task[None] | None = None
        self._replay_task: asyncio.Task[None] | None = None
        self._closing = self._stopping = False
        self._refused: tuple[float, str, int] | None = None  # since, why, refusals then: the disk's
        self._needed = 0  # a fresh segment holding the largest record refused last: the probe waits for it
        self._ended: tuple[float, int, float, asyncio.TimerHandle] | None = None  # since, refusals, end, log
        self._capped: tuple[float, int] | None = None  # since, size of the append the byte cap refused
        self._hurry: asyncio.Task[None] | None = None  # a writer flush asked for by a refusal
        self.stats = SpoolStats()

    @property
    def refusal(self) -> str | None:
        """None while appends are accepted; else why not, for the operator (never any visitor data)."""
        if self._refused is not None:
            return self._refused[1]
        return None if self._capped is None else self._cap_reason(self._capped[0])

    def _cap_reason(self, since: float) -> str:
        return (f"spool at its cap of {self._max_bytes} bytes since {_hms(since)}: ClickHouse has not "
                "taken the rows for a while")

    async def open(self) -> int:
        """Recover earlier segments; returns the rows being replayed (in order, in the background)."""
        if self._task is not None:
            raise RuntimeError("the spool is already open")
        recovered = await self._run_io(self._files.recover)
        self._segments, self._next_segment = recovered.segments, recovered.next_segment
        self._next_seq = recovered.next_seq
        self.stats.corrupt += recovered.corrupt
        self.stats.bytes_on_disk = sum(segment.size for segment in self._segments.values())
        self.stats.segments = len(self._segments)
        try:
            await self._new_segment()
        except OSError as exc:  # a full disk at start: serve, refuse hits, and recover like at any time
            await self._refuse(exc, [], 0)
        await self._collect()  # segments of earlier runs that are fully acknowledged
        self._task = asyncio.create_task(self._run(), name="spool-sync")
        self._task.add_done_callback(_report_crash)
        replays = recovered.replays
        rows = sum(r.scan.counts[i] for r in replays for i in r.pending)
        if rows:
            log.info("spool: replaying %d row(s) that ClickHouse had not acknowledged", rows)
            self._replay_task = asyncio.create_task(self._replay(replays), name="spool-replay")
            self._replay_task.add_done_callback(_report_crash)
        return rows

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
        batch.entries.append(_Entry(self._next_seq, table, rows, done, size))
        self._next_seq += 1
        batch.record_bytes += size
        self._queued_bytes += size
        self._wake.set()
        if len(batch.data) >= _BIG_BATCH:
            self._big.set()
        await done

    async def close(self) -> None:
        """Write what is queued, let the writer flush once, record its acks, fsync, stop.

        Records still unacknowledged stay on disk for the next ``open``. Close the writer after.
        """
        if self._task is None or self._stopping:
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
        with contextlib.suppress(Exception):
            await self._writer.flush()
        if self._hurry is not None:
            await self._hurry
        await asyncio.sleep(0)  # the writer's futures' callbacks queue the acks
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(Exception):
            await self._task  # a crash of it was logged already
        self._active = None  # every segment may go now, the last one too
        await self._collect()
        if self._ended is not None:  # the end of a refusal, not logged yet: now, or never
            self._ended[3].cancel()
            self._log_end()
        await self._run_io(self._files.close)
        self._executor.shutdown(wait=True)

    # --- the sync task ------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # While the disk refuses, wake up now and then to try it even if nothing is written.
            probe = loop.call_later(PROBE_INTERVAL, self._wake.set) if self._refused is not None else None
            await self._wake.wait()
            if probe is not None:
                probe.cancel()
            if self._batch.entries and not self._stopping:
                # Group commit: an fsync at most every sync_interval, unless the batch is big. Appends
                # arriving meanwhile (or while the previous fsync runs) share the next one.
                delay = self._last_sync + self._sync_interval - loop.time()
                if delay > 0 and not self._big.is_set():
                    timer = loop.call_later(delay, self._big.set)  # lighter than wait_for: no task
                    await self._big.wait()
                    timer.cancel()
            self._wake.clear()
            self._big.clear()
            await self._write(final=self._stopping)
            if self._stopping:
                return

    async def _write(self, *, final: bool) -> None:
        batch, self._batch = self._batch, _Batch()
        self._flight = batch
        # An ack of a deleted segment protects nothing: its records went with it.
        acks = [ack for ack in self._acks if ack[1] in self._segments]
        self._acks = []
        data = batch.data + ack_frame([seq for seq, _ in acks]) if acks else batch.data
        sync = bool(batch.entries) or final
        try:
            if not (batch.entries or acks or (final and self._active is not None)):
                if self._refused is not None and not final:
                    await self._probe()
                return
            try:
                active, took = await self._put(data, sync)
            except OSError as exc:
                # Space an acknowledged segment held (the failed one's too, now given up) comes back
                # at once: worth one more try before refusing the batch.
                if exc.errno not in _NO_SPACE or not await self._collect():
                    raise
                active, took = await self._put(data, sync)
        except Exception as exc:
            self._acks[:0] = acks  # written with the next batch
            await self._refuse(exc, batch.entries, len(data))
        else:
            self._account(active, batch, acks, len(data), took)
            if batch.entries:  # records, not just acks (a few bytes): the disk takes hits again
                self._resume()
            self._submit(active, batch.entries)
            await self._collect()
            if self._refused is not None and not final:
                await self._probe()  # the acks may have freed the room the refused write needs
        finally:
            self._queued_bytes -= batch.record_bytes
            self._flight = None
            if batch.written is not None and not batch.written.done():
                batch.written.set_result(None)

    async def _put(self, data: bytearray, sync: bool) -> tuple[Segment, float | None]:
        """Write ``data`` at the end of the active segment, or of a fresh one: when there is none (a
        write failed), when the active one is full, or when its records are all acknowledged and it
        is big enough to be worth deleting (on a small disk, the space it holds may be all there is)."""
        active = self._active
        try:
            if active is None or (active.records and (active.size + len(data) > self._segment_bytes or (
                    active.pending <= 0 and active.size >= ROLL_ACKED))):
                active = await self._new_segment()
            if sync:
                self._last_sync = asyncio.get_running_loop().time()
            took = await self._run_io(self._files.append, data, sync)
        except Exception:
            self._active = None  # given up (see SegmentFiles.append): the next write starts a fresh one
            raise
        return active, took if sync else None

    async def _probe(self) -> None:
        """While the disk refuses and no record is written: delete what may go, and once room for the
        largest record refused last can be reserved (``SegmentFiles.fits``), try a fresh segment and
        end the refusal. A fresh segment alone is no proof: its header fits on a nearly full disk
        where no hit does, and health would flap."""
        await self._collect()
        if not await self._run_io(self._files.fits, self._needed):
            return
        if self._active is None:
            try:
                await self._new_segment()
            except OSError:
                return
        self._resume()

    async def _refuse(self, exc: Exception, entries: list[_Entry], size: int) -> None:
        if not isinstance(exc, OSError):  # not the disk: a bug; the appends fail with it as it is
            log.error("spool: cannot write %d record(s)", len(entries), exc_info=exc)
            for entry in entries:
                _fail(entry.done, exc)
            return
        # The largest record, not the batch: this probe is the only way out while health keeps hits
        # away, and a batch can be bigger than the disk. Capped, for a record bigger than the disk.
        largest = max((entry.size for entry in entries), default=size)
        self._needed = len(self._preamble()) + min(largest, PROBE_CAP)
        if self._refused is None:
            since, refusals = self._clock(), self.stats.refusals
            free = await self._run_io(self._files.free_bytes)
            ended, self._ended = self._ended, None
            if ended is not None:  # back within SETTLE of its end: the same outage, logged already
                since, refusals, _, pending_log = ended
                pending_log.cancel()
            trouble = _TROUBLE.get(exc.errno or 0) or f"spool disk failing ({exc.strerror or exc})"
            free_text = "" if free is None else f": {free} bytes free in {self._dir}"
            self._refused = since, f"{trouble} since {_hms(since)}{free_text}", refusals
            if ended is None:
                log.error("spool: %s; hits are answered 503 until it takes writes again", self._refused[1])
            # Records waiting for the writer's next flush may hold the space: flushed now, they are
            # acknowledged and their segment goes a flush interval sooner.
            if not self._stopping and (self._hurry is None or self._hurry.done()):
                self._hurry = asyncio.create_task(self._flush_writer(), name="spool-hurry-writer")
        self.stats.refusals += len(entries)
        for entry in entries:
            refused = SpoolRefused(self._refused[1])
            refused.__cause__ = exc
            _fail(entry.done, refused)

    async def _flush_writer(self) -> None:
        with contextlib.suppress(Exception):  # ClickHouse down too: the writer retries on its own
            await self._writer.flush()

    def _resume(self) -> None:
        """Accept appends again; the end is logged once no refusal came back for ``SETTLE`` seconds."""
        if self._refused is not None:
            since, _, refusals = self._refused
            self._refused = None
            pending_log = asyncio.get_running_loop().call_later(SETTLE, self._log_end)
            self._ended = since, refusals, self._clock(), pending_log

    def _log_end(self) -> None:
        if self._ended is not None:
            since, refusals, end, _ = self._ended
            self._ended = None
            log.warning("spool: the disk takes writes again, after %.1f s and %d refused append(s)",
                        end - since, self.stats.refusals - refusals)

    def _account(self, segment: Segment, batch: _Batch, acks: list[tuple[int, int]], size: int,
                 took: float | None) -> None:
        segment.size += size
        self.stats.bytes_on_disk += size
        if batch.entries:
            if not segment.records:
                segment.first_seq = batch.entries[0].seq
            segment.last_seq = batch.entries[-1].seq
            segment.records += len(batch.entries)
            segment.pending += len(batch.entries)
        segment.needs.update(number for _, number in acks if number != segment.number)
        if took is not None:
            self.stats.syncs += 1
            self.stats.last_sync_ms = took * 1000

    def _submit(self, segment: Segment, entries: list[_Entry]) -> None:
        # Here rather than in append(): an appender that went away still has its record submitted,
        # and records reach the writer in the order they reached the disk.
        for entry in entries:
            try:
                accepted = self._writer.submit(entry.table, entry.rows)
            except Exception as exc:
                # The caller refuses the hit (503), so its record must not come back at the next start.
                self._ack(entry.seq, segment.number)
                _fail(entry.done, exc)
                continue
            accepted.add_done_callback(partial(self._settled, entry.seq, segment.number, len(entry.rows),
                                               entry.table.name))
            self.stats.appended_rows += len(entry.rows)
            if not entry.done.done():
                entry.done.set_result(None)

    def _settled(self, seq: int, number: int, count: int, table: str, accepted: asyncio.Future[None]) -> None:
        if accepted.cancelled():
            return
        exc = accepted.exception()
        if exc is None:
            self.stats.acked_rows += count
        elif isinstance(exc, Rejected):
            self.stats.rejected += count
            log.error("spool: ClickHouse refused %d row(s) for %s for good; their record is acknowledged "
                      "and will not be replayed", count, table)
        else:
            return  # e.g. NotDurable: the writer stopped first; the record waits for the next open
        self._ack(seq, number)

    def _ack(self, seq: int, number: int) -> None:
        self._acks.append((seq, number))
        segment = self._segments.get(number)
        if segment is not None:
            segment.pending -= 1
        if not self._stopping:
            self._wake.set()

    async def _new_segment(self) -> Segment:
        number = self._next_segment
        self._next_segment += 1
        path = self._files.path(number)
        preamble = self._preamble()
        await self._run_io(self._files.create, path, preamble)
        segment = self._active = self._segments[number] = Segment(number, path, len(preamble))
        self.stats.bytes_on_disk += len(preamble)
        self.stats.segments = len(self._segments)
        return segment

    def _preamble(self) -> bytes:
        return MAGIC + b"".join(frame for _, frame in self._schemas.values())

    async def _collect(self) -> int:
        """Delete segments whose records are all acknowledged and whose acks nobody needs; the bytes
        this freed."""
        gone = []
        for number, segment in list(self._segments.items()):  # ascending: needs point backwards only
            needed = segment.needs & self._segments.keys()
            if segment is not self._active and segment.pending <= 0 and not needed:
                del self._segments[number]
                gone.append(segment)
        if not gone:
            return 0
        failed = set(await self._run_io(self._files.delete, [segment.path for segment in gone]))
        if failed:  # kept, and tried again at the next collection
            self._segments.update((segment.number, segment) for segment in gone if segment.path in failed)
            self._segments = dict(sorted(self._segments.items()))
        freed = sum(segment.size for segment in gone if segment.path not in failed)
        self.stats.bytes_on_disk -= freed
        self.stats.segments = len(self._segments)
        if self._capped is not None and self.stats.bytes_on_disk + self._queued_bytes + self._capped[1] \
                <= self._max_bytes:
            self._capped = None  # the append the cap refused would fit now
        return freed

    async def _run_io(self, call: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    # --- replay -------------------------------------------------------------------------------

    async def _replay(self, replays: list[Replay]) -> None:
        for replay in replays:
            segment, scan = replay.segment, replay.scan
            data = await asyncio.to_thread(segment.path.read_bytes)
            for n, index in enumerate(replay.pending):
                seq = scan.seqs[index]
                try:
                    _, schema, rows = read_record(data, scan.offsets[index])
                    # The record's own columns: one written before an upgrade still inserts by name.
                    table = scan.schemas[schema]
                    if any(len(row) != len(table.columns) for row in rows):
                        raise ValueError("row width")
                except (ValueError, KeyError, TypeError, OverflowError, struct.error) as exc:
                    # Whole (its CRC holds) yet unreadable: a bug, not a crash. Retrying cannot help.
                    self.stats.rejected += scan.counts[index]
                    log.error("spool: record %d in %s cannot be decoded (%s); dropped", seq,
                              segment.path.name, type(exc).__name__)
                    self._ack(seq, segment.number)
                    continue
                try:
                    accepted = await self._resubmit(table, rows)
                except WriterClosed:
                    log.info("spool: the writer closed during replay; the rest waits for the next start")
                    return
                accepted.add_done_callback(partial(self._settled, seq, segment.number, len(rows), table.name))
                self.stats.replayed_rows += len(rows)
                if n % 100 == 99:
                    await asyncio.sleep(0)  # start-up and live hits go on meanwhile

    async def _resubmit(self, table: TableSpec, rows: list[list[Any]]) -> asyncio.Future[None]:
        """Submit, leaving room in the writer for live hits; wait (never drop) while it is full."""
        delay = 0.05
        while True:
            if self._writer.stats.pending_rows < REPLAY_WINDOW:
                with contextlib.suppress(Overloaded):
                    return self._writer.submit(table, rows)
            await asyncio.sleep(delay)
            delay = min(2 * delay, 1.0)


def _hms(moment: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(moment))


def _fail(future: asyncio.Future[None], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("spool: task %s stopped unexpectedly", task.get_name(), exc_info=task.exception())
