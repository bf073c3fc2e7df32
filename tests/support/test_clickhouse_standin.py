"""The chDB-backed clickhouse-server stand-in, driven by the real clickhouse-connect HTTP client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
import httpx2 as httpx
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.support.clickhouse_standin import StandIn, running_standin

COLUMNS = (
    "ts DateTime64(3, 'UTC'), site LowCardinality(String), props Map(String, String),"
    " hits UInt64, ref Nullable(String)"
)
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    with running_standin(tmp_path_factory.mktemp("clickhouse")) as server:
        yield server


@pytest.fixture(scope="module")
def client(standin: StandIn) -> Iterator[Client]:
    admin = clickhouse_connect.get_client(dsn=standin.url)
    admin.command("CREATE DATABASE IF NOT EXISTS analytics")
    # tz_mode="aware": DateTime64(3,'UTC') comes back as aware UTC datetimes (default "naive_utc": naive UTC).
    db_client = clickhouse_connect.get_client(dsn=standin.url, database="analytics", tz_mode="aware")
    yield db_client
    db_client.close()
    admin.close()


def make_rows(count: int) -> list[list[Any]]:
    return [
        [
            T0
            + timedelta(milliseconds=7 * i),  # aware UTC: naive values are read as the *client's* local time
            f"site-{i % 5}",
            {"path": f"/p/{i}", "lang": "de" if i % 2 else "en"},
            i * 3,
            None if i % 3 else f"https://ref.example/{i}",
        ]
        for i in range(count)
    ]


def test_connect_reports_server_version_and_utc(client: Client) -> None:
    assert client.server_version is not None and client.server_version.startswith("26.")
    assert client.command("SELECT timezone()") == "UTC"
    assert client.command("SELECT currentDatabase()") == "analytics"


def test_ping(standin: StandIn, client: Client) -> None:
    response = httpx.get(f"http://{standin.host}:{standin.port}/ping")
    assert (response.status_code, response.text) == (200, "Ok.\n")
    assert client.ping()


@pytest.mark.parametrize("compress", ["lz4", "zstd", "gzip", False])
def test_insert_round_trip(standin: StandIn, client: Client, compress: str | bool) -> None:
    table = f"events_{compress or 'plain'}"
    client.command(f"CREATE TABLE {table} ({COLUMNS}) ENGINE = MergeTree ORDER BY (site, ts)")
    rows = make_rows(3000)
    writer = clickhouse_connect.get_client(dsn=standin.url, database="analytics", compress=compress)
    context = writer.create_insert_context(table)
    context.req_block_size = 700  # several Native blocks -> several compressed frames in one request
    context.data = rows
    summary = writer.insert(context=context)
    writer.close()
    assert summary.written_rows == len(rows)
    result = client.query(f"SELECT ts, site, props, hits, ref FROM {table} ORDER BY hits")
    assert [list(row) for row in result.result_rows] == rows
    assert client.command(f"SELECT toTypeName(site) FROM {table} LIMIT 1") == "LowCardinality(String)"


def test_server_side_parameters(client: Client) -> None:
    client.command(f"CREATE TABLE params ({COLUMNS}) ENGINE = MergeTree ORDER BY ts")
    client.insert("params", make_rows(100))
    query = (
        "SELECT count(), max(hits) FROM params"
        " WHERE site = {site:String} AND ts >= {since:DateTime64(3, 'UTC')} AND hits IN {hits:Array(UInt64)}"
    )
    wanted = list(range(0, 300, 3))
    for hits in (wanted, wanted * 200):  # the second list is over 4 KB: the client switches to multipart
        result = client.query(
            query, parameters={"site": "site-1", "since": T0 + timedelta(seconds=0.2), "hits": hits}
        )
        assert result.result_rows == [(14, 288)]  # site-1 rows i = 31, 36, ..., 96
    assert client.command("SELECT {a:UInt8} + {b:UInt8}", parameters={"a": 2, "b": 3}) == 5


def test_settings_reach_the_engine(client: Client) -> None:
    assert client.command("SELECT getSetting('max_threads')", settings={"max_threads": 3}) == 3
    with pytest.raises(DatabaseError, match="no_such_setting"):
        client.command("SELECT 1", settings={"no_such_setting": 1})


def test_errors_raise_database_error_with_clickhouse_text(client: Client) -> None:
    with pytest.raises(DatabaseError, match=r"Code: 62\. DB::Exception: Syntax error") as syntax:
        client.query("SELEC 1")
    assert syntax.value.code == 62
    with pytest.raises(DatabaseError, match=r"UNKNOWN_TABLE") as missing:
        client.command("SELECT count() FROM no_such_table")
    assert missing.value.code == 60


def test_response_headers(standin: StandIn) -> None:
    response = httpx.post(
        f"http://{standin.host}:{standin.port}/",
        params={"query_id": "q-1", "param_n": "4"},
        content=b"SELECT {n:UInt8} * number AS x FROM system.numbers LIMIT 3 FORMAT JSONEachRow",
        auth=("anyone", "anything"),
    )
    assert response.status_code == 200
    assert response.headers["X-ClickHouse-Query-Id"] == "q-1"
    assert response.headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert response.headers["X-ClickHouse-Timezone"] == "UTC"
    assert json.loads(response.headers["X-ClickHouse-Summary"])["read_rows"] == "3"
    assert [json.loads(line) for line in response.text.splitlines()] == [{"x": 0}, {"x": 4}, {"x": 8}]
    failed = httpx.post(f"http://{standin.host}:{standin.port}/", content=b"SELECT * FROM nowhere")
    assert failed.status_code == 404
    assert failed.headers["X-ClickHouse-Exception-Code"] == "60"


def test_kill_and_restart_keep_data_and_port(tmp_path: Path) -> None:
    with running_standin(tmp_path / "db") as server:
        writer = clickhouse_connect.get_client(dsn=server.url)
        writer.command(f"CREATE TABLE durable ({COLUMNS}) ENGINE = MergeTree ORDER BY ts")
        writer.insert("durable", make_rows(500))
        writer.close()
        port, pid = server.port, server.pid
        server.kill()
        server.restart()
        assert (server.port, server.path) == (port, tmp_path / "db") and server.pid != pid
        reader = clickhouse_connect.get_client(dsn=server.url)
        assert reader.command("SELECT count(), sum(hits) FROM durable") == ["500", str(3 * 499 * 500 // 2)]
        server.stop()
        server.restart()
        assert clickhouse_connect.get_client(dsn=server.url).command("SELECT count() FROM durable") == 500
