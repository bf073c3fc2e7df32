"""Request bodies that never arrive whole: a counted drop and a 4xx, never a traceback.

Unit tests drive ``gateway.web.bodies`` with a hand-made ASGI ``receive``; the end-to-end test sends
broken bodies over raw sockets to the real ``serve`` (uvicorn, embedded ClickHouse) on every
endpoint that reads one, then reads the gateway's log and metrics.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import Message

from gateway.config.settings import FIELDS
from gateway.monitoring.counters import Metrics
from gateway.web import bodies
from tests.e2e.gateway_process import Gateway, running_gateway

FORM = "application/x-www-form-urlencoded"


def request(messages: list[Message], headers: dict[str, str] | None = None, *,
            pause: float = 0.0) -> tuple[Request, Metrics]:
    """A request whose body arrives as ``messages`` (``pause`` seconds apart), on an app with metrics."""
    app = Starlette()
    app.state.metrics = Metrics()
    queue = list(messages)

    async def receive() -> Message:
        if pause:
            await asyncio.sleep(pause)
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": raw_headers, "query_string": b"",
             "app": app}
    return Request(scope, receive), app.state.metrics


def part(body: bytes, more: bool = True) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


def refused(coroutine: Any) -> bodies.BodyError:
    with pytest.raises(bodies.BodyError) as caught:
        asyncio.run(coroutine)
    return caught.value


def test_a_body_in_pieces_is_read_whole() -> None:
    req, metrics = request([part(b'{"a":'), part(b""), part(b" 1}", more=False)])
    assert asyncio.run(bodies.read_body(req, 100)) == b'{"a": 1}'
    assert metrics.snapshot() == {}


def test_a_client_that_hangs_up_midway_is_a_counted_drop() -> None:
    req, metrics = request([part(b'{"a":')])  # then http.disconnect, as uvicorn sends on hang-up
    error = refused(bodies.read_body(req, 100))
    assert (error.status, error.reason) == (400, "disconnected")
    assert metrics.get("request_body", "disconnected") == 1


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    req, metrics = request([], {"content-length": "101"})  # receive() would say "disconnected"
    assert refused(bodies.read_body(req, 100)).status == 413
    assert metrics.snapshot() == {"request_body": {"too-large": 1}}


def test_an_undeclared_body_is_counted_as_it_comes() -> None:
    req, metrics = request([part(b"x" * 60), part(b"x" * 60), part(b"", more=False)])
    error = refused(bodies.read_body(req, 100))
    assert (error.status, error.message) == (413, "the body is larger than 100 bytes")
    assert metrics.get("request_body", "too-large") == 1


def test_a_body_trickling_past_the_deadline_is_refused() -> None:
    req, metrics = request([part(b"a"), part(b"b"), part(b"c", more=False)], pause=0.05)
    error = refused(bodies.read_body(req, 100, deadline=0.08))
    assert (error.status, error.reason) == (408, "timeout")
    assert metrics.get("request_body", "timeout") == 1


def test_a_form_is_read_and_anything_else_refused_with_its_reason() -> None:
    req, _ = request([part(b"user=anna&csrf=x%20y&user=bob", more=False)], {"content-type": FORM})
    assert asyncio.run(bodies.read_form(req, 100)) == {"user": "bob", "csrf": "x y"}
    cases = [
        ({"content-type": "application/json"}, b"{}", 415, "content-type"),
        ({"content-type": FORM + "; charset=utf-8"}, b"a=\xff", 400, "malformed"),  # not UTF-8
        ({"content-type": FORM}, b"&".join(b"f%d=1" % i for i in range(21)), 400, "malformed"),
    ]
    for headers, body, status, reason in cases:
        req, metrics = request([part(body, more=False)], headers)
        error = refused(bodies.read_form(req, 1000))
        assert (error.status, error.reason) == (status, reason)
        assert metrics.get("request_body", reason) == 1


# --- the real server -------------------------------------------------------------------------

JSON = "application/json"
# Every endpoint that reads a body, with the media type it takes.
ENDPOINTS = [("/consent?site=1", JSON), ("/dashboard/login", FORM), ("/dashboard/logout", FORM),
             ("/matomo.php?idsite=1&rec=1", FORM)]
# Three ways a body fails to arrive: each ends with the client's socket closed.
BROKEN = {
    "bad chunk sizes": b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "length cut short": b"Content-Length: 100\r\n\r\n{\"categories\":",
    "chunks abandoned": b"Transfer-Encoding: chunked\r\n\r\n40\r\n{\"categories\": [",
}
TOKEN = "bodies-test-metrics-token-0123456789"


def send_raw(base: str, data: bytes) -> bytes:
    """Send ``data``, read what comes back for a moment, hang up."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(data)
        sock.settimeout(0.2)
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except TimeoutError:
            pass  # the server waits for the rest of the body: the client hangs up on it
    return answer


