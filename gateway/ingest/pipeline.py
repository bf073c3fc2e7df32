"""The ingest pipeline: parse → consent gate → filters → geo → user agent → scrub → visit → buffer.

``parse`` happened at the edge (``hit.parse_hit``). Each later step is a small function over the
parsed ``Hit``, the request's ``Context`` and the ``Event`` row being built; it returns ``None`` to
go on or a ``Drop`` reason to stop. Every step is counted and timed (``/-/metrics``: ``steps``),
every drop counted by reason (``hits_dropped``). Nothing about the visitor is looked at before the
consent step has found a valid analytics consent: the consent comes first.

The client IP lives only inside the geo step: read from the socket or a trusted proxy's header (or
``cip`` with the site token), looked up, and dropped. It is never put on the event, the context or
in a log line.
"""

from __future__ import annotations

import datetime as dt
import operator
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from gateway.config.sites import Site
from gateway.consent.cookie import Consent, ConsentGate
from gateway.geoip.lookup import EMPTY_GEO, Geo, GeoDatabaseError, GeoLookup
from gateway.ingest.hit import Hit
from gateway.ingest.outcomes import DROPPED, Drop, StepTimer, clock_ns
from gateway.ingest.referrer import campaign_from_params, classify
from gateway.ingest.scrub import DEFAULT_SECRET_PARAMS, Scrubber
from gateway.monitoring.counters import Metrics
from gateway.storage.schema import EVENTS_TABLE, TableSpec
from gateway.useragent.parse import Agent, ClientHints, hints_from_headers, hints_from_uadata, parse_agent
from gateway.web.cors import foreign_origin
from gateway.web.proxy import TrustedProxies, client_ip

MAX_STORED_URL = 4096  # after scrubbing and re-encoding, which can grow a URL (CJK: ~9 bytes a character)
Store = Callable[[TableSpec, Sequence[Sequence[Any]]], Awaitable[None]]
NO_CONSENT_ID = uuid.UUID(int=0)


@dataclass(slots=True)
class Event:
    """The row being built; attribute names are the events table's columns."""

    site_id: int
    ts: dt.datetime
    visitor_id: int
    consent_id: uuid.UUID
    retention_days: int
    event_type: str
    new_visit: int = 0
    user_id: str = ""
    pageview_id: str = ""
    url_host: str = ""
    url_path: str = ""
    url_query: str = ""
    title: str = ""
    link_url: str = ""
    referrer_type: str = "direct"
    referrer_host: str = ""
    referrer_path: str = ""
    referrer_name: str = ""
    referrer_keyword: str = ""
    campaign_source: str = ""
    campaign_medium: str = ""
    campaign_name: str = ""
    campaign_term: str = ""
    campaign_content: str = ""
    country_code: str = ""
    subdivision_code: str = ""
    subdivision_name: str = ""
    city_name: str = ""
    city_name_local: str = ""
    isp: str = ""
    browser_name: str = ""
    browser_version: str = ""
    os_name: str = ""
    os_version: str = ""
    device_type: str = ""
    device_brand: str = ""
    device_model: str = ""
    screen_width: int = 0
    screen_height: int = 0
    language: str = ""
    event_category: str = ""
    event_action: str = ""
    event_name: str = ""
    event_value: float | None = None
    search_keyword: str = ""
    search_category: str = ""
    search_count: int | None = None
    goal_id: int = 0
    revenue: float = 0.0
    dimensions: dict[str, str] = field(default_factory=dict)

    def row(self) -> tuple[Any, ...]:
        return _ROW(self)


_ROW = operator.attrgetter(*EVENTS_TABLE.columns)  # the events table's columns, one C call


@dataclass(slots=True)
class Context:
    """One request's side of a hit: what the steps may read besides the hit itself."""

    request: Request
    now: float
    consent: Consent | None = None
    agent: Agent | None = None
    places: dict[tuple[str, str], Geo] = field(default_factory=dict)  # (ip, language) -> Geo, this request


Step = Callable[["Pipeline", Hit, Context, Event], Drop | None]


