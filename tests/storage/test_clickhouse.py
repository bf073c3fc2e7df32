"""ClickHouse URLs and the embedded connection (the server path is tested against the stand-in)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.storage.clickhouse import ClickHouseUrlError, Database, Target, connect


@pytest.mark.parametrize(("url", "expected"), [
    ("chdb:///var/lib/gw", Target(embedded=True, database="gateway", path=Path("/var/lib/gw"))),
    ("chdb:///var/lib/gw?database=stats", Target(embedded=True, database="stats", path=Path("/var/lib/gw"))),
    ("http://ch:8123/analytics", Target(embedded=False, database="analytics", host="ch", port=8123)),
    ("https://writer:p%40ss@ch.internal/",
     Target(embedded=False, database="gateway", host="ch.internal", port=8443, secure=True,
            username="writer", password="p@ss")),
])
def test_urls_name_a_target(url: str, expected: Target) -> None:
    assert Target.parse(url) == expected


def test_relative_chdb_path_is_relative_to_the_working_directory() -> None:
    assert Target.parse("chdb://data/ch").path == (Path.cwd() / "data" / "ch")


@pytest.mark.parametrize("url", ["ftp://ch/x", "chdb://", "http://ch:port/x", "http://ch/bad-name;drop",
                                 "https://u:hunter2@ch/db name"])
def test_bad_urls_are_refused_without_echoing_the_password(url: str) -> None:
    with pytest.raises(ClickHouseUrlError) as caught:
        Target.parse(url)
    assert "hunter2" not in str(caught.value)


def test_embedded_connection_creates_its_database_and_runs_the_real_engine(db: Database) -> None:
    [(version,)] = db.query("SELECT version()")
    assert int(str(version).split(".")[0]) >= 25
    assert db.query("SELECT currentDatabase()") == [(db.name,)]
    db.command("CREATE TABLE t (n UInt32) ENGINE = MergeTree ORDER BY n")
    db.insert("t", [(3,), (1,), (2,)], ["n"])
    assert db.query("SELECT n FROM t ORDER BY n") == [(1,), (2,), (3,)]
    assert db.query("SELECT {x:UInt8} + 1", {"x": 41}) == [(42,)]
    assert db.ping() < 1.0


def test_second_connection_to_the_same_database_sees_the_same_data(clickhouse_url: str, db: Database) -> None:
    db.command("CREATE TABLE t (s String) ENGINE = MergeTree ORDER BY s")
    db.insert("t", [("x",)], ["s"])
    other = connect(clickhouse_url)
    try:
        assert other.query("SELECT s FROM t") == [("x",)]
    finally:
        other.close()
