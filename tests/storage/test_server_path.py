"""The storage layer over HTTP, against the chDB-backed stand-in for clickhouse-server.

The stand-in (tests/support/clickhouse_standin.py) runs the real engine in a subprocess, so these
tests cover clickhouse-connect's HTTP client path, migrations and the writer across an outage.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.storage.clickhouse import Database, connect
from gateway.storage.migrations import migrate
from gateway.storage.schema import CONSENT_LOG_TABLE, MIGRATIONS
from gateway.storage.writer import BatchWriter
from tests.support.clickhouse_standin import StandIn, running_standin
from tests.support.clock import MOMENT


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    with running_standin(tmp_path_factory.mktemp("standin")) as server:
        yield server


@pytest.fixture
def server_db(standin: StandIn) -> Iterator[Database]:
    url = f"http://default:@{standin.host}:{standin.port}/srv_{uuid.uuid4().hex[:10]}"
    database = connect(url, connect_timeout=2, send_receive_timeout=5)
    yield database
    database.close()


# Noon (UTC) on the run's day: a fixed day would fall out of a retention the log may get one day.
NOON = dt.datetime.combine(MOMENT.instant.date(), dt.time(12), tzinfo=dt.UTC)


def consent_row(n: int) -> tuple[object, ...]:
    ts = NOON + dt.timedelta(seconds=n % 60)
    return (uuid.uuid4(), 1, ts, "grant", ["necessary", "analytics"], "1", "b1", "en", "banner", "DE",
            "Firefox", "test")


def test_the_server_path_creates_the_database_and_migrates_idempotently(server_db: Database) -> None:
    assert not server_db.target.embedded
    assert migrate(server_db).applied
    assert migrate(server_db).applied == ()
    assert server_db.query("SELECT currentDatabase()") == [(server_db.name,)]


def test_rows_round_trip_with_utc_timestamps(server_db: Database) -> None:
    migrate(server_db)
    row = consent_row(7)
    server_db.insert(CONSENT_LOG_TABLE.name, [row], CONSENT_LOG_TABLE.columns)
    [(stored_ts, categories)] = server_db.query("SELECT toString(ts), categories FROM consent_log")
    assert stored_ts == f"{NOON.date()} 12:00:07.000"
    assert categories == ["necessary", "analytics"]


async def test_writer_rides_out_a_clickhouse_outage_without_loss_or_duplicates(
        standin: StandIn, server_db: Database) -> None:
    migrate(server_db)
    writer = BatchWriter(server_db, batch_size=50, flush_interval=0.05, max_backoff=0.2)
    await writer.start()
    before = writer.submit(CONSENT_LOG_TABLE, [consent_row(i) for i in range(50)])
    await asyncio.wait_for(before, timeout=10)

    standin.kill()
    during = writer.submit(CONSENT_LOG_TABLE, [consent_row(i) for i in range(120)])
    while writer.stats.insert_failures == 0:
        await asyncio.sleep(0.05)
    assert not during.done()
    standin.restart()
    await asyncio.wait_for(during, timeout=20)
    await writer.close()
    assert server_db.query("SELECT count() FROM consent_log") == [(170,)]


def test_unreachable_server_fails_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"127\.0\.0\.1|connect|Connection"):
        connect("http://default:@127.0.0.1:9/gw", connect_timeout=0.5)


def test_several_instances_migrating_a_fresh_server_at_once_all_start_and_agree(standin: StandIn) -> None:
    """Gateways started together against a new database each run `migrate` (as `serve` does at start):
    every one succeeds, the schema is the newest one (a late migrator undid nothing), and each version
    is recorded (duplicate records merge: ReplacingMergeTree, read with FINAL)."""
    url = f"http://default:@{standin.host}:{standin.port}/race_{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {"GATEWAY_CLICKHOUSE_URL": url, "GATEWAY_SECRET_KEYS": "k" * 40}
    runs = [subprocess.Popen([sys.executable, "-m", "gateway", "migrate"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    database = connect(url, connect_timeout=2, send_receive_timeout=10)
    try:
        versions = database.query("SELECT version, count() FROM schema_migrations FINAL GROUP BY version "
                                  "ORDER BY version")
        assert versions == [(v, 1) for v in range(1, len(MIGRATIONS) + 1)]
        assert migrate(database).applied == ()  # a later start finds nothing to do
        tables = {name for (name,) in database.query("SELECT name FROM system.tables WHERE database = "
                                                     "currentDatabase()")}
        assert {"events", "consent_log", "consent_configs", "rights_requests", "visits",
                "visit_builds"} <= tables
        [(action,)] = database.query("SELECT type FROM system.columns WHERE database = currentDatabase() "
                                     "AND table = 'consent_log' AND name = 'action'")
        assert "'undelivered' = 6" in action
    finally:
        database.close()


def test_the_gateway_moves_to_the_next_server_when_one_does_not_answer(
        standin: StandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from tests.e2e.gateway_process import free_port

    database = f"failover_{uuid.uuid4().hex[:10]}"
    dead = f"http://default:@127.0.0.1:{free_port()}/{database}"
    live = f"http://default:@{standin.host}:{standin.port}/{database}"
    # At the start: a first server that is down is passed over.
    db = connect(f"{dead},{live}", connect_timeout=1)
    try:
        assert db.query("SELECT 1") == [(1,)]
    finally:
        db.close()
    # While running: the server in use goes away; the next read is answered by the other one.
    with running_standin(tmp_path / "second") as second:
        db = connect(f"http://default:@{second.host}:{second.port}/{database},{live}", connect_timeout=1)
        try:
            db.command("CREATE TABLE IF NOT EXISTS here (n UInt8) ENGINE = Memory")
            assert db.query("SELECT count() FROM system.tables WHERE name = 'here'") == [(1,)]
            second.kill()
            # Answered by the other server, which has no such table: the read moved.
            assert db.query("SELECT count() FROM system.tables WHERE name = 'here'") == [(0,)]
            assert f"to {standin.host}:{standin.port}" in caplog.text
        finally:
            db.close()


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA of the operator's own, and a certificate it signed for 127.0.0.1 (openssl, valid from now)."""
    folder.mkdir()

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=consent-gateway test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
            "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