def counter(gateway: Gateway, name: str, reason: str) -> int:
    """One counter from ``/-/metrics``, in JSON or the Prometheus text format."""
    answer = httpx.get(f"{gateway.base}/-/metrics", headers={"Authorization": f"Bearer {TOKEN}",
                                                             "Accept": "application/json"}, timeout=5)
    assert answer.status_code == 200, answer.text
    try:
        return int(json.loads(answer.text)["counters"].get(name, {}).get(reason, 0))
    except ValueError:  # Prometheus text: name{...reason="..."} value
        total = 0
        for line in answer.text.splitlines():
            if not line.startswith("#") and name in line and f'"{reason}"' in line:
                total += int(float(line.rsplit(" ", 1)[1]))
        return total


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("bodies")
    env = {"GATEWAY_DATA_DIR": str(folder / "data")}
    if "GATEWAY_METRICS_TOKEN" in {field.env for field in FIELDS}:  # /-/metrics may want the token
        env["GATEWAY_METRICS_TOKEN"] = TOKEN
    with running_gateway(env, folder / "serve.log") as running:
        yield running
    assert running.exit_code in (0, -signal.SIGTERM), running.log


def test_broken_bodies_on_every_endpoint_are_counted_drops_not_tracebacks(gateway: Gateway) -> None:
    before = counter(gateway, "request_body", "disconnected")
    for path, media in ENDPOINTS:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {media}\r\n".encode()
        for how, rest in BROKEN.items():
            answer = send_raw(gateway.base, head + rest)
            if how == "bad chunk sizes":  # the server itself refuses the framing, and hangs up
                assert answer.startswith(b"HTTP/1.1 400"), (path, answer)
    expected = before + len(ENDPOINTS) * len(BROKEN)
    for _ in range(50):  # the server sees each hang-up a moment after it happens
        if counter(gateway, "request_body", "disconnected") >= expected:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert counter(gateway, "request_body", "disconnected") == expected
    assert httpx.get(f"{gateway.base}/-/version", timeout=5).status_code == 200  # still serving
    log = gateway.log
    assert "Traceback" not in log and "ClientDisconnect" not in log
    assert not re.search(r"POST \S+ 500 ", log), log


def test_a_client_still_there_gets_a_clear_4xx(gateway: Gateway) -> None:
    consent = f"{gateway.base}/consent?site=1"
    too_big = httpx.post(consent, content=b"{" + b" " * 5000 + b"}", headers={"Content-Type": JSON})
    assert too_big.status_code == 413 and "larger than 4096" in too_big.json()["error"]
    wrong_type = httpx.post(f"{gateway.base}/dashboard/login", content=b"{}", headers={"Content-Type": JSON})
    assert wrong_type.status_code == 415
    chunked = httpx.post(f"{gateway.base}/dashboard/logout", content=iter([b"csrf=", b"x" * 9000]),
                         headers={"Content-Type": FORM})
    assert chunked.status_code == 413
    assert counter(gateway, "request_body", "too-large") >= 2
    assert counter(gateway, "request_body", "content-type") >= 1
    assert "Traceback" not in gateway.log
