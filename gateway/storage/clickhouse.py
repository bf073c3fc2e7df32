"""ClickHouse connections: one factory for server URLs and for embedded chDB.

Both modes go through clickhouse-connect, so the rest of the gateway sees one ``Database``
whatever runs underneath. Embedded mode runs the real ClickHouse engine in-process (chDB); it
allows one engine path per process, so it cannot be shared by several uvicorn workers, and its
client is not safe to call from several threads at once: ``Database`` serialises calls for it.

A server target may name several servers (replicas of one cluster, or of one server behind no load
balancer): the gateway talks to one at a time and moves to the next when a request cannot reach it
(a refused or broken connection, no answer within the read timeout; a slow query counts too). A
read is asked again of the next server at once; an insert or a command is not, since the failed
attempt may have been applied: its caller retries it (the writer under its deduplication token, the
erasure with its passes), and that retry goes to the next server. With a cluster name, statements
that change rows in place (``mutation_table``) go to the sharded table's local tables ``ON CLUSTER``,
and inserts wait until the rows reached their shard.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "gateway"
# On a cluster, the tables whose rows are spread over the shards, with their sharding keys (the
# reasons: gateway/storage/cluster.py), and the suffix of the local tables that hold the rows.
SHARDING_KEYS = {"events": "cityHash64(site_id, visitor_id)", "visits": "cityHash64(site_id, visitor_id)"}
LOCAL_SUFFIX = "_local"
# On a cluster: an insert answers once the rows reached their shard (so "stored" means stored), and a
# subquery on a Distributed table inside a query on one runs on each shard's local table, which is
# right because a visitor's hits all live on one shard (the sharding key).
# A statement ON CLUSTER (an erasure, a retention sweep, a migration) waits for every node at most this
# long, then fails with ClickHouse's own timeout error (the nodes still apply it when they can): below
# the client's 30 s read timeout, which would take a waiting node for a dead one and move to the next.
CLUSTER_SETTINGS = {"distributed_foreground_insert": 1, "distributed_product_mode": "local",
                    "distributed_ddl_task_timeout": 25}
# After every other server failed to answer, how long failing calls go on failing at once instead of
# each trying the servers again (one try at a time: a hung server costs one read timeout, not one each).
RETRY_SERVERS_AFTER = 5.0
# Several URLs: split only before a scheme, since a password may hold a comma.
URL_SEPARATOR = re.compile(r",(?=\s*(?:https?|chdb)://)")
T = TypeVar("T")


class ClickHouseUrlError(ValueError):
    """The ClickHouse URL cannot be used; the message never repeats the password."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where ClickHouse is: an embedded data folder, or one or more servers."""

    embedded: bool
    database: str
    path: Path | None = None  # embedded only
    host: str = ""
    port: int = 0
    secure: bool = False
    username: str = "default"
    password: str = ""
    more: tuple[tuple[str, int], ...] = ()  # further servers, tried in order when one fails
    ca_file: Path | None = None  # the CA that signed the servers' certificates (https)
    cluster: str = ""  # a ClickHouse cluster's name, for its sharded tables

    @property
    def servers(self) -> tuple[tuple[str, int], ...]:
        return ((self.host, self.port), *self.more)

    @property
    def display(self) -> str:
        if self.embedded:
            return f"chdb://{self.path} (database {self.database})"
        scheme = "https" if self.secure else "http"
        hosts = ",".join(f"{host}:{port}" for host, port in self.servers)
        on = f" (cluster {self.cluster})" if self.cluster else ""
        return f"{scheme}://{self.username}@{hosts}/{self.database}{on}"

    @classmethod
    def parse(cls, url: str) -> Target:
        """One URL, or several server URLs separated by commas (same scheme, user and database)."""
        if url.startswith("chdb://"):
            location, _, query = url[len("chdb://"):].partition("?")
            if not location:
                raise ClickHouseUrlError("chdb URL needs a path: chdb:///absolute/path or chdb://relative")
            database = parse_qs(query).get("database", [DEFAULT_DATABASE])[0]
            return cls(embedded=True, database=_check_database(database), path=Path(location).resolve())
        first, *others = (_server(part.strip()) for part in URL_SEPARATOR.split(url))
        for index, other in enumerate(others, start=2):
            if (other.secure, other.username, other.password, other.database) != \
                    (first.secure, first.username, first.password, first.database):
                raise ClickHouseUrlError(f"server #{index} differs from the first in its scheme, user, "
                                         "password or database: several URLs must name replicas of one "
                                         "service")
        return replace(first, more=tuple((o.host, o.port) for o in others))

    def with_options(self, *, password: str = "", ca_file: Path | None = None, cluster: str = "") -> Target:
        """This target with a password from elsewhere (a secret file), a CA and a cluster name."""
        return replace(self, password=password or self.password, ca_file=ca_file or self.ca_file,
                       cluster=cluster or self.cluster)