def test_https_with_the_operators_ca_file_connects_and_without_it_is_refused(
        standin: StandIn, tmp_path: Path) -> None:
    import ssl

    from gateway.storage.clickhouse import Target
    from tests.support.hanging_proxy import HangingProxy

    ca, certificate, key = _certificates(tmp_path / "tls")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificate, key)
    with HangingProxy(standin.port, tls=tls) as server:
        url = f"https://default:@127.0.0.1:{server.port}/tls_{uuid.uuid4().hex[:8]}"
        db = connect(Target.parse(url).with_options(ca_file=ca))
        try:
            assert db.query("SELECT 1") == [(1,)]
        finally:
            db.close()
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            connect(url, connect_timeout=2)


def test_a_cluster_name_makes_inserts_wait_for_their_shard_and_subqueries_run_per_shard(
        standin: StandIn) -> None:
    from gateway.storage.clickhouse import Target

    url = f"http://default:@{standin.host}:{standin.port}/settings_{uuid.uuid4().hex[:8]}"
    for cluster, expected in (("", ("0", "deny")), ("cg", ("1", "local"))):
        db = connect(Target.parse(url).with_options(cluster=cluster))
        try:
            rows = db.query("SELECT name, value FROM system.settings WHERE name IN "
                            "('distributed_foreground_insert', 'distributed_product_mode') ORDER BY name")
            assert tuple(value for _, value in rows) == expected
        finally:
            db.close()


def test_calls_failing_together_try_the_other_servers_once_not_one_read_timeout_each(
        standin: StandIn, tmp_path: Path) -> None:
    import threading
    import time

    from tests.support.hanging_proxy import HangingProxy

    database = f"together_{uuid.uuid4().hex[:8]}"
    with running_standin(tmp_path / "first") as first, HangingProxy(standin.port) as hung:
        hung.hang()  # the next server takes requests and never answers
        db = connect(f"http://default:@{first.host}:{first.port}/{database},"
                     f"http://default:@{standin.host}:{hung.port}/{database}", send_receive_timeout=2)
        first.kill()
        took: list[float] = []

        def read() -> None:
            started = time.monotonic()
            with pytest.raises(Exception):  # noqa: B017 (no server answers: any driver error)
                db.query("SELECT 1")
            took.append(time.monotonic() - started)

        readers = [threading.Thread(target=read) for _ in range(4)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
        db.close()
    # One try of the hung server (its 2 s read timeout), not one after the other (2, 4, 6, 8 s).
    assert len(took) == 4 and max(took) < 2 + 2, sorted(took)
