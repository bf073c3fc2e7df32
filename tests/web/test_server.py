"""The limits added to uvicorn's httptools protocol: a cap on a request's head, a deadline to receive it.

A real uvicorn server in this process, on a loopback socket, with a tiny ASGI app and the protocol's
deadlines made short (0.5 s) so that they can be watched at work; the clients are
raw sockets, since the point is what the server does with requests no HTTP library would send.
Server and clients share one event loop, on a CI machine that may be busy: a deadline is shown to
work by what happens before the client could have finished, and the times asserted are generous.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn
from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope

from gateway.web.server import MAX_HEAD_BYTES, LimitedHttpToolsProtocol, uvicorn_options

DEADLINE = 0.5
PATIENCE = 10.0  # seconds within which a cut-off due after DEADLINE must have come, however busy the machine


class Quick(LimitedHttpToolsProtocol):
    head_timeout = body_timeout = DEADLINE


received: list[str] = []  # what the app's receive() returned, by event type


async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/ignore":  # answers without reading the body
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b""
    while True:
        message = await receive()
        received.append(message["type"])
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")  # type: ignore[operator]
        if not message.get("more_body"):
            break
    if scope["path"] == "/slow":
        await asyncio.sleep(2 * DEADLINE)  # the gateway's own work is never timed
    answer = b"ok %d" % len(body)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    received.clear()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=Quick, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def exchange(port: int, request: bytes, *, read_for: float = 5.0) -> bytes:
    """Send ``request`` at once and read until the server closes (or ``read_for`` s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), read_for)
    finally:
        writer.close()


