"""What the writer holds until ClickHouse takes it: submissions, the buffers they wait in, the batches.

A submission is one caller's rows and the future it waits on. Submissions wait in a buffer per table
until a flush cuts the buffers into batches of at most ``batch_size`` rows (beyond one oversized
submission), forced ones apart and first (``BatchWriter.submit(force=True)``). A batch keeps its
deduplication token across retries, and marks whether an attempt may have stored it: then none of its
rows can be taken back. ``find`` and ``remove`` are how ``BatchWriter.retract`` takes a submission
back from a buffer or from a batch waiting for its next attempt.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.storage.schema import TableSpec


@dataclass(slots=True)
class Submission:
    rows: Sequence[Sequence[Any]]
    future: asyncio.Future[None]
    forced: bool = False


@dataclass(slots=True)
class Buffer:
    table: TableSpec
    submissions: list[Submission] = field(default_factory=list)
    rows: int = 0


@dataclass(slots=True)
class Batch:
    table: TableSpec
    submissions: list[Submission]
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    may_be_stored: bool = False  # a failed attempt may have stored it: no row can be taken back

    @property
    def rows(self) -> list[Sequence[Any]]:
        return [row for submission in self.submissions for row in submission.rows]

    @property
    def row_count(self) -> int:
        return sum(len(s.rows) for s in self.submissions)


Holder = Batch | Buffer


def cut(buffers: dict[str, Buffer], retry: deque[Batch], batch_size: int) -> None:
    """Move buffered submissions into batches of at most ``batch_size`` rows at the end of ``retry``;
    forced ones apart, at its front. ``buffers`` is left empty."""
    first: list[Batch] = []
    for buffer in buffers.values():
        forced = [one for one in buffer.submissions if one.forced]
        first += _batches(buffer.table, forced, batch_size)
        retry += _batches(buffer.table, [one for one in buffer.submissions if not one.forced]
                          if forced else buffer.submissions, batch_size)
    retry.extendleft(reversed(first))
    buffers.clear()


def _batches(table: TableSpec, submissions: list[Submission], batch_size: int) -> list[Batch]:
    batches: list[Batch] = []
    count = 0
    for submission in submissions:
        if not batches or count + len(submission.rows) > batch_size:
            batches.append(Batch(table, []))
            count = 0
        batches[-1].submissions.append(submission)
        count += len(submission.rows)
    return batches


def find(buffers: dict[str, Buffer], retry: deque[Batch], table: TableSpec, future: asyncio.Future[None],
         inserting: Batch | None = None) -> tuple[Holder, Submission] | None:
    """The submission for ``table`` whose future is ``future``, and the buffer or batch holding it.
    ``inserting`` is the batch an attempt carries: once stored it leaves ``retry`` while its futures
    are still being resolved, a slice per loop turn (writer_insert.py), and it still holds them."""
    holders: list[Holder] = [batch for batch in retry if batch.table.name == table.name]
    if inserting is not None and inserting.table.name == table.name and all(
            batch is not inserting for batch in holders):
        holders.append(inserting)
    if (buffer := buffers.get(table.name)) is not None:
        holders.append(buffer)
    for holder in holders:
        for submission in holder.submissions:
            if submission.future is future:
                return holder, submission
    return None


def remove(buffers: dict[str, Buffer], retry: deque[Batch], holder: Holder, submission: Submission) -> None:
    """Take ``submission`` out of ``holder``, and an emptied holder out of ``buffers`` or ``retry``."""
    holder.submissions.remove(submission)
    if isinstance(holder, Buffer):
        holder.rows -= len(submission.rows)
        if not holder.submissions:
            del buffers[holder.table.name]
    elif not holder.submissions:
        retry.remove(holder)


def fail(future: asyncio.Future[None], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
        future.exception()  # marked as seen: a caller that stopped waiting is not warned about it