def _server(url: str) -> Target:
    if url.startswith("chdb://"):
        raise ClickHouseUrlError("an embedded chdb:// URL cannot be one of several servers")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClickHouseUrlError("must be http(s)://user:pass@host:port/database or chdb:///path")
    try:
        port = parts.port or (8443 if parts.scheme == "https" else 8123)
    except ValueError:
        raise ClickHouseUrlError("the port is not a number") from None
    database = unquote(parts.path.strip("/")) or DEFAULT_DATABASE
    return Target(embedded=False, database=_check_database(database), host=parts.hostname, port=port,
                  secure=parts.scheme == "https", username=unquote(parts.username or "default"),
                  password=unquote(parts.password or ""))


NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_name(name: str) -> str:
    """``name`` (a cluster's, a database's), if ClickHouse takes it unquoted; else ValueError."""
    if not NAME.fullmatch(name):
        raise ValueError(f"name {name!r}: a cluster's or database's name is letters, digits and _ only")
    return name


def _check_database(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ClickHouseUrlError(f"database name {name!r} must be letters, digits and underscores")
    return name


class Database:
    """A connected ClickHouse database, the same whether embedded, a server or a cluster."""

    def __init__(self, target: Target, client: Client,
                 reconnect: Callable[[str, int], Client] | None = None, server: int = 0) -> None:
        self.target = target
        self._client = client
        self._server = server  # index in target.servers of the one ``_client`` talks to
        self._reconnect = reconnect
        self._retry_servers_at = 0.0  # monotonic time before which no other server is tried again
        # chDB's engine handle is not thread-safe; the HTTP client is (sessions are disabled).
        self._lock: threading.Lock | None = threading.Lock() if target.embedded else None
        self._switching = threading.Lock()

    @property
    def name(self) -> str:
        return self.target.database

    def mutation_table(self, table: str) -> str:
        """Where ``DELETE FROM`` / ``ALTER TABLE ... UPDATE`` of ``table``'s rows must go: on a cluster,
        a sharded table's local tables on every node (a Distributed table takes no mutation)."""
        if self.target.cluster and table in SHARDING_KEYS:
            return f"{table}{LOCAL_SUFFIX} ON CLUSTER {self.target.cluster}"
        return table

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self._call(lambda client: client.command(sql, parameters=parameters), retry=False)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._call(lambda client: [tuple(row) for row in
                                          client.query(sql, parameters=parameters).result_rows], retry=True)

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str],
               settings: dict[str, Any] | None = None) -> None:
        self._call(lambda client: client.insert(table, rows, column_names=list(columns), settings=settings),
                   retry=False)

    def ping(self) -> float:
        """Round-trip time of ``SELECT 1`` in seconds; raises when ClickHouse does not answer."""
        start = time.perf_counter()
        self.query("SELECT 1")
        return time.perf_counter() - start

    def close(self) -> None:
        with self._locked():
            self._client.close()

    def _call(self, work: Callable[[Client], T], *, retry: bool) -> T:
        with self._locked():
            client = self._client
            try:
                return work(client)
            except OperationalError:
                if not self._fail_over(client) or not retry:
                    raise
            return work(self._client)

    def _fail_over(self, failed: Client) -> bool:
        """Move to the next server that accepts a connection; False when there is no other one."""
        servers = self.target.servers
        if self._reconnect is None or len(servers) == 1:
            return False
        with self._switching:
            if self._client is not failed:  # another thread moved on meanwhile
                return True
            if time.monotonic() < self._retry_servers_at:  # they all failed a moment ago
                return False
            for step in range(1, len(servers)):
                index = (self._server + step) % len(servers)
                host, port = servers[index]
                try:
                    client = self._reconnect(host, port)
                except Exception as exc:  # down too: try the next one
                    log.warning("ClickHouse server %s:%s does not answer either: %s", host, port,
                                type(exc).__name__)
                    continue
                log.warning("ClickHouse: moved from %s:%s to %s:%s", *servers[self._server], host, port)
                # A request still under way on the old client fails, and moves over as this one did.
                failed.close()
                self._client, self._server = client, index
                return True
            self._retry_servers_at = time.monotonic() + RETRY_SERVERS_AFTER
        return False

    def _locked(self) -> AbstractContextManager[Any]:
        return self._lock if self._lock is not None else nullcontext()


