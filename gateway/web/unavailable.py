"""The one answer for "ClickHouse did not answer": 503 with ``Retry-After`` and ``no-store``, counted.

Every endpoint that cannot answer without ClickHouse (the dashboard's pages and their JSON and CSV
twins, the data requests page, the rights API) ends an outage here, so that they all look the same
to a client and to monitoring: the status 503 (never a 500), ``Retry-After: 5``, ``Cache-Control:
no-store`` (an outage must not be cached as the answer), a JSON ``{"error": ...}`` for APIs and JSON
twins (an HTML page for the dashboard's pages), and one line in the log naming what failed and how,
never the exception's text: the client library's messages carry the query's URL and parameters
(consent ids, filter values).

Two kinds are told apart, in the counter ``clickhouse/<kind>`` and the log: ``unavailable`` (down,
unreachable, too slow or too busy: a warning, it passes) and ``query-failed`` (ClickHouse answered
that the query itself is wrong, with its error code: an error, a bug to fix; answered the same way).

Endpoints that do not need ClickHouse keep answering: tracking spools to disk, the banner's
``GET /consent`` reads the visitor's cookie, the privacy notice and the dashboard's login read files.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.storage.clickhouse import ClickHouseError

log = logging.getLogger(__name__)
RETRY_AFTER = 5  # seconds: a restart or a network blip; monitoring, not clients, waits out longer outages
MESSAGE = "storage is unavailable right now; please try again shortly"
# What ClickHouse being down, unreachable or too slow looks like from here.
OUTAGE: tuple[type[BaseException], ...] = (ClickHouseError, OSError, TimeoutError)
# ClickHouse's error codes that mean "not now" rather than "not this query": TIMEOUT_EXCEEDED,
# TOO_SLOW, TOO_MANY_SIMULTANEOUS_QUERIES, NO_FREE_CONNECTION, SOCKET_TIMEOUT, NETWORK_ERROR,
# ABORTED, MEMORY_LIMIT_EXCEEDED, TABLE_IS_READ_ONLY, TOO_MANY_PARTS, QUERY_WAS_CANCELLED.
BUSY = {159, 160, 202, 203, 209, 210, 236, 241, 242, 252, 394}
CODE = re.compile(r"Code: (\d+)\.")
NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")


def refused_code(cause: BaseException | None) -> str | None:
    """``"184 ILLEGAL_AGGREGATION"`` when ClickHouse answered that the query is wrong, else None."""
    if not isinstance(cause, ClickHouseError):
        return None
    text = str(cause)
    code = CODE.search(text)  # none when the server never answered (refused, reset, timed out)
    if code is None or int(code[1]) in BUSY:
        return None
    name = NAME.search(text, code.end())
    return f"{code[1]} {name[1]}" if name else code[1]


def _client_error(cause: BaseException | None) -> BaseException | None:
    """The client library's error behind ``cause``: the dashboard and the rights layer wrap it in
    their own (and the library's own error may wrap the driver's, which says less)."""
    found = cause
    while found is not None and not isinstance(found, OUTAGE):
        found = found.__cause__
    return found if found is not None else cause


def outage(request: Request, what: str, response: Response, cause: BaseException | None = None) -> Response:
    """``response`` (a page saying so) as the 503 of an outage: counted, logged once, marked."""
    root = _client_error(cause)
    refused = refused_code(root)
    metrics = request.app.state.metrics
    if refused is None:
        metrics.count("clickhouse", "unavailable")
        log.warning("%s answered 503: ClickHouse is unavailable (%s)", what,
                    type(root).__name__ if root is not None else "no answer")
    else:
        metrics.count("clickhouse", "query-failed")
        log.error("%s answered 503: ClickHouse refused the query (code %s)", what, refused)
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER)
    response.headers["Cache-Control"] = "no-store"
    return response


def unavailable_response(request: Request, what: str, *, cause: BaseException | None = None,
                         message: str = MESSAGE, headers: Mapping[str, str] | None = None) -> Response:
    """The JSON 503 of an outage, for an API (``headers``: the endpoint's own, CORS for instance)."""
    return outage(request, what, JSONResponse({"error": message}, status_code=503, headers=headers), cause)
