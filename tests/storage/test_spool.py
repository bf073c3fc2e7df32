"""The write-ahead spool over a real writer, real embedded ClickHouse and real files.

"An outage" below is a database without the table yet: ClickHouse refuses the insert as it would
while down (a transient error), so records stay unacknowledged on disk. The kill -9 cases run the
spool in a child process (this module, run as a script) and SIGKILL it. "A full disk" is a real
one: a small tmpfs and a ballast file (tests/support/tmpfs.py; skipped where mounting is refused),
and, without root, a file size limit (RLIMIT_FSIZE) in a child process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import json
import logging
import math
import os
import re
import resource
import signal
import stat
import struct
import subprocess
import sys
import uuid
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from benchmarks.writer_insert import synthetic_rows
from gateway.storage.clickhouse import Database, connect
from gateway.storage.migrations import migrate
from gateway.storage.schema import EVENTS_TABLE, TableSpec
from gateway.storage.spool import (
    PROBE_INTERVAL,
    Spool,
    SpoolFull,
    SpoolRefused,
    decode_rows,
    encode_rows,
    scan_segment,
)
from gateway.storage.writer import BatchWriter, Overloaded
from tests.support.clickhouse_standin import StandIn, running_standin
from tests.support.tmpfs import Ballast, MountRefused, free_bytes, tmpfs

HITS = TableSpec("hits", ("n", "s"))
CREATE_HITS = "CREATE TABLE hits (n UInt32, s String) ENGINE = MergeTree ORDER BY n"
KINDS = TableSpec("kinds", ("id", "ts", "u", "m", "a", "n", "s", "b", "f"))
CREATE_KINDS = ("CREATE TABLE kinds (id UInt32, ts DateTime64(6, 'UTC'), u UUID, m Map(String, String), "
                "a Array(String), n Nullable(Float64), s String, b Bool, f Float64) "
                "ENGINE = MergeTree ORDER BY id")
ROOT = Path(__file__).resolve().parents[2]


async def until(condition: Any, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)


def hits(db: Database) -> list[tuple[Any, ...]]:
    return db.query("SELECT n, s FROM hits ORDER BY n, s")


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("spool-*.log"))


async def spool_during_outage(folder: Path, db: Database, table: TableSpec,
                              batches: Sequence[Sequence[Sequence[Any]]], **options: Any) -> Spool:
    """Append while ClickHouse cannot take the rows, then stop: the records stay on disk."""
    writer = BatchWriter(db, flush_interval=60)
    spool = Spool(folder, writer, **options)
    earlier = await spool.open()
    await spool.replay_done()
    for rows in batches:
        await spool.append(table, rows)
    await spool.close()
    assert await writer.close(timeout=0.1) == earlier + sum(len(rows) for rows in batches)
    return spool


async def replay(folder: Path, db: Database, writer: BatchWriter | None = None,
                 **writer_options: Any) -> tuple[int, Spool]:
    """Open a new spool over ``folder`` (ClickHouse back), replay, write, close."""
    writer = writer or BatchWriter(db, **{"flush_interval": 60, **writer_options})
    await writer.start()
    spool = Spool(folder, writer)
    replayed = await spool.open()
    await spool.replay_done()
    await writer.flush()
    await spool.close()
    assert await writer.close() == 0
    return replayed, spool


async def test_appended_rows_reach_clickhouse_and_their_segment_goes(db: Database, tmp_path: Path) -> None:
    migrate(db)
    writer = BatchWriter(db, flush_interval=60)
    await writer.start()
    spool = Spool(tmp_path / "spool", writer)
    assert await spool.open() == 0
    rows = synthetic_rows(20)
    await asyncio.gather(*(spool.append(EVENTS_TABLE, [row]) for row in rows))
    assert spool.stats.appended_rows == 20 and spool.stats.syncs >= 1
    await writer.flush()
    await until(lambda: spool.stats.acked_rows == 20)
    [(count, paths)] = db.query("SELECT count(), groupUniqArray(url_path) FROM events")
    url_path = EVENTS_TABLE.columns.index("url_path")
    assert count == 20 and sorted(paths) == sorted({row[url_path] for row in rows})
    await spool.close()
    await writer.close()
    assert segments(tmp_path / "spool") == [] and spool.stats.bytes_on_disk == 0
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700


async def test_concurrent_appends_share_an_fsync(db: Database, tmp_path: Path) -> None:
    db.command(CREATE_HITS)
    writer = BatchWriter(db, flush_interval=60)
    spool = Spool(tmp_path / "spool", writer)
    await spool.open()
    [mode] = {stat.S_IMODE(path.stat().st_mode) for path in segments(tmp_path / "spool")}
    assert mode == 0o600
    await asyncio.gather(*(spool.append(HITS, [(i, "g")]) for i in range(300)))
    assert spool.stats.syncs < 30, spool.stats.syncs
    await spool.close()
    await writer.close()
    assert len(hits(db)) == 300


async def test_an_appender_that_goes_away_still_has_its_record_written(db: Database, tmp_path: Path) -> None:
    db.command(CREATE_HITS)
    writer = BatchWriter(db, flush_interval=60)
    spool = Spool(tmp_path / "spool", writer, sync_interval=0.05)
    await spool.open()
    await spool.append(HITS, [(1, "first")])  # the next sync waits out the interval
    gone = asyncio.create_task(spool.append(HITS, [(2, "client disconnected")]))
    await asyncio.sleep(0)
    gone.cancel()
    await spool.close()
    await writer.close()
    assert hits(db) == [(1, "first"), (2, "client disconnected")]
    assert (await replay(tmp_path / "spool", db))[0] == 0


def _child(folder: Path, url: str) -> None:
    """Run in a child process: acknowledged rows, then rows ClickHouse never gets, then SIGKILL."""
    async def run() -> None:
        writer = BatchWriter(connect(url), flush_interval=0.02, max_backoff=0.1)
        await writer.start()
        spool = Spool(folder, writer)
        await spool.open()
        await spool.append(HITS, [(i, "acked") for i in range(10)])
        size = spool.stats.bytes_on_disk
        await until(lambda: spool.stats.acked_rows == 10 and spool.stats.bytes_on_disk > size)
        print("acked", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the parent stops ClickHouse
        for i in range(4):
            await spool.append(HITS, [(100 + 5 * i + j, "pending") for j in range(5)])
        print("appended", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(run())


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    with running_standin(tmp_path_factory.mktemp("standin")) as server:
        yield server


async def test_a_crash_replays_unacknowledged_rows_once_and_acknowledged_ones_never(
        standin: StandIn, tmp_path: Path) -> None:
    url = f"http://default:@{standin.host}:{standin.port}/spool_{uuid.uuid4().hex[:10]}"
    db = connect(url, connect_timeout=2, send_receive_timeout=5)
    db.command(CREATE_HITS)
    folder = tmp_path / "spool"
    child = subprocess.Popen([sys.executable, "-m", __name__, str(folder), url], cwd=ROOT, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == "acked\n"
        standin.kill()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "appended\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdin.close()
        child.stdout.close()
    standin.restart()
    replayed, spool = await replay(folder, db)
    assert replayed == 20 and spool.stats.replayed_rows == 20
    assert hits(db) == [*((i, "acked") for i in range(10)), *((i, "pending") for i in range(100, 120))]
    assert (await replay(folder, db))[0] == 0
    assert segments(folder) == []
    db.close()


async def test_a_torn_tail_is_cut_and_the_records_before_it_replay(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    await spool_during_outage(folder, db, HITS, [[(1, "a")], [(2, "b")], [(3, "torn")]])
    [segment] = segments(folder)
    size = segment.stat().st_size
    os.truncate(segment, size - 3)
    db.command(CREATE_HITS)
    replayed, spool = await replay(folder, db)
    assert replayed == 2 and spool.stats.corrupt == 0
    assert hits(db) == [(1, "a"), (2, "b")]
    assert segments(folder) == []


async def test_damage_in_the_middle_loses_the_rest_of_that_segment_only(
        db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "spool"
    await spool_during_outage(folder, db, HITS, [[(1, "first")], [(2, "second-secret")], [(3, "third")]])
    await spool_during_outage(folder, db, HITS, [[(4, "next segment")]])
    first = segments(folder)[0]
    data = bytearray(first.read_bytes())
    data[data.index(b"second-secret")] ^= 0x20
    first.write_bytes(bytes(data))
    db.command(CREATE_HITS)
    with caplog.at_level(logging.WARNING, logger="gateway.storage.spool"):
        replayed, spool = await replay(folder, db)
    assert replayed == 2 and spool.stats.corrupt == 1
    assert hits(db) == [(1, "first"), (4, "next segment")]
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "gateway.storage.spool")
    assert "damaged" in logged and "second" not in logged and "third" not in logged
    assert segments(folder) == []


async def test_segments_rotate_and_acknowledged_ones_are_deleted(db: Database, tmp_path: Path) -> None:
    db.command(CREATE_HITS)
    folder = tmp_path / "spool"
    writer = BatchWriter(db, flush_interval=60)
    spool = Spool(folder, writer, segment_bytes=1024)
    await spool.open()
    for i in range(60):
        await spool.append(HITS, [(i, "r" * 40)])
    assert len(segments(folder)) >= 4 and spool.stats.segments == len(segments(folder))
    await writer.flush()
    await until(lambda: spool.stats.segments == 1)
    assert len(segments(folder)) == 1
    assert spool.stats.bytes_on_disk == segments(folder)[0].stat().st_size
    await spool.close()
    await writer.close()
    assert len(hits(db)) == 60 and segments(folder) == []


async def test_the_byte_cap_refuses_appends_with_spool_full(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    writer = BatchWriter(db, flush_interval=60)
    spool = Spool(folder, writer, max_bytes=2000)
    await spool.open()
    accepted = 0
    with pytest.raises(SpoolFull):
        for i in range(100):
            await spool.append(HITS, [(i, "x" * 50)])
            accepted += 1
    assert isinstance(SpoolFull(), Overloaded)
    assert 10 < accepted < 40 and spool.stats.bytes_on_disk <= 2000
    assert spool.stats.refusals == 1 and (spool.refusal or "").startswith("spool at its cap of 2000 bytes")
    await spool.close()
    await writer.close(timeout=0.1)
    db.command(CREATE_HITS)
    assert (await replay(folder, db))[0] == accepted
    assert [n for n, _ in hits(db)] == list(range(accepted))


KIND_ROWS = [
    (1, dt.datetime(2026, 11, 21, 12, 0, 7, 123456, tzinfo=dt.UTC), uuid.UUID(int=1),
     {"d": "not a tag", "m": "{}", "ä": "上海"}, ["a", "b,c", '"quoted"'], None, "emoji 😀 \\ \n", True, 0.1),
    (2, dt.datetime(2026, 11, 21, 17, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))), uuid.uuid4(), {}, [],
     2.5, "", False, -1e300),
]


def test_values_round_trip_through_the_codec() -> None:
    one, two = decode_rows(encode_rows(KIND_ROWS))
    assert one == list(KIND_ROWS[0]) and two == list(KIND_ROWS[1])
    assert one[1].tzinfo is dt.UTC and two[1].tzinfo is dt.UTC and two[1].hour == 12  # same instant, in UTC
    [[nan, date, naive, array, big]] = decode_rows(encode_rows([[float("nan"), dt.date(2026, 1, 2),
                                                                 dt.datetime(2026, 1, 2, 3, 4), ("t", "u"),
                                                                 2**64 - 1]]))
    assert math.isnan(nan) and date == dt.date(2026, 1, 2) and naive.tzinfo is None
    assert array == ["t", "u"] and big == 2**64 - 1
    for value in (b"bytes", {1: "int key"}, object()):
        with pytest.raises(TypeError):
            encode_rows([[value]])


async def test_values_round_trip_through_a_replay_into_clickhouse(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    await spool_during_outage(folder, db, KINDS, [KIND_ROWS])
    db.command(CREATE_KINDS)
    assert (await replay(folder, db))[0] == 2
    stored = db.query("SELECT id, toUnixTimestamp64Micro(ts), u, m, a, n, s, b, f FROM kinds ORDER BY id")
    expected = [(row[0], (row[1] - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1),
                 *row[2:]) for row in KIND_ROWS]
    assert stored == expected


async def test_a_record_clickhouse_rejects_for_good_is_acknowledged_and_not_replayed(
        db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db.command(CREATE_HITS)
    folder = tmp_path / "spool"
    writer = BatchWriter(db, flush_interval=60)
    spool = Spool(folder, writer)
    await spool.open()
    await spool.append(HITS, [(1, "good")])
    await spool.append(HITS, [("poison-value", "bad")])
    with caplog.at_level(logging.ERROR, logger="gateway.storage.spool"):
        await writer.flush()
        await spool.close()
    await writer.close()
    assert (spool.stats.acked_rows, spool.stats.rejected) == (1, 1)
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "gateway.storage.spool")
    assert "refused 1 row(s) for hits" in logged and "poison" not in logged
    assert (await replay(folder, db))[0] == 0
    assert hits(db) == [(1, "good")]


async def test_a_refused_append_is_not_replayed(db: Database, tmp_path: Path) -> None:
    db.command(CREATE_HITS)
    folder = tmp_path / "spool"
    writer = BatchWriter(db, flush_interval=60, max_pending=1)
    spool = Spool(folder, writer)
    await spool.open()
    await spool.append(HITS, [(1, "kept")])
    with pytest.raises(Overloaded):
        await spool.append(HITS, [(2, "answered 503")])
    await spool.close()
    await writer.close()
    assert (await replay(folder, db))[0] == 0
    assert hits(db) == [(1, "kept")]


async def test_replay_waits_while_the_writer_is_full_and_drops_nothing(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    await spool_during_outage(folder, db, HITS, [[(i, "backlog")] for i in range(40)])
    db.command(CREATE_HITS)
    replayed, spool = await replay(folder, db, batch_size=5, max_pending=5, flush_interval=0.01)
    assert replayed == 40 and spool.stats.replayed_rows == 40
    assert [n for n, _ in hits(db)] == list(range(40))


async def test_the_spool_says_it_is_replaying_until_the_earlier_run_is_handed_over(
        db: Database, tmp_path: Path) -> None:
    # What /-/ready waits for: a writer that is full (not started, room for 5 rows) holds the replay.
    folder = tmp_path / "spool"
    await spool_during_outage(folder, db, HITS, [[(i, "backlog")] for i in range(40)])
    db.command(CREATE_HITS)
    writer = BatchWriter(db, max_pending=5, flush_interval=0.01)
    spool = Spool(folder, writer)
    try:
        assert await spool.open() == 40
        await asyncio.sleep(0.2)
        assert spool.replaying
        await writer.start()
        await spool.replay_done()
        assert not spool.replaying
        await writer.flush()
    finally:
        await spool.close()
        await writer.close()
    assert len(hits(db)) == 40


async def test_a_second_spool_cannot_share_the_folder(db: Database, tmp_path: Path) -> None:
    writer = BatchWriter(db)
    first = Spool(tmp_path / "spool", writer)
    await first.open()
    with pytest.raises(RuntimeError, match="another process"):
        await Spool(tmp_path / "spool", writer).open()
    await first.close()
    await writer.close()


async def test_the_files_hold_nothing_but_the_rows(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    rows = synthetic_rows(30)
    await spool_during_outage(folder, db, EVENTS_TABLE, [[row] for row in rows])
    allowed: set[Any] = {EVENTS_TABLE.name, *EVENTS_TABLE.columns, "t", "c", "d", "u", "m"}
    for row in rows:
        allowed.update(stored_form(value) for value in row)
    for segment in segments(folder):
        for kind, payload in frames(segment.read_bytes()):
            assert kind in (b"S", b"R")
            assert set(leaves(json.loads(payload))) <= allowed


def stored_form(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, dt.datetime):
        return (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    return value if not isinstance(value, dict) else None


async def test_the_cap_refusal_ends_once_clickhouse_takes_the_rows(db: Database, tmp_path: Path) -> None:
    writer = BatchWriter(db, flush_interval=60)
    await writer.start()
    spool = Spool(tmp_path / "spool", writer, max_bytes=3000, segment_bytes=600)
    await spool.open()
    with pytest.raises(SpoolFull):
        for i in range(100):
            await spool.append(HITS, [(i, "x" * 50)])
    assert spool.refusal is not None
    db.command(CREATE_HITS)
    await writer.flush()
    await until(lambda: spool.refusal is None)  # the acknowledged segments went: no append needed
    await spool.append(HITS, [(1000, "after")])
    await writer.flush()
    await spool.close()
    await writer.close()
    assert spool.stats.refusals == 1 and (1000, "after") in hits(db)


async def test_a_file_size_limit_refuses_appends_and_loses_nothing_accepted(
        db: Database, tmp_path: Path) -> None:
    """Without root: RLIMIT_FSIZE makes each file refuse to grow past 16 KB (EFBIG, the kernel's own
    error, with writes cut short), as a full disk would; the next append starts a fresh segment."""
    folder = tmp_path / "spool"
    out = subprocess.run([sys.executable, "-m", __name__, "disk-full", str(folder)], cwd=ROOT, text=True,
                         capture_output=True, timeout=120, check=True)
    result = json.loads(out.stdout)
    assert result["failed"] and set(result["failed"]) == {errno.EFBIG}
    assert result["refusals"] == len(result["failed"])
    assert re.fullmatch(r"spool file size limit reached since \d\d:\d\d:\d\d UTC: \d+ bytes free in .*spool",
                        result["reason"])
    for segment in segments(folder):  # each failed write was cut back to whole frames
        scan = scan_segment(segment.read_bytes())
        assert not scan.torn and not scan.corrupt
    db.command(CREATE_HITS)
    replayed, _ = await replay(folder, db)
    assert replayed == len(result["accepted"])
    assert [n for n, _ in hits(db)] == sorted(result["accepted"])


async def test_a_torn_record_before_a_later_segment_costs_only_itself(db: Database, tmp_path: Path) -> None:
    """A write cut short whose cut-back failed too: the segment ends in half a record, and the spool
    went on in a fresh one. Replay takes the whole frames of both and nothing of the half."""
    folder = tmp_path / "spool"
    await spool_during_outage(folder, db, HITS, [[(1, "a")], [(2, "b")], [(3, "half written")]])
    await spool_during_outage(folder, db, HITS, [[(4, "next segment")]])
    first = segments(folder)[0]
    data = first.read_bytes()
    first.write_bytes(data[:data.index(b"half written") - 3])
    db.command(CREATE_HITS)
    replayed, spool = await replay(folder, db)
    assert replayed == 3 and spool.stats.corrupt == 0
    assert hits(db) == [(1, "a"), (2, "b"), (4, "next segment")]
    assert segments(folder) == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (skipped where this machine refuses to mount one)."""
    try:
        with tmpfs(tmp_path / "disk", 2**20) as disk:
            yield disk
    except MountRefused as exc:
        pytest.skip(f"no small disk to fill: {exc}")


