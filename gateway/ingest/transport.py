"""How tracking requests arrive, and how they are answered (Matomo Tracking HTTP API).

Transports real clients use: GET with a query string; POST form-encoded; POST with an empty body
and everything in the query string (matomo.js 5 sends every hit so, through ``sendBeacon``); and
bulk: a JSON body ``{"requests": ["?idsite=1&...", {...}], "token_auth": ..., "send_image": 0}``.
matomo.js sends bulk bodies with a form content type, so a body is bulk when it *is* JSON, whatever
its Content-Type says (Matomo's own server decides the same way). Query and body parameters are
merged; the query wins, as in Matomo (PHP's ``$_GET + $_POST``).

Answers: a 43-byte transparent GIF, or 204 with ``send_image=0``; bulk gets
``{"status": "success", "tracked": N, "invalid": M}``. Never cached.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from gateway.web.bodies import BodyError, read_body

MAX_BODY = 1 << 20  # bulk bodies from matomo.js's queue are a few KB
MAX_BULK = 1000
MAX_PARAMS = 200  # a real hit has ~30 parameters
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAAAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
NO_STORE = {"Cache-Control": "no-store"}
ABOUT = ("consent-gateway tracking endpoint (Matomo Tracking HTTP API). Hits are stored only with "
         "the visitor's analytics consent.\n")

Params = dict[str, str]


class TransportError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Incoming:
    """What one HTTP request carries: one hit, or a bulk of them (``None`` for an invalid entry)."""

    entries: list[tuple[int, Params | None]]  # (index in the request, parameters)
    bulk: bool
    send_image: bool
    token: str  # a bulk body's token_auth; single hits carry theirs among the parameters

    @property
    def empty(self) -> bool:
        return not self.bulk and not self.entries[0][1]


def parse_query(raw: str) -> Params:
    """Like ``dict(parse_qsl(raw, keep_blank_values=True))`` with invalid UTF-8 replaced, at about half
    the cost: most values need no unquoting at all. Raises ValueError past MAX_PARAMS fields."""
    params: Params = {}
    fields = raw.split("&")
    if len(fields) > MAX_PARAMS:
        raise ValueError("too many fields")
    for field in fields:
        if not field:
            continue
        name, _, value = field.partition("=")
        if "+" in name or "%" in name:
            name = unquote_plus(name, errors="replace")
        if "+" in value or "%" in value:
            value = unquote_plus(value, errors="replace")
        params[name] = value
    return params


async def _body(request: Request) -> bytes:
    try:
        return await read_body(request, MAX_BODY)  # counts what it refuses (request_body/<reason>)
    except BodyError as exc:
        raise TransportError(exc.status, exc.message) from None


def _query_params(raw: str) -> Params:
    try:
        return parse_query(raw)
    except ValueError:  # more than MAX_PARAMS fields
        raise TransportError(400, "too many parameters") from None


async def read_incoming(request: Request) -> Incoming:
    query = _query_params(request.scope["query_string"].decode("utf-8", "replace"))
    # matomo.js's beacons declare an empty body: nothing to wait for (reading it costs a timeout's set-up).
    headers = request.headers
    declared_empty = headers.get("content-length") == "0" and "transfer-encoding" not in headers
    posted = request.method == "POST" and not declared_empty
    body = await _body(request) if posted else b""
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        return _bulk(text)
    params = _query_params(text) if text else {}
    params.update(query)
    return Incoming([(0, params)], bulk=False, send_image=params.get("send_image") != "0", token="")


def _bulk(text: str) -> Incoming:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise TransportError(400, "the body is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("requests"), list):
        raise TransportError(400, 'a bulk body needs a "requests" list')
    requests: list[Any] = data["requests"]
    if len(requests) > MAX_BULK:
        raise TransportError(413, f"at most {MAX_BULK} requests per bulk")
    token = data.get("token_auth")
    entries = [(i, _entry(item)) for i, item in enumerate(requests) if item != ""]  # Matomo skips empty ones
    send_image = str(data.get("send_image", "1")) != "0"
    return Incoming(entries, bulk=True, send_image=send_image,
                    token=_utf8(token) if isinstance(token, str) else "")


def _utf8(value: str) -> str:
    """JSON may carry lone surrogates ("\ud800"), which no encoder takes: replaced at the edge."""
    return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")


def _entry(item: Any) -> Params | None:
    if isinstance(item, str):
        before, mark, query = item.partition("?")  # "?idsite=1&action_name=Why?": the first "?" counts
        try:
            return parse_query(_utf8(query if mark else before))
        except ValueError:
            return None
    if isinstance(item, dict) and len(item) <= MAX_PARAMS:
        params: Params = {}
        for key, value in item.items():
            if isinstance(value, bool):
                value = int(value)
            if not isinstance(value, str | int | float):
                return None
            params[_utf8(str(key))] = _utf8(str(value))
        return params
    return None


def hit_response(incoming: Incoming, headers: dict[str, str], *, tracked: int,
                 invalid: list[int]) -> Response:
    headers = headers | NO_STORE
    if incoming.bulk and incoming.send_image:
        return JSONResponse({"status": "success", "tracked": tracked, "invalid": len(invalid),
                             "invalid_indices": invalid}, headers=headers)
    if not incoming.send_image:
        return Response(status_code=204, headers=headers)
    return Response(GIF, media_type="image/gif", headers=headers)


def about_response(headers: dict[str, str]) -> Response:
    return PlainTextResponse(ABOUT, headers=headers | NO_STORE)


def error_response(status: int, message: str, headers: dict[str, str]) -> Response:
    return PlainTextResponse(message + "\n", status_code=status, headers=headers | NO_STORE)
