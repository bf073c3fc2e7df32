"""Shared fixtures: settings, a real embedded ClickHouse, the tiny GeoIP database, an app client; and
the runs of the dated tests at every hard moment, started with the session (tests/test_any_moment.py).

chDB runs one engine path per process, so the whole test session shares one engine folder and
each test gets a database of its own on it, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config.settings import Settings, load_settings
from gateway.storage.clickhouse import Database, connect
from tests.support.operator import METRICS_TOKEN

if TYPE_CHECKING:
    from tests.test_any_moment import MomentRuns

SettingsFactory = Callable[..., Settings]
# The browser tests' shared fixtures (``browser``, ``site``); only those tests request them.
pytest_plugins = ["tests.support.browser_fixtures"]
MOMENT_TEST = "test_any_moment.py"  # the module that runs the dated tests at every hard moment


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The moment test last: its runs go on beside the other tests (``moment_runs``) and it waits for
    them, so the longer the others take, the less of that is left to wait for."""
    items.sort(key=lambda item: item.path.name == MOMENT_TEST)


@pytest.fixture(scope="session", autouse=True)
def moment_runs(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[MomentRuns | None]:
    """The dated tests' runs at every hard moment, started with the session when the moment test is
    in it (else None). The session's tests keep about one of CI's two cores busy, one run at a time
    takes the other; the runs still going when the session ends are killed."""
    if not any(item.path.name == MOMENT_TEST for item in request.session.items):
        yield None
        return
    from tests.test_any_moment import MomentRuns

    runs = MomentRuns(tmp_path_factory.mktemp("moments"))
    try:
        yield runs
    finally:
        runs.stop()


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def clickhouse_url(chdb_path: Path) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield f"chdb://{chdb_path}?database={name}"
    cleanup = connect(f"chdb://{chdb_path}?database=default", create_database=False)
    # SYNC: an Atomic database keeps dropped tables (and their files) for minutes otherwise, and a
    # session that made hundreds of them ran every later test's set-up ~10 times slower.
    cleanup.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")
    cleanup.close()


@pytest.fixture
def db(clickhouse_url: str) -> Iterator[Database]:
    database = connect(clickhouse_url)
    yield database
    database.close()


@pytest.fixture(scope="session")
def city_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.geoip_fixture import build_city_db

    return build_city_db(tmp_path_factory.mktemp("geoip") / "city.mmdb")


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings as the gateway would load them: ``make_settings(env={...}, toml="...")``."""

    def make(env: dict[str, str] | None = None, toml: str | None = None) -> Settings:
        # With the operator token, as a deployment with monitoring has (tests.support.operator).
        environ = {"GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_METRICS_TOKEN": METRICS_TOKEN}
        if toml is not None:
            config = tmp_path / "gateway.toml"
            config.write_text(toml, encoding="utf-8")
            environ["GATEWAY_CONFIG"] = str(config)
        environ.update(env or {})
        return load_settings(environ)

    return make


@pytest.fixture
def app_settings(make_settings: SettingsFactory, clickhouse_url: str, city_db: Path) -> Settings:
    return make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url, "GATEWAY_GEOIP_CITY_DB": str(city_db),
                          "GATEWAY_WRITER_FLUSH_INTERVAL": "0.05"})


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as test_client:
        yield test_client