class Pipeline:
    def __init__(self, *, gate: ConsentGate, geo: GeoLookup | None, metrics: Metrics,
                 trusted: TrustedProxies, opt_in_countries: frozenset[str], sites: Sequence[Site],
                 store: Store) -> None:
        self.gate = gate
        self.geo = geo
        self.metrics = metrics
        self.trusted = trusted
        self.opt_in_countries = opt_in_countries
        self.scrubbers = {site.id: Scrubber((*DEFAULT_SECRET_PARAMS, *site.secret_params)) for site in sites}
        # A referrer from any of the site's own hosts is internal navigation, not a "website".
        self.site_hosts = {site.id: tuple(("*." if o.wildcard_host else "") + o.host for o in site.origins)
                           for site in sites}
        self.store = store
        self.timer = StepTimer()

    def process(self, hit: Hit, request: Request, now: float,
                places: dict[tuple[str, str], Geo] | None = None) -> Event | Drop:
        """Run the steps; the event to store, or why the hit was dropped (counted). ``places`` carries
        lookups across the hits of one request (a bulk), which all come from one client."""
        context = Context(request=request, now=now, places={} if places is None else places)
        started = clock_ns()
        consent = self.gate.consent_for(request, hit.site, now)
        self.timer.add("consent", clock_ns() - started)
        if consent is None:
            return self._drop(Drop.NO_CONSENT)
        # Several decisions within one second are stamped with successive seconds (the ledger orders
        # them), so a decision may be stamped a little ahead of the clock: it holds from now.
        if hit.ts < min(consent.decided_at, int(now)):
            return self._drop(Drop.BEFORE_CONSENT)
        context.consent = consent
        event = Event(site_id=hit.site.id, ts=dt.datetime.fromtimestamp(hit.ts, dt.UTC),
                      visitor_id=consent.visitor_id, consent_id=consent.consent_id,
                      retention_days=hit.site.retention_days, event_type=hit.kind)
        for name, step in STEPS:
            started = clock_ns()
            reason = step(self, hit, context, event)
            self.timer.add(name, clock_ns() - started)
            if reason is not None:
                return self._drop(reason)
        return event

    async def buffer(self, events: Sequence[Event]) -> None:
        """The last step: hand the rows to storage; returns once they will not be lost."""
        started = clock_ns()
        await self.store(EVENTS_TABLE, [event.row() for event in events])
        self.timer.add("buffer", clock_ns() - started)

    def _drop(self, reason: Drop) -> Drop:
        self.metrics.count(DROPPED, reason)
        return reason


def filters(pipeline: Pipeline, hit: Hit, context: Context, event: Event) -> Drop | None:
    if not hit.recorded:
        return Drop.NOT_RECORDED
    if not hit.kind:
        return Drop.UNSUPPORTED
    if foreign_origin(context.request, hit.site):
        return Drop.FOREIGN_ORIGIN
    hints = (hints_from_uadata(hit.uadata) if hit.uadata else None) or _header_hints(context.request)
    context.agent = agent = parse_agent(hit.user_agent, hints)
    if agent.bot and not hit.keep_bots:
        return Drop.BOT
    return None


def _header_hints(request: Request) -> ClientHints | None:
    # One pass over the raw headers: most requests carry no Sec-CH-UA* at all.
    found = {name.decode("latin-1"): value.decode("latin-1") for name, value in request.scope["headers"]
             if name.startswith(b"sec-ch-ua")}
    return hints_from_headers(found) if found else None


def geo(pipeline: Pipeline, hit: Hit, context: Context, event: Event) -> Drop | None:
    place = _locate(pipeline, hit, context)
    consent = context.consent
    if consent is not None and consent.source == "regime" and (
            not place.country_code or place.country_code in pipeline.opt_in_countries):
        # A default granted where opt-out law applies does not travel to where opt-in law applies
        # (unknown places count as opt-in, the strict side).
        return Drop.OPT_IN_REGION
    event.country_code = place.country_code
    event.subdivision_code = place.subdivision_code
    event.subdivision_name = place.subdivision_name
    event.city_name = place.city_name
    event.city_name_local = place.city_name_local
    event.isp = place.isp
    return None