ROW = "r" * 400  # one record: ~440 bytes on disk


async def test_an_acknowledged_segment_filling_the_disk_is_rolled_over_and_no_append_is_refused(
        db: Database, small_disk: Path) -> None:
    """Issue 16's outage: the only segment, all acknowledged, held the last free bytes and was never
    deleted, so every append failed until a restart. Now the append that finds the disk full
    deletes it and goes to a fresh segment."""
    db.command(CREATE_HITS)
    ballast = Ballast(small_disk / "ballast")
    ballast.fill(leave=32 * 1024)
    writer = BatchWriter(db, flush_interval=60)
    await writer.start()
    spool = Spool(small_disk / "spool", writer)
    await spool.open()
    appends = 4 * free_bytes(small_disk) // 3000  # four times what the disk holds
    for i in range(appends):
        await spool.append(HITS, [(i, "r" * 3000)])
        await writer.flush()
        await until(lambda done=i + 1: spool.stats.acked_rows == done)
    assert spool.stats.refusals == 0 and spool.refusal is None
    await spool.close()
    await writer.close()
    assert [n for n, _ in hits(db)] == list(range(appends))
    ballast.delete()


async def test_a_full_disk_refuses_with_a_reason_then_recovers_without_an_append(
        db: Database, small_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    """During an outage too (nothing can be acknowledged, so nothing the spool holds can go)."""
    writer = BatchWriter(db, flush_interval=60)
    await writer.start()
    spool = Spool(small_disk / "spool", writer)
    await spool.open()
    ballast = Ballast(small_disk / "ballast")
    ballast.fill()
    accepted, refused = [], []
    with caplog.at_level(logging.INFO, logger="gateway.storage.spool"):
        for i in range(20):  # the segment's last page may take a few first
            try:
                await spool.append(HITS, [(i, "visitor-secret " + ROW)])
                accepted.append(i)
            except SpoolRefused as exc:
                assert isinstance(exc, Overloaded) and isinstance(exc.__cause__, OSError)
                assert exc.__cause__.errno == errno.ENOSPC
                refused.append(i)
                break
        assert refused and spool.stats.refusals == 1
        assert re.fullmatch(r"spool disk full since \d\d:\d\d:\d\d UTC: 0 bytes free in .*spool",
                            spool.refusal or "")
        with pytest.raises(SpoolRefused):  # still full: tried again, and refused again
            await spool.append(HITS, [(100, ROW)])
        assert spool.stats.refusals == 2
        ballast.delete()
        await until(lambda: spool.refusal is None, timeout=5 * PROBE_INTERVAL)  # by itself
        await spool.append(HITS, [(200, "after")])
    db.command(CREATE_HITS)
    await writer.flush()
    await spool.close()
    await writer.close()
    assert [n for n, _ in hits(db)] == [*accepted, 200]  # the refused ones are not stored
    logged = [r.getMessage() for r in caplog.records if r.name == "gateway.storage.spool"]
    assert len([m for m in logged if "disk full" in m]) == 1  # once, not per append
    assert any("the disk takes writes again" in m for m in logged)  # the error line says "until it takes …"
    assert not any("visitor-secret" in m for m in logged)


async def test_a_full_disk_under_load_recovers_once_clickhouse_acknowledges(
        db: Database, small_disk: Path) -> None:
    """Records still waiting for ClickHouse hold the disk: appends are refused until they are
    acknowledged; the spool has the writer flush at once (not in a minute, its interval here), their
    segment goes, and appends go on, with the ballast still there."""
    db.command(CREATE_HITS)
    ballast = Ballast(small_disk / "ballast")
    ballast.fill(leave=48 * 1024)
    writer = BatchWriter(db, flush_interval=60)
    await writer.start()
    spool = Spool(small_disk / "spool", writer)
    await spool.open()
    accepted = []
    for round_ in range(3):
        with pytest.raises(SpoolRefused):
            for i in range(1000 * round_, 1000 * round_ + 500):
                await spool.append(HITS, [(i, ROW)])
                accepted.append(i)
        await until(lambda: spool.refusal is None, timeout=5 * PROBE_INTERVAL)
    await spool.close()
    await writer.close()
    assert [n for n, _ in hits(db)] == accepted
    assert len(accepted) > 2 * 48 * 1024 // len(ROW)
    ballast.delete()


async def test_a_refused_batch_bigger_than_the_disk_recovers_by_itself(
        db: Database, small_disk: Path) -> None:
    """Group commit put six 200 KB hits, more than the whole 1 MiB disk, in the write the disk
    refused. The probe used to wait until the whole batch fitted, which never happens: with health
    keeping hits away, the spool refused until a restart. It now waits for room for one record."""
    writer = BatchWriter(db, flush_interval=60)
    await writer.start()
    spool = Spool(small_disk / "spool", writer)
    await spool.open()
    ballast = Ballast(small_disk / "ballast")
    ballast.fill()
    body = "h" * 200_000
    results = await asyncio.gather(*(spool.append(HITS, [(i, body)]) for i in range(6)),
                                   return_exceptions=True)
    assert all(isinstance(result, SpoolRefused) for result in results), results
    assert spool.stats.refusals == 6 and spool.stats.syncs == 0
    ballast.delete()
    await until(lambda: spool.refusal is None, timeout=5 * PROBE_INTERVAL)  # no append needed
    await spool.append(HITS, [(100, body)])
    db.command(CREATE_HITS)
    await writer.flush()
    await spool.close()
    await writer.close()
    assert [n for n, _ in hits(db)] == [100]


def since(reason: str | None) -> str:
    found = re.search(r" since (\d\d:\d\d:\d\d UTC)", reason or "")
    assert found, reason
    return found[1]


async def test_a_nearly_full_disk_refuses_until_the_refused_write_fits_without_flapping(
        db: Database, small_disk: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One page free holds a fresh segment's header but not a 9 KB hit. The probe used to end the
    refusal each time it could create a segment: health flapped between ok and refusing every
    PROBE_INTERVAL, with an error and a warning each time and a new start. Now the refusal lasts
    until the refused write fits; one that comes back soon after its end keeps its start and its
    count, and the outage is logged once when it starts and once when it is over."""
    monkeypatch.setattr("gateway.storage.spool_refusal.SETTLE", 1.0)  # 5 s in production
    readings = iter(range(10**6))
    writer = BatchWriter(db, flush_interval=60)  # an outage: nothing is acknowledged, nothing goes
    await writer.start()
    # Every reading of the clock a different minute: a start read again would show.
    spool = Spool(small_disk / "spool", writer, clock=lambda: 1.7e9 + 61 * next(readings))
    await spool.open()
    ballast = Ballast(small_disk / "ballast")
    big = "b" * 9000
    try:
        ballast.fill(leave=4096)
        with caplog.at_level(logging.INFO, logger="gateway.storage.spool"):
            with pytest.raises(SpoolRefused):
                await spool.append(HITS, [(1, big)])
            started = since(spool.refusal)
            seen = []
            for _ in range(int(4 * PROBE_INTERVAL / 0.05)):  # four probes: health as a poller sees it
                seen.append(spool.refusal)
                await asyncio.sleep(0.05)
            assert all(reason is not None for reason in seen), seen
            assert {since(reason) for reason in seen} == {started}
            await spool.append(HITS, [(2, "small")])  # a small hit fits: accepted, health ok
            assert spool.refusal is None
            with pytest.raises(SpoolRefused):  # the big one still does not: the same outage
                await spool.append(HITS, [(3, big)])
            assert since(spool.refusal) == started and spool.stats.refusals == 2
            ballast.delete()
            await until(lambda: spool.refusal is None, timeout=5 * PROBE_INTERVAL)  # room: by itself
            await spool.append(HITS, [(4, big)])
            await until(lambda: any("the disk takes writes" in r.getMessage() for r in caplog.records),
                        timeout=3.0)
    finally:
        if ballast.path.exists():
            ballast.delete()
    db.command(CREATE_HITS)
    await writer.flush()
    await spool.close()
    await writer.close()
    assert [n for n, _ in hits(db)] == [2, 4]
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "gateway.storage.spool"]
    assert [m for level, m in logged if level == "ERROR"] == [
        f"spool: spool disk full since {started}: 4096 bytes free in {small_disk / 'spool'}; hits are "
        "answered 503 until it takes writes again"], logged
    ends = [m for level, m in logged if level == "WARNING"]
    assert len(ends) == 1 and ends[0].endswith("and 2 refused append(s)"), logged


def frames(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Every byte of a segment accounted for: the magic, then whole frames with a valid CRC."""
    assert data.startswith(b"CGSPOOL\x01")
    pos = 8
    while pos < len(data):
        length, crc = struct.unpack_from("<II", data, pos)
        body = data[pos + 8:pos + 8 + length]
        assert len(body) == length and zlib.crc32(body) == crc
        yield body[:1], body[{b"S": 5, b"R": 17}[body[:1]]:]
        pos += 8 + length


def leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    else:
        yield value


def _disk_full_child(folder: Path) -> None:
    """Run in a child process: files may not grow past 16 KB, as on a full disk; then exit abruptly."""
    async def run() -> None:
        writer = BatchWriter(cast(Database, object()), flush_interval=3600)  # never flushed
        spool = Spool(folder, writer)
        await spool.open()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG rather than death
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, resource.RLIM_INFINITY))
        accepted, failed, reason = [], [], ""
        for i in range(400):
            try:
                await spool.append(HITS, [(i, "f" * 100)])
                accepted.append(i)
            except SpoolRefused as exc:
                failed.append(getattr(exc.__cause__, "errno", None))
                reason = reason or spool.refusal or ""
                if len(failed) == 1:
                    await spool.append(HITS, [(1000 + i, "after the failure")])  # a fresh segment
                    accepted.append(1000 + i)
        print(json.dumps({"accepted": accepted, "failed": failed, "reason": reason,
                          "refusals": spool.stats.refusals}), flush=True)
        os._exit(0)  # no close: as a crash

    asyncio.run(run())


