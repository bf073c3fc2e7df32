"""The batching writer against the real engine: flush triggers, durability, retries, back-pressure."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from gateway.storage.clickhouse import Database
from gateway.storage.migrations import migrate
from gateway.storage.schema import CONSENT_LOG_TABLE, TableSpec
from gateway.storage.writer import BatchWriter, NotDurable, Overloaded, Rejected, WriterClosed

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


async def test_flush_raises_the_engines_error(db: Database) -> None:
    writer = BatchWriter(db, batch_size=1000, flush_interval=60)
    writer.submit(HITS, [(1, "x")])
    with pytest.raises(Exception, match="hits"):
        await writer.flush()
    db.command(CREATE_HITS)
    await writer.flush()
    assert count(db) == 1
    await writer.close()
