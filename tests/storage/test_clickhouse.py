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


def test_several_server_urls_name_one_service_with_fallbacks_and_options(tmp_path: Path) -> None:
    target = Target.parse("https://gw:pw@ch1:9443/stats, https://gw:pw@ch2/stats")
    assert target.servers == (("ch1", 9443), ("ch2", 8443))
    assert "pw" not in target.display and "ch1:9443,ch2:8443" in target.display
    ca = tmp_path / "ca.pem"
    tuned = target.with_options(password="from-a-file", ca_file=ca, cluster="consent_gateway")
    assert (tuned.password, tuned.ca_file, tuned.cluster) == ("from-a-file", ca, "consent_gateway")
    assert target.with_options() == target  # nothing given: the URL's own password stays


@pytest.mark.parametrize("urls", ["http://ch1/gw,https://ch2/gw",
                                  "http://a:hunter2@ch1/gw,http://b:hunter2@ch2/gw",
                                  "http://ch1/gw,http://ch2/other", "http://ch1/gw,chdb:///var/lib/gw"])
def test_several_urls_must_be_replicas_of_one_service(urls: str) -> None:
    with pytest.raises(ClickHouseUrlError) as caught:
        Target.parse(urls)
    assert "hunter2" not in str(caught.value)


def test_mutations_of_sharded_rows_go_to_the_local_tables_on_the_whole_cluster() -> None:
    server = Target.parse("http://ch/gw")
    single = Database(server, client=None)  # type: ignore[arg-type]  # no call reaches a client
    cluster = Database(server.with_options(cluster="cg"), client=None)  # type: ignore[arg-type]
    assert single.mutation_table("events") == "events"
    assert cluster.mutation_table("events") == "events_local ON CLUSTER cg"
    # Unsharded tables have one replica path for the cluster: a mutation on one node reaches all.
    assert cluster.mutation_table("consent_log") == "consent_log"