@pytest.mark.parametrize("value", [float("nan"), float("inf"), ["a", float("-inf")], {"k": "\ud800"},
                                   "\udfff", 2**64, -(2**63) - 1, [[float("nan")]]])
def test_values_the_fast_encoder_would_change_are_kept_exactly(value: Any) -> None:
    """orjson writes NaN as null and refuses lone surrogates and integers past 64 bits: such rows take
    the json module's way, and come back as they went in."""
    row = (1, dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC), value)
    [back] = decode_rows(encode_rows([row]))
    assert repr(back) == repr(list(row))  # repr: NaN == NaN is false


def test_the_fast_encoder_writes_what_the_json_module_reads_back_the_same() -> None:
    edges = (-0.0, 1e16, 1e22, 5e-324, 1.7976931348623157e308, 2**64 - 1, -(2**63), True, "\u2028 \x00 😀")
    rows = [*KIND_ROWS, *((*row[:5], None, "x", *edges) for row in KIND_ROWS)] * 3
    back = decode_rows(encode_rows(rows))
    assert back == [list(row) for row in rows]
    assert [repr(value) for value in back[-1][-9:]] == [repr(value) for value in edges]  # -0.0, True: as such


if __name__ == "__main__":
    if sys.argv[1] == "disk-full":
        _disk_full_child(Path(sys.argv[2]))
    else:
        _child(Path(sys.argv[1]), sys.argv[2])

