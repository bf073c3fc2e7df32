"""The batching writer against the real engine: flush triggers, durability, retries, back-pressure, and
taking rows back (``retract``) in each state they can be in."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from gateway.storage.clickhouse import Database
from gateway.storage.migrations import migrate
from gateway.storage.schema import CONSENT_LOG_TABLE, TableSpec
from gateway.storage.writer import (
    BatchWriter,
    MaybeStored,
    NotDurable,
    Overloaded,
    Rejected,
    Retraction,
    WriterClosed,
)
from gateway.storage.writer_insert import SETTLE_SLICE

HITS = TableSpec("hits", ("n", "s"))
CREATE_HITS = ("CREATE TABLE hits (n UInt32, s String) ENGINE = MergeTree ORDER BY n "
               "SETTINGS non_replicated_deduplication_window = 100")


def count(db: Database) -> int:
    return int(db.query("SELECT count() FROM hits")[0][0])


async def until(condition: Any, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)


async def test_a_full_batch_is_written_at_once(db: Database) -> None:
    db.command(CREATE_HITS)
    writer = BatchWriter(db, batch_size=10, flush_interval=60)
    await writer.start()
    accepted = [writer.submit(HITS, [(i, "x")]) for i in range(10)]
    await asyncio.wait_for(asyncio.gather(*accepted), timeout=5)
    assert count(db) == 10
    assert (writer.stats.rows_written, writer.stats.batches_written, writer.stats.pending_rows) == (10, 1, 0)
    await writer.close()


async def test_a_partial_batch_is_written_on_the_timer(db: Database) -> None:
    db.command(CREATE_HITS)
    writer = BatchWriter(db, batch_size=1000, flush_interval=0.05)
    await writer.start()
    accepted = writer.submit(HITS, [(1, "a"), (2, "b")])
    assert not accepted.done()
    await asyncio.wait_for(accepted, timeout=5)
    assert count(db) == 2
    await writer.close()


async def test_close_writes_what_is_buffered_and_refuses_more(db: Database) -> None:
    db.command(CREATE_HITS)
    writer = BatchWriter(db, batch_size=1000, flush_interval=60)
    await writer.start()
    accepted = writer.submit(HITS, [(i, "z") for i in range(123)])
    assert await writer.close() == 0
    assert accepted.done() and accepted.exception() is None
    assert count(db) == 123
    with pytest.raises(WriterClosed):
        writer.submit(HITS, [(1, "late")])


async def test_a_failed_insert_is_retried_until_clickhouse_takes_it_exactly_once(db: Database) -> None:
    # The table does not exist yet: a real refusal from the engine, as when ClickHouse is down.
    writer = BatchWriter(db, batch_size=1000, flush_interval=0.02, max_backoff=0.1)
    await writer.start()
    accepted = writer.submit(HITS, [(i, "r") for i in range(50)])
    await until(lambda: writer.stats.insert_failures >= 2)
    assert not accepted.done()
    assert "hits" in writer.stats.last_error
    db.command(CREATE_HITS)
    await asyncio.wait_for(accepted, timeout=5)
    assert count(db) == 50
    await writer.close()


class LandsThenTimesOut:
    """A Database whose first insert reaches ClickHouse but whose answer is lost, as on a timeout."""

    def __init__(self, db: Database) -> None:
        self.db, self.inserts = db, 0

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str],
               settings: dict[str, Any] | None = None) -> None:
        self.inserts += 1
        self.db.insert(table, rows, columns, settings)
        if self.inserts == 1:
            raise TimeoutError("read timed out")


async def test_a_retried_batch_that_had_landed_is_not_stored_twice(db: Database) -> None:
    db.command(CREATE_HITS)
    flaky = LandsThenTimesOut(db)
    writer = BatchWriter(flaky, batch_size=1000, flush_interval=0.02, max_backoff=0.05)  # type: ignore[arg-type]
    await writer.start()
    accepted = writer.submit(HITS, [(i, "d") for i in range(20)])
    await asyncio.wait_for(accepted, timeout=10)
    assert flaky.inserts == 2
    assert count(db) == 20
    await writer.close()


async def test_one_bad_row_is_rejected_alone_and_never_blocks_the_others(db: Database) -> None:
    db.command(CREATE_HITS)
    writer = BatchWriter(db, batch_size=1000, flush_interval=60)
    good = writer.submit(HITS, [(1, "a"), (2, "b")])
    bad = writer.submit(HITS, [("not a number", "c")])
    later = writer.submit(HITS, [(3, "d")])
    await writer.flush()
    await asyncio.wait_for(asyncio.gather(good, later), timeout=5)
    with pytest.raises(Rejected):
        await bad
    assert db.query("SELECT n FROM hits ORDER BY n") == [(1,), (2,), (3,)]
    assert writer.stats.rows_rejected["hits"] == 1
    assert writer.stats.pending_rows == 0
    await writer.close()


async def test_a_value_outside_a_closed_set_is_refused_not_stored_as_garbage(db: Database) -> None:
    migrate(db)
    writer = BatchWriter(db, batch_size=1000, flush_interval=60)
    row = [uuid.uuid4(), 1, dt.datetime.now(dt.UTC), "grant", ["analytics"], "1", "", "en", "banner", "", "",
           "test"]
    ok = writer.submit(CONSENT_LOG_TABLE, [tuple(row)])
    row[3] = "shrug"  # not an action: clickhouse-connect would encode it as 0 without the constraint
    typo = writer.submit(CONSENT_LOG_TABLE, [tuple(row)])
    await writer.flush()
    await ok
    with pytest.raises(Rejected):
        await typo
    assert db.query("SELECT toString(action) FROM consent_log") == [("grant",)]
    await writer.close()


async def test_rows_of_the_wrong_width_are_refused_at_submit(db: Database) -> None:
    writer = BatchWriter(db)
    with pytest.raises(ValueError, match="must have 2 values"):
        writer.submit(HITS, [(1,)])
    nothing = writer.submit(HITS, [])
    assert nothing.done()  # nothing to write: durable at once
    await nothing
    await writer.close()


async def test_a_backlog_is_written_in_batches_of_at_most_batch_size(db: Database) -> None:
    writer = BatchWriter(db, batch_size=10, flush_interval=60)
    accepted = [writer.submit(HITS, [(i, "b")]) for i in range(25)]
    with pytest.raises(Exception, match="hits"):
        await writer.flush()  # table missing: everything waits
    db.command(CREATE_HITS)
    await writer.flush()
    await asyncio.gather(*accepted)
    assert (writer.stats.rows_written, writer.stats.batches_written) == (25, 3)
    await writer.close()


async def test_back_pressure_refuses_rows_instead_of_dropping_them(db: Database) -> None:
    writer = BatchWriter(db, batch_size=10_000, flush_interval=60, max_pending=100)
    await writer.start()
    writer.submit(HITS, [(i, "p") for i in range(100)])
    with pytest.raises(Overloaded):
        writer.submit(HITS, [(101, "one too many")])
    lost = await writer.close(timeout=0.2)  # table never created: nothing can be written
    assert lost == 100


async def test_rows_that_could_not_be_written_at_close_are_reported_not_durable(db: Database) -> None:
    writer = BatchWriter(db, batch_size=1000, flush_interval=60)
    await writer.start()
    accepted = writer.submit(HITS, [(1, "never")])
    assert await writer.close(timeout=0.2) == 1
    with pytest.raises(NotDurable):
        await accepted


async def test_close_keeps_to_its_timeout_while_an_insert_hangs_and_says_the_rows_may_be_stored(
        db: Database) -> None:
    db.command(CREATE_HITS)
    hung = HeldInsert(db)  # ClickHouse takes the insert and does not answer (until released)
    writer = BatchWriter(hung, batch_size=1000, flush_interval=60)  # type: ignore[arg-type]
    await writer.start()
    accepted = writer.submit(HITS, [(1, "hung")])
    flush = asyncio.ensure_future(writer.flush())  # what the spool's close starts, then stops waiting for
    await asyncio.to_thread(hung.started.wait, 5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await writer.close(timeout=1.0) == 1
    assert loop.time() - started < 1.0 + 2.5  # the timeout, and the last attempt's bound (LAST_ATTEMPT)
    with pytest.raises(MaybeStored):
        await accepted
    hung.release.set()
    await asyncio.gather(flush, return_exceptions=True)
    # The insert thread is a daemon: the interpreter does not wait for an insert nobody answers.
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("clickhouse-writer"))


async def test_flush_raises_the_engines_error(db: Database) -> None:
    writer = BatchWriter(db, batch_size=1000, flush_interval=60)
    writer.submit(HITS, [(1, "x")])
    with pytest.raises(Exception, match="hits"):
        await writer.flush()
    db.command(CREATE_HITS)
    await writer.flush()
    assert count(db) == 1
    await writer.close()


# --- retract: rows taken back unless an insert can have stored them ------------------------------


class HeldInsert:
    """A ClickHouse server (no ``target``: not embedded) whose inserts wait until released, then store
    the rows or fail as told."""

    def __init__(self, db: Database, failure: BaseException | None = None) -> None:
        self.db, self.failure = db, failure
        self.started, self.release = threading.Event(), threading.Event()

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str],
               settings: dict[str, Any] | None = None) -> None:
        self.started.set()
        self.release.wait(10)
        if self.failure is not None:
            raise self.failure
        self.db.insert(table, rows, columns, settings)


async def test_buffered_rows_are_taken_back_and_the_others_written(db: Database) -> None:
    db.command(CREATE_HITS)
    writer = BatchWriter(db, batch_size=1000, flush_interval=60)
    kept = writer.submit(HITS, [(1, "kept")])
    taken = writer.submit(HITS, [(2, "taken"), (3, "taken")])
    assert await writer.retract(HITS, taken, wait=0) is Retraction.TAKEN_BACK
    with pytest.raises(NotDurable):
        await taken
    assert writer.stats.pending_rows == 1
    await writer.flush()
    await kept
    assert db.query("SELECT n FROM hits") == [(1,)]
    await writer.close()


async def test_rows_of_a_failed_batch_that_never_reached_clickhouse_are_taken_back(db: Database) -> None:
    writer = BatchWriter(db, batch_size=1000, flush_interval=60)
    kept = writer.submit(HITS, [(1, "kept")])
    taken = writer.submit(HITS, [(2, "taken")])
    with pytest.raises(Exception, match="hits"):
        await writer.flush()  # the engine's own refusal: the table is missing; the batch waits to retry
    assert await writer.retract(HITS, taken, wait=0) is Retraction.TAKEN_BACK
    db.command(CREATE_HITS)
    await writer.flush()
    await kept
    assert db.query("SELECT n FROM hits") == [(1,)]
    assert writer.stats.pending_rows == 0
    await writer.close()


async def test_rows_an_attempt_may_have_stored_are_kept_and_stored_once(db: Database) -> None:
    db.command(CREATE_HITS)
    flaky = LandsThenTimesOut(db)  # stored, then no answer: the writer cannot know
    writer = BatchWriter(flaky, batch_size=1000, flush_interval=60)  # type: ignore[arg-type]
    accepted = writer.submit(HITS, [(1, "maybe")])
    with pytest.raises(TimeoutError):
        await writer.flush()
    assert await writer.retract(HITS, accepted, wait=0) is Retraction.KEPT
    await writer.flush()
    await accepted
    assert count(db) == 1
    await writer.close()


@pytest.mark.parametrize(("failure", "outcome", "stored"), [
    (None, Retraction.STORED, 1),
    (ConnectionRefusedError(111, "Connection refused"), Retraction.TAKEN_BACK, 0),
    (TimeoutError("read timed out"), Retraction.KEPT, 1),
])
async def test_rows_being_inserted_follow_that_attempt(db: Database, failure: BaseException | None,
                                                      outcome: Retraction, stored: int) -> None:
    db.command(CREATE_HITS)
    held = HeldInsert(db, failure)
    writer = BatchWriter(held, batch_size=1000, flush_interval=0.02, max_backoff=0.05)  # type: ignore[arg-type]
    await writer.start()
    accepted = writer.submit(HITS, [(1, "held")], urgent=True)
    await until(held.started.is_set)
    asyncio.get_running_loop().call_later(0.2, held.release.set)
    assert await writer.retract(HITS, accepted, wait=5) is outcome
    held.failure = None  # ClickHouse is back: whatever stayed in the writer is written now
    await writer.flush()
    assert count(db) == stored
    await writer.close()


async def test_rows_still_being_inserted_after_the_wait_are_kept(db: Database) -> None:
    db.command(CREATE_HITS)
    held = HeldInsert(db)
    writer = BatchWriter(held, batch_size=1000, flush_interval=0.02)  # type: ignore[arg-type]
    await writer.start()
    accepted = writer.submit(HITS, [(1, "slow")], urgent=True)
    await until(held.started.is_set)
    assert await writer.retract(HITS, accepted, wait=0.1) is Retraction.KEPT
    held.release.set()
    await asyncio.wait_for(accepted, timeout=5)
    assert count(db) == 1
    await writer.close()


# --- a row that must follow rows the writer holds: past max_pending, and at close --------------------


async def test_a_forced_row_is_taken_past_max_pending_and_while_close_is_writing(db: Database) -> None:
    writer = BatchWriter(db, batch_size=10_000, flush_interval=60, max_pending=100)
    held = writer.submit(HITS, [(i, "p") for i in range(100)])  # ClickHouse is slow: the writer is full
    with pytest.raises(Overloaded):
        writer.submit(HITS, [(100, "refused")])
    twin = writer.submit(HITS, [(100, "forced")], force=True)
    assert writer.stats.pending_rows == 101
    db.command(CREATE_HITS)
    closing = asyncio.create_task(writer.close())
    await asyncio.sleep(0)  # close has begun writing
    with pytest.raises(WriterClosed):
        writer.submit(HITS, [(101, "late")])
    late_twin = writer.submit(HITS, [(101, "forced late")], force=True)
    assert await closing == 0
    await asyncio.gather(held, twin, late_twin)
    assert count(db) == 102
    with pytest.raises(WriterClosed):
        writer.submit(HITS, [(102, "after close")], force=True)


async def test_at_close_rows_an_abandoned_attempt_may_have_stored_are_told_so_and_their_answer_goes_with_them(
        db: Database) -> None:
    db.command(CREATE_HITS)
    held = HeldInsert(db)  # ClickHouse hangs on the insert; released, it stores the rows after all
    writer = BatchWriter(held, batch_size=1000, flush_interval=0.02)  # type: ignore[arg-type]
    await writer.start()
    accepted = writer.submit(HITS, [(1, "grant")], urgent=True)
    await until(held.started.is_set)

    async def caller() -> asyncio.Future[None]:
        """A consent grant's request: told its row may be stored, it adds the row that says so."""
        with pytest.raises(MaybeStored):
            await accepted
        twin = writer.submit(HITS, [(2, "undelivered")], force=True)
        held.release.set()  # ClickHouse answers again
        return twin

    answered = asyncio.create_task(caller())
    assert await writer.close(timeout=0.2) == 0  # gives up on the hung attempt, then tries once more
    twin = await answered
    assert twin.done() and twin.exception() is None
    assert db.query("SELECT n FROM hits ORDER BY n") == [(1,), (2,)]  # the retry was deduplicated


