"""The application: ``create_app(settings)`` assembles routes, middleware and resources.

Resources (ClickHouse, the batching writer, the GeoIP reader) are opened in the lifespan and
closed there, and reach handlers through ``request.app.state.resources``. Nothing here reads the
environment: ``app_from_environment`` is the one entry point that does, for uvicorn workers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from gateway.config.settings import Settings, ensure_secret_keys, load_settings
from gateway.consent.api import consent_endpoint
from gateway.consent.budget import ConsentBudget
from gateway.consent.cookie import ConsentCodec, ConsentGate
from gateway.consent.log import missing_config_rows
from gateway.consent.origins import OriginWarnings
from gateway.consent.proof import consent_proof
from gateway.control import open_control_channel
from gateway.dashboard import routes as dashboard
from gateway.geoip.lookup import GeoDatabase, GeoDatabaseError
from gateway.geoip.reload import GeoWatcher
from gateway.ingest.endpoint import PATHS, track, uid_key
from gateway.ingest.fastpath import TrackingFastPath
from gateway.ingest.pipeline import Pipeline
from gateway.monitoring import health
from gateway.monitoring.counters import Metrics
from gateway.monitoring.loopwatch import LoopWatch
from gateway.monitoring.metrics import local_sample, metrics_view
from gateway.monitoring.share import SHARE_ENV, WorkerSamples
from gateway.rights import http as rights_http
from gateway.rights.ledger import ConsentLedger
from gateway.rights.limits import PerKeyLimit
from gateway.rights.privacy_api import privacy_notice
from gateway.rights.retention import Sweeper, oldest_kept
from gateway.rights.service import Rights
from gateway.rights.sync import LedgerSync
from gateway.stats.summary_build import SummaryBuilder
from gateway.storage.clickhouse import Database, connect
from gateway.storage.cluster import migrate_schema, pending_schema
from gateway.storage.migrations import MigrationError
from gateway.storage.permissions import PRIVATE_UMASK
from gateway.storage.schema import CONSENT_CONFIGS_TABLE, EVENTS_TABLE
from gateway.storage.spool import Spool, SpoolBusy
from gateway.storage.writer import BatchWriter
from gateway.useragent import parse as useragent
from gateway.web import heap
from gateway.web.accesslog import AccessLogMiddleware, configure_logging
from gateway.web.assets import demo, load_scripts, script, script_paths
from gateway.web.proxy import TrustedProxies
from gateway.web.stopping import StopClock

log = logging.getLogger(__name__)
MAX_SPOOLS = 64
CONFIGS_WAIT = 5.0  # seconds a start waits for its banner configurations to be stored


@dataclass(slots=True)
class Resources:
    settings: Settings
    db: Database
    writer: BatchWriter
    spool: Spool
    geo: GeoDatabase | None


def open_geo(settings: Settings) -> GeoDatabase | None:
    path = settings.city_db_path
    if not path.exists():
        log.warning("no GeoIP city database at %s: hits get no geography. Install one with "
                    "`consent-gateway geoip install` or set GATEWAY_GEOIP_CITY_DB.", path)
        return None
    try:
        return GeoDatabase.open(path, settings.geoip_asn_db)
    except GeoDatabaseError as exc:
        # Serving without geography beats not serving: /-/health reports it as degraded.
        log.error("GeoIP database unusable, hits get no geography: %s", exc)
        return None


def swap_geo(state: Any, new: GeoDatabase) -> None:
    """Put ``new`` in use everywhere a lookup reads it, then close the one it replaces."""
    old = state.resources.geo
    state.resources.geo = state.pipeline.geo = new
    log.info("GeoIP database reloaded: %s", new.describe().get("database_type", "?"))
    if old is not None:
        old.close()


async def open_spool(base: Path, writer: BatchWriter) -> tuple[Spool, int]:
    """The first spool folder no other process holds: ``base/0`` for a single process; with several
    workers each takes the next free one, and a restarted worker replays what its folder kept."""
    for number in range(MAX_SPOOLS):
        spool = Spool(base / str(number), writer)
        try:
            return spool, await spool.open()
        except SpoolBusy:
            continue
    raise SpoolBusy(f"all {MAX_SPOOLS} spool folders under {base} are in use")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # ua-parser's rules compile (~0.1 s of CPU) while the rest starts, not at a worker's first hit.
    rules = asyncio.ensure_future(asyncio.to_thread(useragent.warm_up))
    db = await asyncio.to_thread(connect, settings.clickhouse_target)
    try:
        if settings.migrate_on_start:
            report = await asyncio.to_thread(migrate_schema, db, settings.clickhouse_cluster)
            log.info("%s", report.summary)
        elif todo := await asyncio.to_thread(pending_schema, db, settings.clickhouse_cluster):
            raise MigrationError(f"{len(todo)} migration(s) pending and GATEWAY_MIGRATE_ON_START is off: "
                                 "run `consent-gateway migrate`")
        # A GeoIP database replaced on disk (geoip install --version latest) is used without a restart;
        # the files are looked at before the first open, so a rename during the start is not missed.
        geo_paths = [settings.city_db_path, *([settings.geoip_asn_db] if settings.geoip_asn_db else [])]
        geo_watcher = GeoWatcher(geo_paths, lambda: open_geo(settings), partial(swap_geo, app.state),
                                 settings.geoip_reload_interval)
        geo = open_geo(settings)
        writer = BatchWriter(db, batch_size=settings.writer_batch_size,
                             flush_interval=settings.writer_flush_interval,
                             max_pending=settings.writer_max_pending)
        await writer.start()
        # The ledger of decisions, rebuilt from the consent log before the spool replays, so that a
        # row of a visitor erased or withdrawn meanwhile is dropped on its way (gateway/rights/).
        ledger: ConsentLedger = app.state.ledger
        writer.filter_rows(EVENTS_TABLE, ledger.row_filter(EVENTS_TABLE.columns))
        ledger_sync = LedgerSync(db, ledger, writer, app.state.metrics)
        await ledger_sync.start(time.time())
        # Hits are answered once spooled to disk; the spool hands them to the writer and replays,
        # at start, whatever a crash left unacknowledged.
        spool, replayed = await open_spool(settings.data_dir / "spool", writer)
        if replayed:
            log.info("replayed %d spooled row(s) from the previous run", replayed)
        # What each site's banner shows, stored once per version so decisions can be proven later.
        shown = {site.id: (site, app.state.banners[site.id]) for site in settings.sites}
        new_configs = await asyncio.to_thread(missing_config_rows, db, shown)
        stored = writer.submit(CONSENT_CONFIGS_TABLE, new_configs, urgent=True)
        # Awaited (briefly): a gateway started right after this one must find the rows, or it stores
        # the same configuration again. Past the wait, the writer keeps retrying in the background.
        try:
            await asyncio.wait_for(asyncio.shield(stored), CONFIGS_WAIT)
        except TimeoutError:
            log.warning("the banner configurations are not stored yet; the writer keeps trying")
        except Exception as exc:  # start anyway: the next start stores them
            log.warning("the banner configurations could not be stored (%s)", type(exc).__name__)
        app.state.resources = Resources(settings=settings, db=db, writer=writer, spool=spool, geo=geo)
        app.state.rights = Rights(settings, db, writer=writer, ledger=ledger, sync=ledger_sync)
        app.state.pipeline = Pipeline(gate=app.state.consent_gate, geo=geo, metrics=app.state.metrics,
                                      trusted=app.state.trusted_proxies,
                                      opt_in_countries=settings.opt_in_countries, sites=settings.sites,
                                      store=spool.append)
        # The dummy password hash, made now rather than at the first login with an unknown name (whose
        # slower answer would tell that the name does not exist). In the background: ~0.15 s of CPU.
        asyncio.get_running_loop().run_in_executor(None, app.state.users.passwords.warm_up)
        # Retention and proof periods: deleted now and hourly (reports filter at query time anyway).
        # The dashboard's clock, read at each sweep, so a pinned clock pins both.
        sweeper = Sweeper(db, settings.sites, lambda: app.state.clock(), app.state.metrics.count)
        sweeper.start()
        # The visit summary of closed days (gateway/stats/summary_build.py): built now and every 10 minutes.
        summary_builder = SummaryBuilder(db, settings.sites, lambda: app.state.clock(),
                                         settings.visit_timeout, oldest_kept, app.state.metrics.count)
        summary_builder.start()
        geo_watcher.start()
        # The event loop's stalls, for /-/metrics (monitoring/loopwatch.py); stopped after the last sample.
        loop_watch = app.state.loop_watch = LoopWatch()
        # Counters summed over the workers of `serve --workers N` for /-/metrics (monitoring/share.py).
        samples = app.state.worker_samples = WorkerSamples(
            app.state.metrics_share_folder, lambda: local_sample(app.state) | loop_watch.sample())
        await samples.open()
        # CLI commands reach an embedded ClickHouse through this process (gateway/control/).
        control = await open_control_channel(settings, db, app.state)
        stop_clock = StopClock(settings.shutdown_timeout)
        stop_clock.watch()  # uvicorn's signal handlers are in place by now
        await rules
        if app.state.settle_heap:  # start-up's objects are kept for good: out of the collector's way
            heap.settle()
        # Watched from here: start-up's own pauses (the collection above) delay no request.
        loop_watch.start()
        log.info("gateway ready: ClickHouse %s, %d site(s)", db.target.display, len(settings.sites))
        try:
            yield
        finally:
            if control is not None:
                await control.close()
            await geo_watcher.stop()
            # Together, each waiting for its statement under way at most what is left of the budget.
            await asyncio.gather(sweeper.stop(stop_clock.left()), summary_builder.stop(stop_clock.left()))
            await ledger_sync.close()
            # Within what is left of GATEWAY_SHUTDOWN_TIMEOUT since the signal (gateway/web/stopping.py).
            await spool.close(timeout=stop_clock.left())  # first: it flushes the writer, records acks
            await writer.close(timeout=stop_clock.left())
            await samples.close()  # last: its final sample holds what the spool and writer did
            loop_watch.stop()
            if app.state.resources.geo is not None:
                app.state.resources.geo.close()  # the one in use: a reload closed the ones before
    finally:
        db.close()


def create_app(settings: Settings) -> Starlette:
    routes = [
        *(Route(path, track, methods=["GET", "POST", "OPTIONS"]) for path in PATHS),
        Route("/consent", consent_endpoint, methods=["GET", "POST", "DELETE", "OPTIONS"]),
        Route("/consent/data", rights_http.visitor_data, methods=["GET", "DELETE", "OPTIONS"]),
        Route("/privacy", privacy_notice, methods=["GET", "OPTIONS"]),
        Route("/api/consents/{consent_id}", consent_proof, methods=["GET"]),
        Route("/api/consents/{consent_id}/data", rights_http.owner_consent_data, methods=["GET", "DELETE"]),
        Route("/api/user-data", rights_http.owner_user_data, methods=["GET", "DELETE"]),
        *(Route(path, script, methods=["GET"]) for path in script_paths()),
        Route("/demo/", demo, methods=["GET"]),
        Route("/demo/{file}", demo, methods=["GET"]),
        Route("/-/health", health.health, methods=["GET"]),
        Route("/-/live", health.live, methods=["GET"]),
        Route("/-/ready", health.ready, methods=["GET"]),
        Route("/-/version", health.version, methods=["GET"]),
        Route("/-/metrics", metrics_view, methods=["GET"]),
        *dashboard.routes(),
    ]
    # Tracking hits first, past the router and the access log (gateway/ingest/fastpath.py).
    middleware = [Middleware(TrackingFastPath), Middleware(AccessLogMiddleware)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    settings = ensure_secret_keys(settings)
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.metrics_share_folder = None
    app.state.settle_heap = False  # only a serving process tunes its garbage collector
    app.state.health_ping = health.Pinger()  # one ClickHouse ping in flight at a time
    app.state.trusted_proxies = TrustedProxies(settings.trusted_proxies, count=app.state.metrics.count)
    app.state.ledger = ConsentLedger()
    app.state.consent_gate = ConsentGate(ConsentCodec(settings.secret_keys), app.state.metrics,
                                         decisions=app.state.ledger)
    app.state.rights_limit = PerKeyLimit()
    app.state.consent_budget = ConsentBudget()  # rows a client without a cookie may write
    app.state.origin_warnings = OriginWarnings.new()  # set-up mistakes, logged once per origin
    app.state.sites_by_id = {site.id: site for site in settings.sites}
    app.state.uid_key = uid_key(settings)
    app.state.scripts = load_scripts()
    app.state.demo = settings.demo  # no [[sites]]: the demo site, with or without its token
    app.state.banners = {site.id: site.consent.shown(site.policy_version) for site in settings.sites}
    dashboard.setup(app, settings)
    return app


def app_from_environment() -> Starlette:
    """uvicorn's factory: each worker builds its settings from the same environment."""
    os.umask(PRIVATE_UMASK)  # as under the CLI, when uvicorn runs this factory itself
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    shared = os.environ.get(SHARE_ENV)  # set by `serve --workers N`
    app.state.metrics_share_folder = Path(shared) if shared else None
    app.state.settle_heap = True
    return app
