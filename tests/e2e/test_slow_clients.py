"""Story: while 200 clients trickle their requests a byte at a time (slowloris), a visitor's hits and an
operator's health check are still answered, and a request with oversized headers gets a 431.

Runs the real ``consent-gateway serve``. The slow connections are bounded (each sends at most its
partial request, a byte every 50 ms, for the few seconds the test runs); the gateway's deadline for
receiving a request (30 s, gateway/web/server.py) is longer than that and is tested with a short
one in tests/web/test_server.py. No timing is asserted beyond "answered at all within 5 s".
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx2 as httpx

from gateway.web.server import MAX_HEAD_BYTES
from tests.e2e.gateway_process import running_gateway
from tests.support.load import BROWSER, DEMO_ORIGIN, grant

SLOW = 200
PARTIAL = (b"GET /-/health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\n"
           b"X-Padding: " + b"p" * 400)  # never finished


async def slow_client(port: int, stop: asyncio.Event, opened: list[int]) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    opened.append(1)
    try:
        for byte in PARTIAL:
            if stop.is_set():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
    except ConnectionError:
        pass
    finally:
        writer.close()


async def oversized(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_slow_clients_do_not_starve_others_and_oversized_headers_get_431(tmp_path: Path,
                                                                                 city_db: Path) -> None:
    env = {"GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_GEOIP_CITY_DB": str(city_db),
           "GATEWAY_SECRET_KEYS": "w" * 40}
    with running_gateway(env, tmp_path / "serve.log") as gateway:
        port = int(gateway.base.rsplit(":", 1)[1])
        cookies = await asyncio.to_thread(grant, gateway.base)
        stop, opened = asyncio.Event(), list[int]()
        slow = [asyncio.create_task(slow_client(port, stop, opened)) for _ in range(SLOW)]
        while len(opened) < SLOW:
            await asyncio.sleep(0.05)
        answered = []
        async with httpx.AsyncClient(base_url=gateway.base, timeout=5, cookies=cookies,
                                     headers={"Origin": DEMO_ORIGIN, "User-Agent": BROWSER}) as client:
            for n in range(10):
                health = await client.get("/-/health")
                hit = await client.post(f"/matomo.php?idsite=1&rec=1&send_image=0&url={DEMO_ORIGIN}/s{n}")
                answered.append((health.status_code, hit.status_code))
                await asyncio.sleep(0.2)
        assert all(task.done() is False for task in slow)  # they were all still trickling meanwhile
        stop.set()
        await asyncio.gather(*slow)
        assert answered == [(200, 204)] * 10

        head = b"GET /-/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        fields = b"".join(b"X-F%d: %s\r\n" % (i, b"f" * 1000) for i in range(MAX_HEAD_BYTES // 1000 + 1))
        assert (await oversized(port, head + fields + b"\r\n")).startswith(b"HTTP/1.1 431 ")
        assert (await oversized(port, head + b"X-Big: " + b"b" * 4 * 2**20 + b"\r\n\r\n")).startswith(
            b"HTTP/1.1 431 ")
        url = b"GET /matomo.php?idsite=1&url=" + b"u" * MAX_HEAD_BYTES + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        assert (await oversized(port, url)).startswith(b"HTTP/1.1 431 ")
        assert httpx.get(f"{gateway.base}/-/health", timeout=5).status_code == 200
    assert "Traceback" not in gateway.log
