"""The spool's segments as the event loop keeps them, and what one write of the sync task does.

A write puts a group commit's records, and the acks queued since the last write, at the end of the
active segment with one fsync; its records are then submitted to the BatchWriter in the order they
reached the disk, and when the writer's future resolves (ClickHouse took the rows, or refused them
for good) an ack is queued for the next write. A segment is rolled over when full, and also once its
records are all acknowledged and it passes ``ROLL_ACKED`` bytes, so that on a small disk the space it
holds comes back before the disk fills; it is deleted once its records are all acknowledged and no
segment's records depend on its acks. A write the disk refuses starts a refusal (``spool_refusal``),
which a later write that carries records, or the probe, ends. Files are touched on one thread
(``spool_files``); ``SpoolStats`` are the spool's figures, for health and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from gateway.storage.failures import Rejected
from gateway.storage.schema import TableSpec
from gateway.storage.spool_files import Recovered, Segment, SegmentFiles
from gateway.storage.spool_format import MAGIC, ack_frame
from gateway.storage.spool_refusal import NO_SPACE, PROBE_CAP, DiskRefusal, SpoolRefused
from gateway.storage.writer import BatchWriter

log = logging.getLogger("gateway.storage.spool")
_T = TypeVar("_T")

ROLL_ACKED = 256 * 1024         # a fully acknowledged segment this big is rolled over, then deleted


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
class Entry:
    seq: int
    table: TableSpec
    rows: Sequence[Sequence[Any]]
    done: asyncio.Future[None]
    size: int  # of its record on disk, framing included


@dataclass(slots=True)
class Batch:
    data: bytearray = field(default_factory=bytearray)
    entries: list[Entry] = field(default_factory=list)
    record_bytes: int = 0  # counted against max_bytes until written
    written: asyncio.Future[None] | None = None  # resolved once its entries went to the writer


class Segments:
    def __init__(self, directory: Path, writer: BatchWriter, stats: SpoolStats,
                 schemas: dict[TableSpec, tuple[int, bytes]], wake: asyncio.Event, *, segment_bytes: int,
                 clock: Callable[[], float], collected: Callable[[], None]) -> None:
        self._files = SegmentFiles(directory)
        self._writer = writer
        self.stats = stats
        self._schemas = schemas  # the spool's: this run's ids and their frames, in every fresh segment
        self._wake = wake  # the spool's sync task: an ack wakes it to be written
        self._segment_bytes = segment_bytes
        self._collected = collected  # told after segments were deleted (the byte cap may let appends in)
        self._on_disk: dict[int, Segment] = {}  # ascending numbers
        self._active: Segment | None = None
        self._next_segment = 1
        self._acks: list[tuple[int, int]] = []  # (seq, segment number), to be written
        self.last_sync = 0.0
        self.stopping = False  # the last write is under way: acks no longer wake the sync task
        # One thread owns the file descriptor: writes, fsyncs, segment creation and deletion.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-sync")
        self._hurry: asyncio.Task[None] | None = None  # a writer flush asked for by a refusal
        self.refusal = DiskRefusal(directory, clock, lambda: stats.refusals, self._hurry_writer)

    async def open(self) -> Recovered:
        """Recover earlier segments, start a fresh one, delete the earlier ones fully acknowledged."""
        recovered = await self._run_io(self._files.recover)
        self._on_disk, self._next_segment = recovered.segments, recovered.next_segment
        self.stats.corrupt += recovered.corrupt
        self.stats.bytes_on_disk = sum(segment.size for segment in self._on_disk.values())
        self.stats.segments = len(self._on_disk)
        try:
            await self._new_segment()
        except OSError as exc:  # a full disk at start: serve, refuse hits, and recover like at any time
            await self._refuse(exc, [], 0)
        await self.collect()  # segments of earlier runs that are fully acknowledged
        return recovered

    async def write(self, batch: Batch, *, final: bool) -> None:
        """Put ``batch`` and the acks queued so far on disk, then hand its records to the writer."""
        # An ack of a deleted segment protects nothing: its records went with it.
        acks = [ack for ack in self._acks if ack[1] in self._on_disk]
        self._acks = []
        data = batch.data + ack_frame([seq for seq, _ in acks]) if acks else batch.data
        sync = bool(batch.entries) or final
        if not (batch.entries or acks or (final and self._active is not None)):
            if self.refusal.current is not None and not final:
                await self._probe()
            return
        try:
            try:
                active, took = await self._put(data, sync)
            except OSError as exc:
                # Space an acknowledged segment held (the failed one's too, now given up) comes back
                # at once: worth one more try before refusing the batch.
                if exc.errno not in NO_SPACE or not await self.collect():
                    raise
                active, took = await self._put(data, sync)
        except Exception as exc:
            self._acks[:0] = acks  # written with the next batch
            await self._refuse(exc, batch.entries, len(data))
        else:
            self._account(active, batch, acks, len(data), took)
            if batch.entries:  # records, not just acks (a few bytes): the disk takes hits again
                self.refusal.resume()
            self._submit(active, batch.entries)
            await self.collect()
            if self.refusal.current is not None and not final:
                await self._probe()  # the acks may have freed the room the refused write needs

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
                self.last_sync = asyncio.get_running_loop().time()
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
        await self.collect()
        if not await self._run_io(self._files.fits, self.refusal.needed):
            return
        if self._active is None:
            try:
                await self._new_segment()
            except OSError:
                return
        self.refusal.resume()

    async def _refuse(self, exc: Exception, entries: list[Entry], size: int) -> None:
        if not isinstance(exc, OSError):  # not the disk: a bug; the appends fail with it as it is
            log.error("spool: cannot write %d record(s)", len(entries), exc_info=exc)
            for entry in entries:
                _fail(entry.done, exc)
            return
        # The largest record, not the batch: this probe is the only way out while health keeps hits
        # away, and a batch can be bigger than the disk. Capped, for a record bigger than the disk.
        largest = max((entry.size for entry in entries), default=size)
        why = await self.refusal.refuse(exc, len(self._preamble()) + min(largest, PROBE_CAP),
                                        lambda: self._run_io(self._files.free_bytes))
        self.stats.refusals += len(entries)
        for entry in entries:
            refused = SpoolRefused(why)
            refused.__cause__ = exc
            _fail(entry.done, refused)

    def _hurry_writer(self) -> None:
        # Records waiting for the writer's next flush may hold the space: flushed now, they are
        # acknowledged and their segment goes a flush interval sooner.
        if not self.stopping and (self._hurry is None or self._hurry.done()):
            self._hurry = asyncio.create_task(self._flush_writer(), name="spool-hurry-writer")

    async def _flush_writer(self) -> None:
        with contextlib.suppress(Exception):  # ClickHouse down too: the writer retries on its own
            await self._writer.flush()

    async def hurried(self) -> None:
        """Wait for the writer flush a refusal asked for, if any."""
        if self._hurry is not None:
            await self._hurry

    def _account(self, segment: Segment, batch: Batch, acks: list[tuple[int, int]], size: int,
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

    def _submit(self, segment: Segment, entries: list[Entry]) -> None:
        # Here rather than in append(): an appender that went away still has its record submitted,
        # and records reach the writer in the order they reached the disk.
        for entry in entries:
            try:
                accepted = self._writer.submit(entry.table, entry.rows)
            except Exception as exc:
                # The caller refuses the hit (503), so its record must not come back at the next start.
                self.ack(entry.seq, segment.number)
                _fail(entry.done, exc)
                continue
            accepted.add_done_callback(partial(self.settled, entry.seq, segment.number, len(entry.rows),
                                               entry.table.name))
            self.stats.appended_rows += len(entry.rows)
            if not entry.done.done():
                entry.done.set_result(None)

    def settled(self, seq: int, number: int, count: int, table: str, accepted: asyncio.Future[None]) -> None:
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
        self.ack(seq, number)

    def ack(self, seq: int, number: int) -> None:
        self._acks.append((seq, number))
        segment = self._on_disk.get(number)
        if segment is not None:
            segment.pending -= 1
        if not self.stopping:
            self._wake.set()

    async def _new_segment(self) -> Segment:
        number = self._next_segment
        self._next_segment += 1
        path = self._files.path(number)
        preamble = self._preamble()
        await self._run_io(self._files.create, path, preamble)
        segment = self._active = self._on_disk[number] = Segment(number, path, len(preamble))
        self.stats.bytes_on_disk += len(preamble)
        self.stats.segments = len(self._on_disk)
        return segment

    def _preamble(self) -> bytes:
        return MAGIC + b"".join(frame for _, frame in self._schemas.values())

    async def collect(self) -> int:
        """Delete segments whose records are all acknowledged and whose acks nobody needs; the bytes
        this freed."""
        gone = []
        for number, segment in list(self._on_disk.items()):  # ascending: needs point backwards only
            needed = segment.needs & self._on_disk.keys()
            if segment is not self._active and segment.pending <= 0 and not needed:
                del self._on_disk[number]
                gone.append(segment)
        if not gone:
            return 0
        failed = set(await self._run_io(self._files.delete, [segment.path for segment in gone]))
        if failed:  # kept, and tried again at the next collection
            self._on_disk.update((segment.number, segment) for segment in gone if segment.path in failed)
            self._on_disk = dict(sorted(self._on_disk.items()))
        freed = sum(segment.size for segment in gone if segment.path not in failed)
        self.stats.bytes_on_disk -= freed
        self.stats.segments = len(self._on_disk)
        self._collected()
        return freed

    async def close(self) -> None:
        """After the last write: delete what may go, the last segment too; release the folder."""
        self._active = None  # every segment may go now, the last one too
        await self.collect()
        self.refusal.finish()
        await self._run_io(self._files.close)
        self._executor.shutdown(wait=True)

    async def _run_io(self, call: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)


def _fail(future: asyncio.Future[None], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
