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

On disk, little-endian, one folder per process (a lock file keeps a second one out):
  spool-<n>.log = MAGIC frame*              frame = u32 len | u32 crc32(body) | body
  body = "S" u32 schema | JSON {"t": table, "c": [columns]}   (a table's columns, once per segment)
       | "R" u64 seq | u32 schema | u32 row count | JSON [[value, ...], ...]
       | "A" (u64 first seq | u32 count)*                      (acknowledged records)
Values are JSON where JSON fits (str, int, float, bool, null, lists for Arrays); every JSON object
is a tag: {"d": µs since 1970} a tz-aware datetime, read back as UTC (clickhouse-connect would
shift a naive one by the local zone), {"n": iso} a naive one, {"D": iso} a date, {"u": hex} a UUID,
{"m": {...}} a Map. Maps are always wrapped, so no key of a Map can pass for a tag. Nothing but
the rows, their table and column names is written: the caller hands in rows already free of IPs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import fcntl
import json
import logging
import os
import re
import struct
import time
import uuid
import zlib
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from gateway.storage.schema import TableSpec
from gateway.storage.writer import BatchWriter, Overloaded, Rejected, WriterClosed

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAGIC = b"CGSPOOL\x01"
_HEAD = struct.Struct("<II")    # body length, crc32 of the body
_RECORD = struct.Struct("<cQII")  # "R", seq, schema, row count
_SCHEMA = struct.Struct("<cI")  # "S", schema
_RANGE = struct.Struct("<QI")   # first seq, count
_NAME = re.compile(r"spool-(\d+)\.log")
_BIG_BATCH = 256 * 1024         # a batch this big is written at once, without waiting out the interval
REPLAY_WINDOW = 20_000          # rows replay keeps in the writer; the rest of max_pending is for live hits

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_PLAIN = frozenset({str, int, float, bool, type(None)})
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


class SpoolBusy(RuntimeError):
    """Another process holds this spool folder (each process needs its own)."""


class SpoolFull(Overloaded):
    """The spool reached its byte cap (ClickHouse has been away long): the caller answers 503."""


@dataclass(slots=True)
class SpoolStats:
    appended_rows: int = 0
    replayed_rows: int = 0
    acked_rows: int = 0     # rows ClickHouse took
    rejected: int = 0       # rows ClickHouse refused for good: acknowledged, logged, never replayed
    corrupt: int = 0        # segments damaged in the middle, read up to the damage
    bytes_on_disk: int = 0
    segments: int = 0
    last_sync_ms: float = 0.0
    syncs: int = 0

    def snapshot(self) -> dict[str, Any]:
        return asdict(self) | {"last_sync_ms": round(self.last_sync_ms, 3)}


# --- the record codec -------------------------------------------------------------------------

def encode_rows(rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows as compact JSON; TypeError for a value the spool cannot keep exactly."""
    # On every hit's path: plain values, nearly all of a row, cost one set lookup each.
    return _dumps([[v if type(v) in _PLAIN else _tag(v) for v in row] for row in rows]).encode(
        "utf-8", "surrogatepass")


def decode_rows(payload: bytes) -> list[list[Any]]:
    rows: list[list[Any]] = json.loads(payload.decode("utf-8", "surrogatepass"))
    for row in rows:
        for i, value in enumerate(row):
            if type(value) is dict or type(value) is list:
                row[i] = _untag(value)
    return rows


def _tag(value: Any) -> Any:
    kind = type(value)
    if kind is dt.datetime:
        if value.utcoffset() is None:
            return {"n": value.isoformat()}
        return {"d": (value - _EPOCH) // _MICROSECOND}  # exact, and the same instant whatever the zone
    if kind is uuid.UUID:
        return {"u": value.hex}
    if kind is dict:
        if not all(type(key) is str for key in value):
            raise TypeError("the spool keeps Maps with str keys only")
        return {"m": {k: v if type(v) in _PLAIN else _tag(v) for k, v in value.items()}}
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else _tag(v) for v in value]
    if kind is dt.date:
        return {"D": value.isoformat()}
    raise TypeError(f"the spool cannot keep a {kind.__name__} value")


def _untag(value: Any) -> Any:
    if type(value) is list:
        return [_untag(v) if type(v) is dict or type(v) is list else v for v in value]
    [(tag, inner)] = value.items()
    if tag == "d":
        return _EPOCH + inner * _MICROSECOND
    if tag == "u":
        return uuid.UUID(hex=inner)
    if tag == "m":
        return {k: _untag(v) if type(v) is dict or type(v) is list else v for k, v in inner.items()}
    if tag == "n":
        return dt.datetime.fromisoformat(inner)
    if tag == "D":
        return dt.date.fromisoformat(inner)
    raise ValueError(f"unknown tag {tag!r} in a spool record")


def _frame(body: bytes) -> bytes:
    return _HEAD.pack(len(body), zlib.crc32(body)) + body


# --- reading segments back ----------------------------------------------------------------------

@dataclass(slots=True)
class _Scan:
    """What a segment holds, read without decoding any row."""

    seqs: array[int] = field(default_factory=lambda: array("Q"))
    offsets: array[int] = field(default_factory=lambda: array("Q"))  # of each record's frame
    counts: array[int] = field(default_factory=lambda: array("I"))   # rows in each record
    acks: list[tuple[int, int]] = field(default_factory=list)        # (first seq, count)
    schemas: dict[int, TableSpec] = field(default_factory=dict)
    end: int = 0            # where the last whole frame ends
    torn: bool = False      # the rest is an interrupted write: cut it off
    corrupt: bool = False   # damage with data after it: the rest of the segment cannot be framed


def scan_segment(data: bytes) -> _Scan:
    scan = _Scan()
    if not data.startswith(MAGIC):
        scan.torn = MAGIC.startswith(data)  # created, header not yet written
        scan.corrupt = not scan.torn
        return scan
    pos = scan.end = len(MAGIC)
    view = memoryview(data)
    while pos < len(data):
        if pos + _HEAD.size > len(data):
            scan.torn = True  # the write stopped inside a frame's header
            return scan
        length, crc = _HEAD.unpack_from(data, pos)
        end = pos + _HEAD.size + length
        if end > len(data):
            scan.torn = True  # ... or its body (or the length is damaged: nothing after it can be framed)
            return scan
        body = view[pos + _HEAD.size:end]
        if not (length and zlib.crc32(body) == crc and _read_body(scan, body, pos)):
            # A bad last frame, or zeros to the end (a crash can leave a file longer than what was
            # written), is a write that never finished; anything else is damage in the middle.
            scan.torn = end == len(data) or data.count(0, pos) == len(data) - pos
            scan.corrupt = not scan.torn
            return scan
        pos = scan.end = end
    return scan


def _read_body(scan: _Scan, body: memoryview, offset: int) -> bool:
    kind = body[:1].tobytes()
    try:
        if kind == b"R":
            _, seq, _schema, count = _RECORD.unpack_from(body)
            scan.seqs.append(seq)
            scan.offsets.append(offset)
            scan.counts.append(count)
        elif kind == b"A":
            scan.acks.extend(_RANGE.iter_unpack(body[1:]))
        elif kind == b"S":
            _, schema = _SCHEMA.unpack_from(body)
            spec = json.loads(body[_SCHEMA.size:].tobytes())
            scan.schemas[schema] = TableSpec(spec["t"], tuple(spec["c"]))
        else:
            return False
    except (struct.error, ValueError, KeyError, TypeError):
        return False
    return True


def read_record(data: bytes, offset: int) -> tuple[int, int, list[list[Any]]]:
    """(seq, schema, rows) of the record frame at ``offset`` of a scanned segment."""
    length, _ = _HEAD.unpack_from(data, offset)
    start = offset + _HEAD.size
    _, seq, schema, _count = _RECORD.unpack_from(data, start)
    return seq, schema, decode_rows(data[start + _RECORD.size:start + length])


# --- the spool --------------------------------------------------------------------------------

@dataclass(slots=True)
class _Segment:
    number: int
    path: Path
    size: int
    records: int = 0
    pending: int = 0        # records without an ack
    first_seq: int = 0      # records in a segment have increasing seqs: [first_seq, last_seq]
    last_seq: int = -1
    # Segments whose records this one's acks cover: while any of them is on disk, this one must stay,
    # or those records would be replayed again.
    needs: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Entry:
    seq: int
    table: TableSpec
    rows: Sequence[Sequence[Any]]
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Batch:
    data: bytearray = field(default_factory=bytearray)
    entries: list[_Entry] = field(default_factory=list)
    record_bytes: int = 0  # counted against max_bytes until written
    written: asyncio.Future[None] | None = None  # resolved once its entries went to the writer


@dataclass(slots=True)
class _Replay:
    segment: _Segment
    scan: _Scan
    pending: list[int]  # indexes into scan.seqs/offsets


class Spool:
    def __init__(self, directory: Path, writer: BatchWriter, *, sync_interval: float = 0.0,
                 segment_bytes: int = 16 * 2**20, max_bytes: int = 1 * 2**30) -> None:
        self._dir = Path(directory)
        self._writer = writer
        self._sync_interval = sync_interval
        self._segment_bytes = segment_bytes
        self._max_bytes = max_bytes
        self._segments: dict[int, _Segment] = {}  # ascending numbers
        self._active: _Segment | None = None
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
        self._fd = self._lock_fd = -1
        self._fd_size = 0
        self._task: asyncio.Task[None] | None = None
        self._replay_task: asyncio.Task[None] | None = None
        self._closing = self._stopping = False
        self.stats = SpoolStats()

    async def open(self) -> int:
        """Recover earlier segments; returns the rows being replayed (in order, in the background)."""
        if self._task is not None:
            raise RuntimeError("the spool is already open")
        loop = asyncio.get_running_loop()
        replays = await loop.run_in_executor(self._executor, self._recover)
        await self._new_segment(MAGIC)
        await self._collect()  # segments of earlier runs that are fully acknowledged
        self._task = asyncio.create_task(self._run(), name="spool-sync")
        self._task.add_done_callback(_report_crash)
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

        SpoolFull past ``max_bytes``; the writer's Overloaded/WriterClosed as they come (the record
        is then acknowledged at once, as the caller refuses the hit); OSError when the disk fails
        (full, read-only, I/O error): the caller answers 503. Never a silent loss.
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
            known = len(self._schemas), _frame(_SCHEMA.pack(b"S", len(self._schemas))
                                               + _dumps({"t": table.name, "c": table.columns}).encode())
            self._schemas[table] = known
            batch.data += known[1]
        head = _RECORD.pack(b"R", self._next_seq, known[0], len(rows))
        size = _HEAD.size + len(head) + len(payload)
        if self.stats.bytes_on_disk + self._queued_bytes + size > self._max_bytes:
            raise SpoolFull(f"the spool holds {self.stats.bytes_on_disk} bytes, its cap")
        batch.data += _HEAD.pack(len(head) + len(payload), zlib.crc32(payload, zlib.crc32(head)))
        batch.data += head
        batch.data += payload
        done = asyncio.get_running_loop().create_future()
        batch.entries.append(_Entry(self._next_seq, table, rows, done))
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
        await asyncio.sleep(0)  # the writer's futures' callbacks queue the acks
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(Exception):
            await self._task  # a crash of it was logged already
        self._active = None  # every segment may go now, the last one too
        await self._collect()
        await self._run_io(self._close_files)
        self._executor.shutdown(wait=True)

    # --- the sync task ------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
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
            if self._batch.entries or self._acks or (self._stopping and self._active is not None):
                await self._write(final=self._stopping)
            if self._stopping:
                return

    async def _write(self, *, final: bool) -> None:
        batch, self._batch = self._batch, _Batch()
        self._flight = batch
        acks, self._acks = self._acks, []
        data = batch.data
        if acks:
            data = data + _frame(b"A" + b"".join(_RANGE.pack(first, count) for first, count in _ranges(acks)))
        sync = bool(batch.entries) or final
        try:
            active = self._active
            if active is None or (active.records and active.size + len(data) > self._segment_bytes):
                preamble = MAGIC + b"".join(frame for _, frame in self._schemas.values())
                active = await self._new_segment(preamble)
            if sync:
                self._last_sync = asyncio.get_running_loop().time()
            took = await self._run_io(self._append, data, sync)
        except Exception as exc:
            self._acks[:0] = acks  # written with the next batch
            self._active = None    # the next batch starts a fresh segment (see _append)
            if batch.entries:
                log.error("spool: cannot write %d record(s), the appends fail: %s", len(batch.entries),
                          f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}")
            for entry in batch.entries:
                _fail(entry.done, exc)
        else:
            self._account(active, batch, acks, len(data), took if sync else None)
            self._submit(active, batch.entries)
            await self._collect()
        finally:
            self._queued_bytes -= batch.record_bytes
            self._flight = None
            if batch.written is not None and not batch.written.done():
                batch.written.set_result(None)

    def _account(self, segment: _Segment, batch: _Batch, acks: list[tuple[int, int]], size: int,
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

    def _submit(self, segment: _Segment, entries: list[_Entry]) -> None:
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

    async def _new_segment(self, preamble: bytes) -> _Segment:
        number = self._next_segment
        self._next_segment += 1
        path = self._dir / f"spool-{number:012d}.log"
        await self._run_io(self._create, path, preamble)
        segment = self._active = self._segments[number] = _Segment(number, path, len(preamble))
        self.stats.bytes_on_disk += len(preamble)
        self.stats.segments = len(self._segments)
        return segment

    async def _collect(self) -> None:
        """Delete segments whose records are all acknowledged and whose acks nobody needs."""
        gone = []
        for number, segment in list(self._segments.items()):  # ascending: needs point backwards only
            needed = segment.needs & self._segments.keys()
            if segment is not self._active and segment.pending <= 0 and not needed:
                del self._segments[number]
                gone.append(segment)
        if gone:
            self.stats.bytes_on_disk -= sum(segment.size for segment in gone)
            self.stats.segments = len(self._segments)
            try:
                await self._run_io(self._delete, [segment.path for segment in gone])
            except OSError as exc:  # the next open finds them fully acknowledged and tries again
                log.warning("spool: cannot delete acknowledged segments: %s", exc)

    async def _run_io(self, call: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    # --- replay -------------------------------------------------------------------------------

    async def _replay(self, replays: list[_Replay]) -> None:
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

    # --- on the sync thread -------------------------------------------------------------------

    def _recover(self) -> list[_Replay]:
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock()
        found = sorted((int(m[1]), path) for path in self._dir.iterdir() if (m := _NAME.fullmatch(path.name)))
        self._next_segment = found[-1][0] + 1 if found else 1
        scanned: list[tuple[_Segment, _Scan]] = []
        acked: set[int] = set()
        top = 0
        for number, path in found:
            data = path.read_bytes()
            scan = scan_segment(data)
            if scan.corrupt and not scan.end:
                log.warning("spool: %s is not a spool segment of this version; left alone", path.name)
                continue
            if scan.corrupt:
                self.stats.corrupt += 1
                log.warning("spool: %s is damaged at byte %d; the records after it are lost", path.name,
                            scan.end)
            elif scan.torn and scan.end < len(data):
                log.info("spool: %s ends in an interrupted write, cut at byte %d", path.name, scan.end)
                with path.open("r+b") as file:
                    file.truncate(scan.end)
                    os.fsync(file.fileno())
                data = data[:scan.end]
            segment = _Segment(number, path, len(data), records=len(scan.seqs))
            if scan.seqs:
                segment.first_seq, segment.last_seq = scan.seqs[0], scan.seqs[-1]
                top = max(top, segment.last_seq)
            for first, count in scan.acks:
                acked.update(range(first, first + count))
                top = max(top, first + count - 1)
            scanned.append((segment, scan))
            self._segments[number] = segment
        replays = []
        for segment, scan in scanned:
            pending = [i for i, seq in enumerate(scan.seqs) if seq not in acked]
            segment.pending = len(pending)
            for first, count in scan.acks:
                segment.needs.update(other.number for other, _ in scanned if other is not segment
                                     and other.records and other.first_seq < first + count
                                     and first <= other.last_seq)
            if pending:
                replays.append(_Replay(segment, scan, pending))
        self._next_seq = top + 1
        self.stats.bytes_on_disk = sum(segment.size for segment in self._segments.values())
        self.stats.segments = len(self._segments)
        return replays

    def _lock(self) -> None:
        fd = os.open(self._dir / "spool.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise SpoolBusy(f"another process uses the spool folder {self._dir}") from None
        self._lock_fd = fd

    def _create(self, path: Path, preamble: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, preamble)
            os.fdatasync(fd)
            _sync_dir(self._dir)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._fd_size = fd, len(preamble)

    def _append(self, data: bytearray, sync: bool) -> float:
        started = time.perf_counter()
        try:
            _write_all(self._fd, data)
            if sync:
                os.fdatasync(self._fd)
        except OSError:
            # Cut the file back to its last whole frame: a partial frame with good ones after it would
            # read as damage and cost those at replay. After a failed fsync the kernel may have dropped
            # the pages (and a later fsync succeeds anyway), so this file takes nothing more either.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._fd_size)
            os.close(self._fd)
            self._fd = -1
            raise
        self._fd_size += len(data)
        return time.perf_counter() - started

    def _delete(self, paths: list[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)
        _sync_dir(self._dir)

    def _close_files(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1


def _ranges(acks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Acknowledged seqs as (first, count) runs: a writer flush acknowledges long runs at once."""
    runs: list[tuple[int, int]] = []
    for seq in sorted(seq for seq, _ in acks):
        if runs and runs[-1][0] + runs[-1][1] == seq:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((seq, 1))
    return runs


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if not written:
            raise OSError(errno.EIO, "write returned 0")
        view = view[written:]


def _sync_dir(path: Path) -> None:
    """Make a file's creation or removal durable: the directory entry lives in the directory."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fail(future: asyncio.Future[None], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("spool: task %s stopped unexpectedly", task.get_name(), exc_info=task.exception())