async def test_a_retraction_during_close_of_rows_that_may_be_stored_keeps_them(db: Database) -> None:
    db.command(CREATE_HITS)
    held = HeldInsert(db)
    writer = BatchWriter(held, batch_size=1000, flush_interval=0.02)  # type: ignore[arg-type]
    await writer.start()
    accepted = writer.submit(HITS, [(1, "grant")], urgent=True)
    await until(held.started.is_set)
    closing = asyncio.create_task(writer.close(timeout=0.2))
    await until(accepted.done)
    assert await writer.retract(HITS, accepted, wait=0) is Retraction.KEPT
    held.release.set()
    await closing


class HungThenDown:
    """A ClickHouse server whose first insert hangs until released and then stores its rows, and which is
    down (read timeouts) for every insert after it; each attempt's rows are recorded."""

    def __init__(self, db: Database) -> None:
        self.db, self.attempts = db, list[list[str]]()
        self.started, self.release = threading.Event(), threading.Event()

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str],
               settings: dict[str, Any] | None = None) -> None:
        self.attempts.append([str(row[1]) for row in rows])
        if len(self.attempts) == 1:
            self.started.set()
            self.release.wait(10)
            self.db.insert(table, rows, columns, settings)
            return
        raise TimeoutError("read timed out")


async def test_at_close_a_forced_row_is_tried_before_the_rows_it_follows_and_told_if_it_may_be_stored(
        db: Database) -> None:
    db.command(CREATE_HITS)
    server = HungThenDown(db)
    writer = BatchWriter(server, batch_size=1000, flush_interval=0.02)  # type: ignore[arg-type]
    await writer.start()
    accepted = writer.submit(HITS, [(1, "grant")], urgent=True)
    await until(server.started.is_set)

    async def caller() -> asyncio.Future[None]:
        with pytest.raises(MaybeStored):
            await accepted
        twin = writer.submit(HITS, [(2, "undelivered")], force=True)
        server.release.set()  # the hung attempt ends (and stores the grant); ClickHouse is down after it
        return twin

    answered = asyncio.create_task(caller())
    assert await writer.close(timeout=0.2) == 2
    twin = await answered
    # The twin went first: ClickHouse being down, the grant's retry was not even tried after it.
    assert server.attempts == [["grant"], ["undelivered"]]
    with pytest.raises(MaybeStored):  # its own attempt timed out: it may be stored, and is not NotDurable
        await twin


