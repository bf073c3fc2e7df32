"""The replay after a crash or an outage: the records of earlier runs that have no ack, sent again.

``Spool.open`` recovers the segments (``spool_files``: torn tails cut off, acks matched to records)
and starts ``replay`` in the background; ``Spool.replay_done`` waits for it. Each pending record is
read back and submitted to the writer in order, under the columns it was written with (one written
before an upgrade still inserts by name), with room left in the writer for live hits: replay keeps at
most ``REPLAY_WINDOW`` rows there and waits, never drops, while the writer is full. Its ack is
queued like a live record's when the writer's future resolves. A record that is whole (its CRC
holds) yet cannot be decoded is a bug, not a crash: retrying cannot help, so it is counted as
rejected, acknowledged and dropped. If the writer closes meanwhile, the rest waits for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from functools import partial
from typing import Any

from gateway.storage.failures import Overloaded, WriterClosed
from gateway.storage.schema import TableSpec
from gateway.storage.spool_files import Replay
from gateway.storage.spool_format import read_record
from gateway.storage.spool_segments import Segments, SpoolStats
from gateway.storage.writer import BatchWriter

log = logging.getLogger("gateway.storage.spool")

REPLAY_WINDOW = 20_000          # rows replay keeps in the writer; the rest of max_pending is for live hits


def pending_rows(replays: list[Replay]) -> int:
    """The rows of the records in ``replays`` that ClickHouse has not acknowledged."""
    return sum(r.scan.counts[i] for r in replays for i in r.pending)


async def replay(replays: list[Replay], writer: BatchWriter, stats: SpoolStats, segments: Segments) -> None:
    """Hand every pending record of ``replays`` to ``writer``, in order; ``segments`` acks them."""
    for one in replays:
        segment, scan = one.segment, one.scan
        data = await asyncio.to_thread(segment.path.read_bytes)
        for n, index in enumerate(one.pending):
            seq = scan.seqs[index]
            try:
                _, schema, rows = read_record(data, scan.offsets[index])
                # The record's own columns: one written before an upgrade still inserts by name.
                table = scan.schemas[schema]
                if any(len(row) != len(table.columns) for row in rows):
                    raise ValueError("row width")
            except (ValueError, KeyError, TypeError, OverflowError, struct.error) as exc:
                # Whole (its CRC holds) yet unreadable: a bug, not a crash. Retrying cannot help.
                stats.rejected += scan.counts[index]
                log.error("spool: record %d in %s cannot be decoded (%s); dropped", seq,
                          segment.path.name, type(exc).__name__)
                segments.ack(seq, segment.number)
                continue
            try:
                accepted = await _resubmit(writer, table, rows)
            except WriterClosed:
                log.info("spool: the writer closed during replay; the rest waits for the next start")
                return
            accepted.add_done_callback(partial(segments.settled, seq, segment.number, len(rows), table.name))
            stats.replayed_rows += len(rows)
            if n % 100 == 99:
                await asyncio.sleep(0)  # start-up and live hits go on meanwhile


async def _resubmit(writer: BatchWriter, table: TableSpec, rows: list[list[Any]]) -> asyncio.Future[None]:
    """Submit, leaving room in the writer for live hits; wait (never drop) while it is full."""
    delay = 0.05
    while True:
        if writer.stats.pending_rows < REPLAY_WINDOW:
            with contextlib.suppress(Overloaded):
                return writer.submit(table, rows)
        await asyncio.sleep(delay)
        delay = min(2 * delay, 1.0)
