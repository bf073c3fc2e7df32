"""The tracking endpoint: ``/matomo.php``, ``/piwik.php``, ``/js/`` and our neutral ``/t``.

Thin on purpose: read the request (transport), parse each hit (hit), run the pipeline, store the
kept rows, answer. The answer never depends on consent, bots or any other drop (no oracle); only
malformed parameters get a 400, and storage refusing rows a 503 the client may retry. The 2xx is
sent once the rows are durable (the spool's fsync), so an acknowledged hit is not lost.

CORS: only origins a site configured are echoed, with credentials (the consent cookie must travel
with ``fetch``/XHR); a preflight names the site in its query string, or, for a bulk body, any
configured site's origin passes the preflight and the answer echoes it only when every site in the
body allows it.
"""

from __future__ import annotations

import hashlib
import logging

from starlette.requests import Request
from starlette.responses import Response

from gateway.config.settings import Settings
from gateway.config.sites import Site
from gateway.geoip.lookup import Geo
from gateway.ingest.hit import InvalidHit, parse_hit, site_of
from gateway.ingest.outcomes import DROPPED, HITS, Drop, clock_ns
from gateway.ingest.pipeline import Event, Pipeline
from gateway.ingest.transport import (
    Incoming,
    TransportError,
    about_response,
    error_response,
    hit_response,
    parse_query,
    read_incoming,
)
from gateway.storage.writer import Overloaded, WriterClosed
from gateway.web.cors import cors_headers, preflight_response

PATHS = ("/matomo.php", "/piwik.php", "/js/", "/js/index.php", "/t")
TRACKING_METHODS = "GET, POST, OPTIONS"
log = logging.getLogger(__name__)


def uid_key(settings: Settings) -> bytes:
    """The key of the user-id hash, derived from the signing key (rotating it re-keys the hash)."""
    return hashlib.sha256(b"consent-gateway.uid:" + settings.secret_keys[0].encode()).digest()


def _preflight(request: Request, settings: Settings) -> Response:
    sites: dict[int, Site] = request.app.state.sites_by_id
    try:
        site = site_of(parse_query(request.scope["query_string"].decode("utf-8", "replace")), sites)
    except (InvalidHit, ValueError):  # a bulk's preflight names no site: any site's origin passes
        origin = request.headers.get("origin", "")
        site = next((s for s in settings.sites if s.allows_origin(origin)), settings.sites[0])
    return preflight_response(request, site, TRACKING_METHODS)


async def track(request: Request) -> Response:
    started = clock_ns()  # the hit's latency: from here to its answer, the spool's fsync included
    state = request.app.state
    settings: Settings = state.settings
    if request.method == "OPTIONS":
        return _preflight(request, settings)
    try:
        incoming = await read_incoming(request)
    except TransportError as exc:
        return error_response(exc.status, exc.message, {})
    if incoming.empty or request.method == "HEAD":  # a HEAD reads, it never tracks
        return about_response({})
    pipeline: Pipeline = state.pipeline
    return await _track(request, incoming, pipeline, started)


async def _track(request: Request, incoming: Incoming, pipeline: Pipeline, started: int) -> Response:
    metrics = pipeline.metrics
    now = pipeline.gate.clock()
    sites: dict[int, Site] = request.app.state.sites_by_id
    user_agent = request.headers.get("user-agent", "")
    accept_language = request.headers.get("accept-language", "")
    key: bytes = request.app.state.uid_key
    seen: dict[int, Site] = {}
    events: list[Event] = []
    invalid: list[int] = []
    places: dict[tuple[str, str], Geo] = {}  # a bulk's hits share one client: one lookup per language
    for index, params in incoming.entries:
        metrics.count(HITS, "received")
        try:
            if params is None:
                raise InvalidHit("not a query string or an object of parameters")
            hit = parse_hit(params, sites=sites, now=now, user_agent=user_agent,
                            accept_language=accept_language, uid_key=key, token=incoming.token)
        except (InvalidHit, ValueError) as exc:  # ValueError: a malformed value no check foresaw
            metrics.count(DROPPED, Drop.INVALID)
            if not incoming.bulk:
                message = str(exc) if isinstance(exc, InvalidHit) else "a parameter has an invalid value"
                pipeline.timer.hit("dropped", started)
                return error_response(400, message, cors_headers(request, *seen.values()))
            invalid.append(index)
            continue
        seen[hit.site.id] = hit.site
        result = pipeline.process(hit, request, now, places)
        if isinstance(result, Event):
            events.append(result)
    headers = cors_headers(request, *seen.values())
    if events:
        try:
            await pipeline.buffer(events)
        except (Overloaded, WriterClosed, OSError) as exc:
            metrics.count(DROPPED, Drop.OVERLOADED, len(events))
            if isinstance(exc, OSError):  # a full or broken disk under the spool: an operator's problem
                log.error("cannot spool hits: %s", exc.strerror or type(exc).__name__)
            pipeline.timer.hit("refused", started)
            return error_response(503, "busy, retry later", headers | {"Retry-After": "5"})
        else:
            metrics.count(HITS, "stored", len(events))
    pipeline.timer.hit("stored" if events else "dropped", started)
    return hit_response(incoming, headers, tracked=len(incoming.entries) - len(invalid), invalid=invalid)