def get(path: str = "/", extra: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + b"\r\n"


def test_serve_hands_uvicorn_the_limited_protocol() -> None:
    options = uvicorn_options()
    assert options["http"] == "gateway.web.server:LimitedHttpToolsProtocol"
    assert options["limit_concurrency"] is None  # it counts slow connections: a slowloris would 503 all


async def test_a_head_within_the_cap_is_served_and_a_larger_one_gets_431(port: int) -> None:
    fits = b"X-Fill: " + b"a" * (MAX_HEAD_BYTES - 200) + b"\r\n"
    assert (await exchange(port, get(extra=fits))).startswith(b"HTTP/1.1 200")
    many = b"".join(b"X-F%d: %s\r\n" % (i, b"b" * 1000) for i in range(MAX_HEAD_BYTES // 1000 + 2))
    assert (await exchange(port, get(extra=many))).startswith(b"HTTP/1.1 431 ")
    assert (await exchange(port, get("/" + "u" * MAX_HEAD_BYTES))).startswith(b"HTTP/1.1 431 ")
    assert (await exchange(port, get())).startswith(b"HTTP/1.1 200")  # the server is fine


async def test_a_refused_head_followed_by_bad_framing_in_the_same_read_is_answered_once(
        port: int, caplog: pytest.LogCaptureFixture) -> None:
    """The rest of the read is still parsed after a 431; its framing error must not make uvicorn
    write a second answer on the half-closed socket (a traceback per request, found by the fuzz)."""
    big = b"X-A: " + b"a" * (MAX_HEAD_BYTES + 100) + b"\r\n"
    request = (b"POST / HTTP/1.1\r\nHost: x\r\n" + big + b"Transfer-Encoding: chunked\r\n\r\n"
               b"zz\r\nabc\r\n0\r\n\r\n")
    answer = await exchange(port, request)
    assert answer.startswith(b"HTTP/1.1 431 ") and answer.count(b"HTTP/1.1") == 1
    assert (await exchange(port, get())).startswith(b"HTTP/1.1 200")
    assert "Traceback" not in caplog.text and "write_eof" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


async def test_an_endless_header_is_refused_before_it_ends(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = asyncio.create_task(reader.read())
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < 50 * 2**20 and not answer.done():
            writer.write(b"c" * 65536)
            await writer.drain()
            sent += 65536
            await asyncio.sleep(0)
    assert (await asyncio.wait_for(answer, 5)).startswith(b"HTTP/1.1 431 ")
    writer.close()
    assert sent < 4 * 2**20  # the answer came long before the header could end


async def test_a_trickled_head_gets_408_at_the_deadline_and_a_silent_connection_is_just_closed(
        port: int) -> None:
    """A connection that never sends a byte (a browser's preconnect) is closed without an answer, as
    nginx does; one that sent part of a head gets a 408."""
    started = time.monotonic()
    silent = asyncio.create_task(exchange(port, b"", read_for=PATIENCE))
    # A byte every DEADLINE / 10: the whole head would take 20 s, and only the deadline answers sooner.
    head = get(extra=b"X-Pad: " + b"p" * 400 + b"\r\n")
    answer, sent = await trickle(port, head, every=DEADLINE / 10)
    assert answer.startswith(b"HTTP/1.1 408 ") and sent < len(head)
    assert await silent == b""  # closed (not left open until read_for), with nothing written
    assert DEADLINE / 2 < time.monotonic() - started < PATIENCE  # closed at the deadline, not at once


async def trickle(port: int, request: bytes, *, every: float, at_once: bytes = b"") -> tuple[bytes, int]:
    """Send ``at_once``, then ``request`` a byte every ``every`` s until the server closes; what it
    answered, and how many bytes of ``request`` were sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = asyncio.create_task(reader.read())
    sent = 0
    try:
        writer.write(at_once)
        for byte in request:
            if answer.done():
                break
            with contextlib.suppress(ConnectionError):
                writer.write(bytes([byte]))
                sent += 1
            await asyncio.wait([answer], timeout=every)
        return await asyncio.wait_for(answer, PATIENCE), sent
    finally:
        writer.close()


async def test_a_trickled_body_is_cut_off_and_the_app_sees_a_disconnect(port: int) -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    answer, sent = await trickle(port, b"d" * 100, every=DEADLINE / 5, at_once=head)
    assert answer.startswith(b"HTTP/1.1 408 ") and sent < 100
    for _ in range(100):
        if "http.disconnect" in received:
            break
        await asyncio.sleep(0.01)
    assert received == ["http.request"] * len(received[:-1]) + ["http.disconnect"]


async def test_a_body_nobody_reads_is_cut_off_after_the_answer(port: int) -> None:
    head = b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    answer, sent = await trickle(port, b"d" * 100, every=DEADLINE / 5, at_once=head)
    assert answer.startswith(b"HTTP/1.1 200") and b"408" not in answer  # no second answer, just closed
    assert sent < 100  # closed at the deadline, long before the body's 20 s were up


async def test_keep_alive_requests_and_a_slow_application_are_not_cut_off(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for path in ("/", "/slow", "/"):
        await asyncio.sleep(DEADLINE / 2)  # idle between requests: the keep-alive timeout's business
        writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert await reader.readexactly(4) == b"ok 3"
    await asyncio.sleep(2 * DEADLINE)  # an idle connection between requests is the keep-alive's (5 s)
    writer.write(get())
    assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 200")
    writer.close()


async def test_pipelined_requests_are_all_answered(port: int) -> None:
    keep = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = await exchange(port, keep * 3 + get())
    assert answer.count(b"HTTP/1.1 200") == 4


async def test_a_large_pipelined_burst_ending_inside_a_head_is_all_answered(port: int) -> None:
    """One read holds ~1,100 whole requests and ends inside the next one's head: only that head's
    bytes count towards the cap (counting the whole read refused it, and so lost every request)."""
    request = (b"GET /matomo.php?idsite=1&rec=1&url=http%3A%2F%2Fexample.com%2Fpage HTTP/1.1\r\n"
               b"Host: x\r\n\r\n")
    count = 3 * MAX_HEAD_BYTES // len(request)  # ~96 KiB: over twice the cap, under one read
    reader, writer = await in_one_read(port, request * count + request[:20])
    answer = b""
    with contextlib.suppress(ConnectionError):  # the refusal reset the connection
        await asyncio.sleep(0.1)  # the server reads and answers the burst; the head ends in a later read
        writer.write(request[20:-2] + b"Connection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), PATIENCE)
    writer.close()
    assert answer.count(b"HTTP/1.1 200") == count + 1 and b"431" not in answer


async def test_an_endless_header_that_begins_in_a_large_read_is_refused_at_once(port: int) -> None:
    """The bytes of a head that began inside a read count too: one read of 150 KiB of an unfinished
    header is refused, not held until the deadline."""
    reader, writer = await in_one_read(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"e" * 150 * 1024)
    answer = await asyncio.wait_for(reader.read(), PATIENCE)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 ")


async def in_one_read(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect and send ``data`` so that the server gets it in one read (up to 256 KiB), as from a
    client far away: a blocking send from the loop's own thread, done before the server can read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2**20)  # kernel buffers hold it all: no wait
    sock.settimeout(PATIENCE)  # were they too small, fail rather than block the loop for ever
    sock.connect(("127.0.0.1", port))
    sock.sendall(data)
    return await asyncio.open_connection(sock=sock)