async def test_forced_rows_are_batched_apart_and_written_first(db: Database) -> None:
    db.command(CREATE_HITS)
    server = HungThenDown(db)
    server.release.set()
    writer = BatchWriter(server, batch_size=1000, flush_interval=60)  # type: ignore[arg-type]
    writer.submit(HITS, [(1, "first")])
    await writer.flush()
    writer.submit(HITS, [(2, "grant")])
    with pytest.raises(TimeoutError):
        await writer.flush()  # may be stored: kept, retried under its token
    writer.submit(HITS, [(3, "other")])
    writer.submit(HITS, [(4, "undelivered")], force=True)
    with pytest.raises(TimeoutError):
        await writer.flush()
    assert server.attempts[2] == ["undelivered"]
    assert writer.stats.pending_rows == 3
    await writer.close(timeout=0)


async def test_a_big_stored_batch_is_acknowledged_a_slice_per_loop_turn(db: Database) -> None:
    """Each acknowledgement runs callbacks on the loop (the spool's ack): all of a 10,000-row batch in
    one turn stalled every request; other tasks now run between the slices, and every row is told."""
    db.command(CREATE_HITS)
    total = 3 * SETTLE_SLICE + 1
    writer = BatchWriter(db, batch_size=total, flush_interval=60)
    await writer.start()
    events: list[str] = []
    accepted = [writer.submit(HITS, [(i, "x")]) for i in range(total)]
    for future in accepted:
        future.add_done_callback(lambda _: events.append("ack"))

    async def ticker() -> None:
        while True:
            events.append("tick")
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.wait_for(asyncio.gather(*accepted), timeout=10)
    ticking.cancel()
    acks = [index for index, event in enumerate(events) if event == "ack"]
    assert len(acks) == total and count(db) == total
    ticks_between = events[acks[0]:acks[-1]].count("tick")
    assert ticks_between >= 3  # the loop turned between the slices
    await writer.close()


async def test_rows_still_being_acknowledged_after_their_insert_are_told_stored(db: Database) -> None:
    """Between the slices of a stored batch's acknowledgements the batch has left the retry queue; a
    retraction then (a consent grant whose wait ran out) must learn the rows are stored, not kept."""
    db.command(CREATE_HITS)
    total = 2 * SETTLE_SLICE + 1
    writer = BatchWriter(db, batch_size=total, flush_interval=60)
    await writer.start()
    accepted = [writer.submit(HITS, [(i, "x")]) for i in range(total)]
    outcome: list[tuple[bool, Retraction]] = []

    async def retract_the_last() -> None:
        outcome.append((accepted[-1].done(), await writer.retract(HITS, accepted[-1], wait=5)))

    retracting: list[asyncio.Task[None]] = []
    accepted[0].add_done_callback(lambda _: retracting.append(asyncio.ensure_future(retract_the_last())))
    await asyncio.wait_for(asyncio.gather(*accepted), timeout=10)
    await asyncio.wait_for(retracting[0], timeout=10)
    assert outcome == [(False, Retraction.STORED)] and count(db) == total
    await writer.close()
