"""ClickHouse connections: one factory for a server URL and for embedded chDB.

Both modes go through clickhouse-connect, so the rest of the gateway sees one ``Database``
whatever runs underneath. Embedded mode runs the real ClickHouse engine in-process (chDB); it
allows one engine path per process, so it cannot be shared by several uvicorn workers, and its
client is not safe to call from several threads at once: ``Database`` serialises calls for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

DEFAULT_DATABASE = "gateway"


class ClickHouseUrlError(ValueError):
    """The ClickHouse URL cannot be used; the message never repeats the password."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where ClickHouse is: an embedded data folder, or a server."""

    embedded: bool
    database: str
    path: Path | None = None  # embedded only
    host: str = ""
    port: int = 0
    secure: bool = False
    username: str = "default"
    password: str = ""

    @property
    def display(self) -> str:
        if self.embedded:
            return f"chdb://{self.path} (database {self.database})"
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.username}@{self.host}:{self.port}/{self.database}"

    @classmethod
    def parse(cls, url: str) -> Target:
        if url.startswith("chdb://"):
            location, _, query = url[len("chdb://"):].partition("?")
            if not location:
                raise ClickHouseUrlError("chdb URL needs a path: chdb:///absolute/path or chdb://relative")
            database = parse_qs(query).get("database", [DEFAULT_DATABASE])[0]
            return cls(embedded=True, database=_check_database(database), path=Path(location).resolve())
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClickHouseUrlError("must be http(s)://user:pass@host:port/database or chdb:///path")
        try:
            port = parts.port or (8443 if parts.scheme == "https" else 8123)
        except ValueError:
            raise ClickHouseUrlError("the port is not a number") from None
        database = unquote(parts.path.strip("/")) or DEFAULT_DATABASE
        return cls(embedded=False, database=_check_database(database), host=parts.hostname, port=port,
                   secure=parts.scheme == "https", username=unquote(parts.username or "default"),
                   password=unquote(parts.password or ""))


def _check_database(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ClickHouseUrlError(f"database name {name!r} must be letters, digits and underscores")
    return name


class Database:
    """A connected ClickHouse database, the same whether embedded or a server."""

    def __init__(self, target: Target, client: Client) -> None:
        self.target = target
        self._client = client
        # chDB's engine handle is not thread-safe; the HTTP client is (sessions are disabled).
        self._lock: threading.Lock | None = threading.Lock() if target.embedded else None

    @property
    def name(self) -> str:
        return self.target.database

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._locked():
            return self._client.command(sql, parameters=parameters)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self._locked():
            return [tuple(row) for row in self._client.query(sql, parameters=parameters).result_rows]

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str],
               settings: dict[str, Any] | None = None) -> None:
        with self._locked():
            self._client.insert(table, rows, column_names=list(columns), settings=settings)

    def ping(self) -> float:
        """Round-trip time of ``SELECT 1`` in seconds; raises when ClickHouse does not answer."""
        start = time.perf_counter()
        self.query("SELECT 1")
        return time.perf_counter() - start

    def close(self) -> None:
        with self._locked():
            self._client.close()

    def _locked(self) -> AbstractContextManager[Any]:
        return self._lock if self._lock is not None else nullcontext()


def connect(url: str, *, create_database: bool = True, connect_timeout: float = 5.0,
            send_receive_timeout: float = 30.0) -> Database:
    """Open the database at ``url``, creating it when missing (``create_database``)."""
    target = Target.parse(url)
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
        "host": target.host, "port": target.port, "username": target.username,
        "password": target.password, "secure": target.secure, "connect_timeout": connect_timeout,
        "send_receive_timeout": send_receive_timeout,
        # One client is shared by concurrent requests: ClickHouse refuses concurrent queries in
        # one session, so no session.
        "autogenerate_session_id": False, "compress": "lz4",
    }
    if create_database:
        bootstrap = clickhouse_connect.get_client(**common)
        try:
            _create_database(bootstrap, target.database)
        finally:
            bootstrap.close()
    return Database(target, clickhouse_connect.get_client(database=target.database, **common))


def _create_database(client: Client, name: str) -> None:
    # Asked first: CREATE DATABASE IF NOT EXISTS needs the CREATE DATABASE grant even when the
    # database exists, and a production user usually lacks it.
    exists = client.query("SELECT count() FROM system.databases WHERE name = {name:String}",
                          parameters={"name": name}).result_rows[0][0]
    if not exists:
        client.command(f"CREATE DATABASE IF NOT EXISTS `{name}`")


__all__ = ["ClickHouseError", "ClickHouseUrlError", "Database", "Target", "connect"]
