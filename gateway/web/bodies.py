"""Reading request bodies: the one place the gateway reads one, and what it does when that fails.

A body can fail to arrive in ways that are the client's doing, not the gateway's: the client hangs
up half-way, breaks the chunked framing (the server then answers 400 itself and hangs up), sends more
than the endpoint takes, the wrong media type, or trickles bytes for ever. Each becomes a
``BodyError`` with a 4xx status and one reason from ``REASONS``, counted in the metrics as
``request_body/<reason>``: an expected drop, never a traceback in the log. When the client is gone
the status is only what the access log shows; nobody reads the answer.

Readers here return bytes or a small form; what the bytes mean (JSON, a tracking hit) stays with
the endpoint that asked.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import aclosing
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request

METRIC = "request_body"
# The closed set of reasons a body is refused, as counted in /-/metrics.
DISCONNECTED = "disconnected"  # hung up before the end, or broke the framing (the server hung up)
TOO_LARGE = "too-large"  # 413: over the endpoint's limit, declared or counted
CONTENT_TYPE = "content-type"  # 415: a media type the endpoint does not take
MALFORMED = "malformed"  # 400: arrived whole, but not in the form the endpoint takes
TIMEOUT = "timeout"  # 408: still arriving after the deadline
REASONS = (DISCONNECTED, TOO_LARGE, CONTENT_TYPE, MALFORMED, TIMEOUT)
# A whole body must arrive in this time: at 35 kB/s even a 1 MiB tracking bulk does. Without it a
# client trickling a byte a minute would hold its request (and its slot) open for ever.
DEADLINE = 30.0
FORM = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 20
DIGITS = re.compile(r"[0-9]{1,18}")


class BodyError(Exception):
    """A body refused: ``status`` for the answer, ``reason`` (one of ``REASONS``) for the metrics."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def refuse(request: Request, status: int, reason: str, message: str) -> BodyError:
    """Count a refused body and return the error to raise (for checks made by the endpoint itself,
    such as a body that is not valid JSON)."""
    request.app.state.metrics.count(METRIC, reason)
    return BodyError(status, reason, message)


def media_type(request: Request) -> str:
    """The Content-Type without parameters, lower case: ``"text/plain"`` for ``Text/Plain; charset=x``."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_type(request: Request, allowed: tuple[str, ...], message: str) -> str:
    found = media_type(request)
    if found not in allowed:
        raise refuse(request, 415, CONTENT_TYPE, message)
    return found


async def read_body(request: Request, limit: int, *, deadline: float = DEADLINE) -> bytes:
    """The whole body, at most ``limit`` bytes; ``BodyError`` (counted) when it cannot be had."""
    too_large = f"the body is larger than {limit} bytes"
    declared = request.headers.get("content-length", "")
    if DIGITS.fullmatch(declared) and int(declared) > limit:
        raise refuse(request, 413, TOO_LARGE, too_large)  # refused before a byte is read
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(deadline), aclosing(request.stream()) as stream:
            async for chunk in stream:
                size += len(chunk)
                if size > limit:  # chunked bodies declare no length: counted as they come
                    raise refuse(request, 413, TOO_LARGE, too_large)
                chunks.append(chunk)
    except ClientDisconnect:
        raise refuse(request, 400, DISCONNECTED, "the body did not arrive whole") from None
    except TimeoutError:
        raise refuse(request, 408, TIMEOUT, f"the body did not arrive within {deadline:g} s") from None
    return b"".join(chunks)


async def read_form(request: Request, limit: int, *, max_fields: int = MAX_FORM_FIELDS) -> dict[str, str]:
    """A small urlencoded form (a browser's POST), as a dict; the last of repeated fields wins."""
    require_type(request, (FORM,), f"send the form as {FORM}")
    body = await read_body(request, limit)
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):  # ValueError: more than max_fields fields
        raise refuse(request, 400, MALFORMED, "the form could not be read") from None
    return dict(fields)
