"""The tracking hits' short way in: GET and POST on a tracking path, past Starlette's routing.

A site sends tracking hits by the thousand for every other request, and each used to climb through
Starlette's middleware and router, the access log and the Response machinery: a fifth of a hit's
CPU time, and every await resumed through a dozen frames. This pure ASGI middleware sits first in the
app's list (inside Starlette's ServerErrorMiddleware, so a crash is still a logged 500) and hands
GET and POST on an exact tracking path straight to the endpoint (``endpoint.track``: the same
pipeline, consent check, CORS and answers), then sends the answer itself. Everything else (OPTIONS
preflights, HEAD, other methods' 405, ``/js`` → ``/js/``, every other path) goes on to Starlette
unchanged. It sits outside Starlette's ExceptionMiddleware: the endpoint raises no ``HTTPException``
(bodies are read by ``web/bodies.py``, which answers its own 4xx), and must not start to.

The access log: a tracking hit answered 2xx is counted (``tracking_answers/<status>`` in
``/-/metrics``), not written as a line; at thousands a second the lines cost a tenth of a hit's CPU
and said nothing the counters do not. Any other status is logged exactly as the access log does
(method, route, status, duration), so errors are never silent.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.ingest.endpoint import PATHS, track
from gateway.monitoring.counters import Metrics
from gateway.web.accesslog import log as access_log

ANSWERS_METRIC = "tracking_answers"  # counter: tracking answers by status (the access log's stand-in for 2xx)
FAST_METHODS = frozenset({"GET", "POST"})
_PATHS = frozenset(PATHS)


def route_path(scope: Scope) -> str:
    """The path the router would match: without the app's mount point (``root_path``), as Starlette."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


class TrackingFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in FAST_METHODS:
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path not in _PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the endpoint fails (ServerErrorMiddleware answers it)
        try:
            response = await track(Request(scope, receive))
            status = response.status_code
            await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
            await send({"type": "http.response.body", "body": response.body})
        finally:
            metrics: Metrics = scope["app"].state.metrics
            metrics.count(ANSWERS_METRIC, str(status))
            if status >= 300 and access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %d %.1fms", scope["method"], path, status,
                                (time.perf_counter() - started) * 1000)
