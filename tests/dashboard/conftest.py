"""Fixtures for the dashboard's browser tests: the real app served over HTTP, seeded, and chromium.

The app runs in this process under uvicorn in a thread, over the test session's embedded chDB
(one engine path per process: ``chdb_path``), in a database of its own dropped at the end. In
process rather than a ``serve`` subprocess so ``app.state.clock`` can be pinned: "now" is the run's
moment (``tests.support.clock``: the real clock when the tests were collected, or a moment set to
try a hard one), the data is seeded up to it, and every range preset and the realtime window stay
the same for the whole module even when the run crosses midnight.

Data: ~60,000 events by ~6,000 visitors over the 60 days before "now" on site 1
(``benchmarks.seed_events``; 60 days, so "Last 30 days" has a previous period to compare with),
plus hand-made rows where a test needs an exact number: two visitors in the last minutes on site 1
(realtime), three visitors today on site 2 (what the viewer sees).

Only the browser tests request those fixtures. The HTTP tests (``test_views``, ``test_visits_views``,
``test_annotations_views``) share ``settings``, ``store`` and ``app`` below: the two configured sites,
an admin (anna) and a viewer of site 2 (victor), ``seed``'s three visitors, the clock pinned to
``NOW``, through Starlette's TestClient. A module with other needs defines its own.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page
from starlette.testclient import TestClient

from benchmarks.seed_events import seed as seed_events
from gateway.app import create_app
from gateway.config.settings import Settings, load_settings
from gateway.dashboard.users import UserStore, users_path
from gateway.storage.clickhouse import Database, connect
from gateway.storage.schema import EVENTS_TABLE
from tests.conftest import SettingsFactory
from tests.e2e.gateway_process import free_port
from tests.support.clock import MOMENT
from tests.support.dashboard import NOW, PASSWORD, SITES_TOML, event, seed

ADMIN, VIEWER, LEAVER = "anna", "victor", "lena"  # lena logs out: that ends all her sessions
SEEDED_EVENTS, SEEDED_VISITORS, SEEDED_DAYS = 60_000, 6_000, 60
SITE_2_VISITORS, SITE_2_PAGEVIEWS = 3, 4
PageFactory = Callable[..., Page]


@dataclass(frozen=True, slots=True)
class Dashboard:
    base: str  # http://127.0.0.1:PORT
    db: Database  # the app's database, for rows a test adds while the page is open
    now: dt.datetime  # the app's pinned clock (aware, UTC)


def _hand_made_rows(now: dt.datetime) -> list[tuple[Any, ...]]:
    # Site 2's rows stay inside today (UTC, the site's zone) even just after midnight, and in order:
    # a visitor's two hits in the same millisecond would have no defined order.
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)

    def today(minutes: int) -> dt.datetime:
        return max(midnight + dt.timedelta(seconds=60 - minutes), now - dt.timedelta(minutes=minutes))

    live = 10**15  # visitor ids far from the seed's
    return [
        event(live + 1, now - dt.timedelta(minutes=2), path="/"),
        event(live + 2, now - dt.timedelta(minutes=5), path="/brakes"),
        event(live + 11, today(50), path="/", site=2, country_code="FR", city_name="Lyon"),
        event(live + 11, today(49), path="/offers", site=2, country_code="FR", city_name="Lyon"),
        event(live + 12, today(40), path="/", site=2),
        event(live + 13, today(30), path="/offers", site=2),
    ]


def _serve(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "the dashboard did not start in 30 s"
        time.sleep(0.02)
    return server, thread


@pytest.fixture(scope="module")
def dashboard(
    tmp_path_factory: pytest.TempPathFactory, chdb_path: Path, city_db: Path
) -> Iterator[Dashboard]:
    """The seeded app on a free port; admins ``anna`` and ``lena`` see both sites, viewer ``victor``
    site 2."""
    folder = tmp_path_factory.mktemp("dashboard-browser")
    config = folder / "gateway.toml"
    config.write_text(SITES_TOML, encoding="utf-8")
    name = f"dashboard_browser_{uuid.uuid4().hex[:8]}"
    settings = load_settings({
        "GATEWAY_DATA_DIR": str(folder / "data"), "GATEWAY_CONFIG": str(config),
        "GATEWAY_CLICKHOUSE_URL": f"chdb://{chdb_path}?database={name}",
        "GATEWAY_GEOIP_CITY_DB": str(city_db),
    })
    users = UserStore(users_path(settings))
    users.add(ADMIN, PASSWORD, "admin", [])
    users.add(VIEWER, PASSWORD, "viewer", [2])
    users.add(LEAVER, PASSWORD, "admin", [])
    now = MOMENT.instant  # the real clock, or the moment the run is set to (tests.support.clock)
    db = connect(settings.clickhouse_url)
    seed_events(db, events=SEEDED_EVENTS, visitors=SEEDED_VISITORS, days=SEEDED_DAYS, end=now,
                site_id=1)
    db.insert("events", _hand_made_rows(now), list(EVENTS_TABLE.columns))
    app = create_app(settings)
    app.state.clock = lambda: now
    server, thread = _serve(app, free_port())
    try:
        yield Dashboard(f"http://127.0.0.1:{server.config.port}", db, now)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        db.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")
        db.close()


def log_in(page: Page, base: str, name: str, password: str = PASSWORD, target: str = "/dashboard") -> None:
    """Log in through the form, as a person does: the page then shows where the login led."""
    page.goto(f"{base}{target}")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


@pytest.fixture(scope="module")
def admin_state(browser: Browser, dashboard: Dashboard) -> dict[str, Any]:
    """The admin's cookies after one login through the form, for the tests that start logged in."""
    context = browser.new_context()
    try:
        page = context.new_page()
        log_in(page, dashboard.base, ADMIN)
        assert "/dashboard/login" not in page.url, page.content()
        state: dict[str, Any] = dict(context.storage_state())
    finally:
        context.close()
    return state


@pytest.fixture
def open_page(browser: Browser, admin_state: dict[str, Any]) -> Iterator[PageFactory]:
    """Pages in fresh contexts: ``open_page()`` logged in as the admin, ``open_page(state=None)``
    logged out; other keywords (``color_scheme``, ``viewport``) go to ``new_context``."""
    contexts: list[BrowserContext] = []

    def make(state: dict[str, Any] | None = admin_state, **options: Any) -> Page:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(storage_state=state, locale="en-GB", **options)  # type: ignore[arg-type]
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def settings(make_settings: SettingsFactory, clickhouse_url: str, city_db: Path) -> Settings:
    return make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url, "GATEWAY_GEOIP_CITY_DB": str(city_db)},
                         SITES_TOML)


@pytest.fixture
def store(settings: Settings) -> UserStore:
    users = UserStore(users_path(settings))
    users.add("anna", PASSWORD, "admin", [])
    users.add("victor", PASSWORD, "viewer", [2])
    return users


@pytest.fixture
def app(settings: Settings, store: UserStore, db: Database) -> Iterator[TestClient]:
    seed(db)
    application = create_app(settings)
    application.state.clock = lambda: NOW
    with TestClient(application, base_url="http://127.0.0.1") as client:
        yield client