def _locate(pipeline: Pipeline, hit: Hit, context: Context) -> Geo:
    if hit.geo_override is not None:
        country, region, city = hit.geo_override
        return Geo(country_code=country, subdivision_code=region, city_name=city)
    if pipeline.geo is None:
        return EMPTY_GEO
    ip = hit.ip_override or client_ip(context.request.scope, pipeline.trusted)
    if not ip:
        return EMPTY_GEO
    key = (ip, hit.site.language or "en")
    place = context.places.get(key)
    if place is None:
        try:
            place = context.places[key] = pipeline.geo.lookup(*key)
        except GeoDatabaseError:
            pipeline.metrics.count("geoip", "lookup-failed")
            return EMPTY_GEO
    return place


def user_agent(pipeline: Pipeline, hit: Hit, context: Context, event: Event) -> Drop | None:
    agent = context.agent
    if agent is not None:
        event.browser_name, event.browser_version = agent.browser_name, agent.browser_version
        event.os_name, event.os_version = agent.os_name, agent.os_version
        event.device_type, event.device_brand = agent.device_type, agent.device_brand
        event.device_model = agent.device_model
    event.screen_width, event.screen_height = hit.screen
    event.language = hit.language
    return None


def scrub(pipeline: Pipeline, hit: Hit, context: Context, event: Event) -> Drop | None:
    scrubber = pipeline.scrubbers[hit.site.id]
    text = scrubber.text
    page = scrubber.url(hit.url, keep_fragment=hit.site.keep_url_fragment)
    # Hosts too: "10.20.30.40.nip.io" names an address. Re-encoded URLs can grow (CJK): capped again.
    event.url_host, event.url_path = text(page.host), page.path[:MAX_STORED_URL]
    event.url_query = (page.query + (f"#{page.fragment}" if page.fragment else ""))[:MAX_STORED_URL]
    event.title = text(hit.title)
    event.link_url = scrubber.url(hit.link_url).unsplit()[:MAX_STORED_URL] if hit.link_url else ""
    campaign = campaign_from_params(page.params)
    referrer = classify(scrubber.url(hit.referrer) if hit.referrer else None, page_host=page.host,
                        campaign=campaign, site_hosts=pipeline.site_hosts[hit.site.id])
    event.referrer_type, event.referrer_host = referrer.type, text(referrer.host)
    event.referrer_path, event.referrer_name = referrer.path[:MAX_STORED_URL], text(referrer.name)
    event.referrer_keyword = referrer.keyword
    if campaign is not None:
        event.campaign_source, event.campaign_medium = campaign.source, campaign.medium
        event.campaign_name, event.campaign_term = campaign.name, campaign.term
        event.campaign_content = campaign.content
    event.pageview_id = hit.pageview_id
    event.user_id = hit.user_id
    # Device names come from the page's own client hints ("model"): free text like any other.
    event.device_brand, event.device_model = text(event.device_brand), text(event.device_model)
    event.event_category, event.event_action = text(hit.event_category), text(hit.event_action)
    event.event_name, event.event_value = text(hit.event_name), hit.event_value
    event.search_keyword, event.search_category = text(hit.search_keyword), text(hit.search_category)
    event.search_count, event.goal_id, event.revenue = hit.search_count, hit.goal_id, hit.revenue
    event.dimensions = {text(name): text(value) for name, value in hit.dimensions}
    return None


def visit(pipeline: Pipeline, hit: Hit, context: Context, event: Event) -> Drop | None:
    # Visits are cut when queried (gateway/stats/visits.py); a hit only marks a start the tracker
    # forced (new_visit=1). Not every campaign pageview: a reload of a landing page with utm_* would
    # then start a new one-page visit each time (Matomo only splits when the campaign changes).
    event.new_visit = int(hit.new_visit)
    return None


STEPS: tuple[tuple[str, Step], ...] = (
    ("filters", filters),
    ("geo", geo),
    ("user_agent", user_agent),
    ("scrub", scrub),
    ("visit", visit),
)