def connect(url: str | Target, *, create_database: bool = True, connect_timeout: float = 5.0,
            send_receive_timeout: float = 30.0) -> Database:
    """Open the database at ``url``, creating it when missing (``create_database``)."""
    target = url if isinstance(url, Target) else Target.parse(url)
    if target.embedded:
        assert target.path is not None
        # Private: the engine's files hold every hit and consent (its later files follow the umask,
        # gateway/storage/permissions.py).
        target.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The engine starts in the "default" database: create ours before selecting it.
        if create_database:
            bootstrap = clickhouse_connect.get_client(interface="chdb", path=str(target.path))
            try:
                _create_database(bootstrap, target.database)
            finally:
                bootstrap.close()
        client = clickhouse_connect.get_client(interface="chdb", path=str(target.path),
                                               database=target.database)
        return Database(target, client)
    common: dict[str, Any] = {
        "username": target.username, "password": target.password, "secure": target.secure,
        "connect_timeout": connect_timeout, "send_receive_timeout": send_receive_timeout,
        # One client is shared by concurrent requests: ClickHouse refuses concurrent queries in
        # one session, so no session.
        "autogenerate_session_id": False, "compress": "lz4",
    }
    if target.ca_file is not None:
        common["ca_cert"] = str(target.ca_file)
    if target.cluster:
        common["settings"] = dict(CLUSTER_SETTINGS)

    def client_for(host: str, port: int, database: str | None = target.database) -> Client:
        return clickhouse_connect.get_client(host=host, port=port, database=database, **common)

    first: Exception | None = None
    for index, (host, port) in enumerate(target.servers):
        try:
            if create_database:
                bootstrap = client_for(host, port, database=None)
                try:
                    _create_database(bootstrap, target.database, target.cluster)
                finally:
                    bootstrap.close()
            return Database(target, client_for(host, port), reconnect=client_for, server=index)
        except OperationalError as exc:  # this server does not answer: the next one may
            first = first or exc
    assert first is not None
    raise first


def _create_database(client: Client, name: str, cluster: str = "") -> None:
    # Asked first: CREATE DATABASE IF NOT EXISTS needs the CREATE DATABASE grant even when the
    # database exists, and a production user usually lacks it.
    exists = client.query("SELECT count() FROM system.databases WHERE name = {name:String}",
                          parameters={"name": name}).result_rows[0][0]
    if not exists:
        on = f" ON CLUSTER {cluster}" if cluster else ""
        client.command(f"CREATE DATABASE IF NOT EXISTS `{name}`{on}")


__all__ = ["ClickHouseError", "ClickHouseUrlError", "Database", "Target", "check_name", "connect"]
