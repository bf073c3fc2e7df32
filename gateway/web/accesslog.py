"""Logging set-up and an access log that never records who the client is, nor whom a request is about.

uvicorn's own access log prints the client address, so it is switched off and this middleware
logs method, route, status and duration instead. The route is the template Starlette matched
(``/api/consents/{consent_id}``), not the path: paths carry consent ids and other pseudonymous
identifiers. A path no route matched may carry anything, so it is logged as ``-unmatched-``.

Third-party libraries log request URLs: urllib3's retry warnings and clickhouse-connect's errors
print ClickHouse's URL, whose query string holds the query parameters (a consent id, a dashboard
filter value). A filter on the log handlers cuts every query string out of every record, whoever
logged it, the traceback included. Invariant 1: no IP address in logs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("gateway.access")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
UNMATCHED = "-unmatched-"
# A "?" right after a URL path or host, followed by a parameter: up to whitespace, a quote or a bracket
# (a URL in a message is quoted or ends there; percent-encoding keeps those out of a real query).
_QUERY = re.compile(r"(?<=[\w/.%-])\?(?=[^\s'\"()<>\[\]]*=)[^\s'\"()<>\[\]]*")
QUERY_REMOVED = "?<query removed>"


def strip_queries(text: str) -> str:
    return _QUERY.sub(QUERY_REMOVED, text) if "?" in text else text


class QueryStringFilter(logging.Filter):
    """Rewrites a record so that no query string of a URL survives in its message or traceback."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed logging call: the handler reports it, as without the filter
            return True
        # Kept formatted: the handler's formatter then uses the text as it is, without formatting again.
        record.msg, record.args = strip_queries(message), None
        if record.exc_info and not record.exc_text:
            # Formatted here, so the handler's formatter uses this text instead of the raw exception's.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = strip_queries(record.exc_text)
        if record.stack_info:
            record.stack_info = strip_queries(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: what the text format says, as fields a log shipper indexes. The
    message is the filtered one (QueryStringFilter runs first, on the handler), nothing is added."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a malformed logging call: its template, never its arguments (may hold anything)
            message = f"{record.msg} (a logging call with arguments that do not fit)"
        entry = {"time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": message}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text") -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, force=True)
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
        logging.captureWarnings(True)  # Python's warnings become records too, not plain lines
    # On the handlers, not on the loggers: a logger's filter sees only records logged on that very
    # logger, never those of its children (urllib3.connectionpool) passing through.
    for handler in logging.getLogger().handlers:
        handler.addFilter(QueryStringFilter())
    # The server's own access logger would print client addresses; ours replaces it.
    logging.getLogger("uvicorn.access").disabled = True


def route_of(scope: Scope) -> str:
    """The matched route's template; set by Starlette's router on the scope it shares with us."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before starting a response

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info("%s %s %d %.1fms", scope["method"], route_of(scope), status,
                         (time.perf_counter() - started) * 1000)
