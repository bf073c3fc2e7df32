"""An erasure reaches rows that are not in ClickHouse yet: in the writer's buffer or in the spool
(replayed after a crash or an outage). The writer's filter, fed by the ledger, drops them."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from benchmarks.writer_insert import synthetic_rows
from gateway.rights.ledger import ConsentLedger
from gateway.storage.clickhouse import Database
from gateway.storage.migrations import migrate
from gateway.storage.schema import EVENTS_TABLE
from gateway.storage.writer import BatchWriter
from tests.storage.test_spool import replay, spool_during_outage

CID = EVENTS_TABLE.columns.index("consent_id")
TS = EVENTS_TABLE.columns.index("ts")


def rows_of(consent_id: uuid.UUID, count: int, at: dt.datetime) -> list[list[object]]:
    rows = [list(row) for row in synthetic_rows(count)]
    for row in rows:
        row[CID], row[TS] = consent_id, at
    return rows


def stored(db: Database, consent_id: uuid.UUID) -> int:
    return int(db.query("SELECT count() FROM events WHERE consent_id = {c:UUID}", {"c": consent_id})[0][0])


async def test_rows_spooled_before_a_crash_do_not_come_back_for_an_erased_visitor(
        db: Database, tmp_path: Path) -> None:
    erased, kept = uuid.uuid4(), uuid.uuid4()
    hit_time = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    # ClickHouse cannot take them (no table yet): the records stay unacknowledged in the spool.
    await spool_during_outage(tmp_path / "spool", db, EVENTS_TABLE,
                              [rows_of(erased, 3, hit_time), rows_of(kept, 2, hit_time)])
    migrate(db)
    # The visitor was erased meanwhile (by another instance, or the CLI on a stopped gateway); the
    # next start rebuilds the ledger from the consent log before the spool replays.
    ledger = ConsentLedger()
    now = dt.datetime.now(dt.UTC).timestamp()
    ledger.record(erased, int(now), analytics=False, erased_at=now, at=now)
    filtered = BatchWriter(db, flush_interval=60)
    filtered.filter_rows(EVENTS_TABLE, ledger.row_filter(EVENTS_TABLE.columns))
    replayed, _ = await replay(tmp_path / "spool", db, filtered)
    assert replayed == 5
    assert (stored(db, erased), stored(db, kept)) == (0, 2)
    assert filtered.stats.rows_filtered == 3


async def test_rows_in_the_writers_buffer_after_a_withdrawal_are_dropped_earlier_ones_kept(
        db: Database) -> None:
    migrate(db)
    ledger = ConsentLedger()
    writer = BatchWriter(db, flush_interval=60)
    writer.filter_rows(EVENTS_TABLE, ledger.row_filter(EVENTS_TABLE.columns))
    await writer.start()
    visitor = uuid.uuid4()
    withdrawn = dt.datetime.now(dt.UTC).replace(microsecond=0)
    before = rows_of(visitor, 2, withdrawn - dt.timedelta(milliseconds=300))
    after = rows_of(visitor, 4, withdrawn + dt.timedelta(milliseconds=300))
    pending = writer.submit(EVENTS_TABLE, before + after)
    at = withdrawn.timestamp()
    ledger.record(visitor, int(at), analytics=False, at=at)  # learnt while the rows wait
    await writer.flush()
    await pending  # answered: the hits were taken, and the withdrawn ones dropped on the way
    assert stored(db, visitor) == 2
    await writer.close()

