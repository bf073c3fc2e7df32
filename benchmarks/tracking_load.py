"""Benchmark: consented tracking hits per second through the real gateway, against a trivial endpoint.

One run, on loopback, with ``wrk`` (Debian package ``wrk``) as the load generator:
  1. ``consent-gateway serve`` (one uvicorn worker, embedded ClickHouse, the real GeoLite2 City
     database when ``data/geoip/city.mmdb`` exists, else the tests' tiny one) behind a "trusted
     proxy", so every hit comes from its own realistic public IP through X-Forwarded-For;
  2. ``--visitors`` visitors accept analytics through ``POST /consent``; their cookies are used;
  3. wrk replays matomo.js-shaped hits (sendBeacon POST, empty body, everything in the query
     string, ``send_image=0``) rotating visitors, IPs, user agents, pages and referrers;
  4. the same wrk settings against a trivial Starlette app under the same uvicorn options that
     answers 204, and the ratio of the two;
  5. a profile of the hit path in-process (the same requests through the ASGI app, no HTTP): the
     functions that cost the most per hit.
Not a test: run by hand on a quiet machine (this VM's speed drifts; compare within one run):
    .venv/bin/python -m benchmarks.tracking_load [--duration 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "http://localhost:8080"
METRICS_TOKEN = "benchmark-operator-token-0123456789"  # noqa: S105 (for its own gateway's /-/metrics)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; V2183A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 "
    "MicroMessenger/8.0.47.2560(0x28002F30) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
)
PAGES = (
    "/",
    "/catalogue",
    "/catalogue/brakes",
    "/catalogue/brakes/pads",
    "/catalogue/filters/oil",
    "/search?q=brake+pads",
    "/cart",
    "/about",
    "/contact",
    "/catalogue/lights/h7",
)
REFERRERS = (
    "",
    "",
    "https://www.google.com/",
    "https://www.baidu.com/s?wd=brake",
    "https://www.bing.com/",
    "https://t.co/abc",
    "https://forum.example.org/thread/42",
)


def public_ip(rnd: random.Random) -> str:
    while True:
        first = rnd.choice((2, 5, 31, 46, 62, 77, 81, 85, 91, 109, 175, 183, 213, 217, 223))
        return f"{first}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def hits(cookies: list[str], count: int, seed: int = 7) -> list[dict[str, str]]:
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        page = rnd.choice(PAGES)
        params = {
            "idsite": "1",
            "rec": "1",
            "apiv": "1",
            "r": str(rnd.randrange(10**6)),
            "action_name": f"Parts catalogue - {page}",
            "url": f"{ORIGIN}{page}",
            "urlref": rnd.choice(REFERRERS),
            "_id": f"{rnd.getrandbits(64):016x}",
            "h": "10",
            "m": "4",
            "s": "31",
            "res": rnd.choice(("1920x1080", "1366x768", "390x844", "1536x864")),
            "pv_id": f"{i % 10**6:06d}",
            "send_image": "0",
        }
        out.append(
            {
                "path": "/matomo.php?" + urlencode(params),
                "cookie": rnd.choice(cookies),
                "ip": public_ip(rnd),
                "ua": rnd.choice(USER_AGENTS),
            }
        )
    return out


def lua_script(requests: list[dict[str, str]]) -> str:
    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    entries = ",\n".join(
        "{" + ", ".join((quote(r["path"]), quote(r["cookie"]), quote(r["ip"]), quote(r["ua"]))) + "}"
        for r in requests
    )
    return f"""
local hits = {{
{entries}
}}
local i = 0
request = function()
  i = i + 1
  local h = hits[(i % #hits) + 1]
  return wrk.format("POST", h[1], {{["Cookie"] = h[2], ["X-Forwarded-For"] = h[3], ["User-Agent"] = h[4],
    ["Origin"] = "{ORIGIN}", ["Accept-Language"] = "de-DE,de;q=0.9", ["Content-Length"] = "0"}}, "")
end
"""


def run_wrk(url: str, script: Path | None, duration: int, connections: int) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for label in ("50%", "99%"):
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output)
        assert match is not None, output
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        figures[label] = float(match.group(1)) * scale
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    figures["errors"] = float(errors.group(1)) if errors else 0.0
    return figures


def start_gateway(data: Path, port: int, city_db: Path, clickhouse_url: str) -> subprocess.Popen[bytes]:
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        | {
            "GATEWAY_DATA_DIR": str(data),
            "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
            "GATEWAY_SECRET_KEYS": "b" * 48,
            "GATEWAY_GEOIP_CITY_DB": str(city_db),
            "GATEWAY_LOG_LEVEL": "warning",
            "GATEWAY_METRICS_TOKEN": METRICS_TOKEN,
        }
        | ({"GATEWAY_CLICKHOUSE_URL": clickhouse_url} if clickhouse_url else {})
    )
    log = (data / "serve.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def start_trivial(port: int) -> subprocess.Popen[bytes]:
    code = (
        "import uvicorn; uvicorn.run('benchmarks.trivial_app:app', host='127.0.0.1', "
        f"port={port}, access_log=False, proxy_headers=False, server_header=False, log_config=None, "
        "log_level='warning', ws='none')"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def city_database(scratch: Path) -> tuple[Path, str]:
    real = ROOT / "data" / "geoip" / "city.mmdb"
    if real.exists():
        return real, "real city database (data/geoip/city.mmdb)"
    from tests.geoip_fixture import build_city_db

    return build_city_db(
        scratch / "city.mmdb"
    ), "the tests' tiny city database (run ./scripts/serve once for the real one)"


def profile(requests: list[dict[str, str]], data: Path, city_db: Path, top: int) -> str:
    """The same hits through the ASGI app in-process, under cProfile: where a hit's time goes."""
    from gateway.app import create_app
    from gateway.config.settings import load_settings

    settings = load_settings(
        {
            "GATEWAY_DATA_DIR": str(data),
            "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
            "GATEWAY_SECRET_KEYS": "b" * 48,
            "GATEWAY_GEOIP_CITY_DB": str(city_db),
            "GATEWAY_LOG_LEVEL": "warning",
        }
    )
    app = create_app(settings)

    async def one(request: dict[str, str]) -> None:
        path, _, query = request["path"].partition("?")
        headers = [
            (b"host", b"127.0.0.1"),
            (b"cookie", request["cookie"].encode()),
            (b"x-forwarded-for", request["ip"].encode()),
            (b"user-agent", request["ua"].encode()),
            (b"origin", ORIGIN.encode()),
            (b"content-length", b"0"),
        ]
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": {},
            "app": app,
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 204, message

        await app(scope, receive, send)  # type: ignore[arg-type]

    async def run() -> None:
        async with app.router.lifespan_context(app):
            for request in requests[:200]:  # warm the caches as a running server would have
                await one(request)
            profiler = cProfile.Profile()
            profiler.enable()
            for request in requests:
                await one(request)
            profiler.disable()
            stream = io.StringIO()
            stats = pstats.Stats(profiler, stream=stream)
            raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
            waiting = sum(tt for (_, _, name), (_, _, tt, _, _) in raw.items() if "poll" in name)
            busy = stats.total_tt - waiting  # type: ignore[attr-defined]
            print(
                f"  {len(requests)} hits in-process: {busy / len(requests) * 1e6:.0f} µs of CPU per hit "
                "under the profiler (which roughly doubles it; waiting in epoll excluded)"
            )
            stats.sort_stats("tottime").print_stats(top + 1)
            lines = [line for line in stream.getvalue().splitlines() if re.match(r"\s+\d", line)]
            for line in [line for line in lines if "poll" not in line][:top]:
                print("   ", line.strip()[:150])

    asyncio.run(run())
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--visitors", type=int, default=300)
    parser.add_argument("--requests", type=int, default=5000, help="distinct hits wrk rotates through")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--standin",
        action="store_true",
        help="store through the tests' chDB-backed ClickHouse HTTP stand-in in another "
        "process, as with a ClickHouse server, instead of embedded chDB in the gateway",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    scratch = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    city_db, city_note = city_database(scratch)
    print(f"GeoIP: {city_note}; {args.connections} connections, {args.duration} s each, wrk -t1")
    port = free_port()
    (scratch / "gw").mkdir()
    standin = None
    if args.standin:
        from tests.support.clickhouse_standin import StandIn

        standin = StandIn(scratch / "standin", 0)
    gateway = start_gateway(scratch / "gw", port, city_db, standin.url if standin else "")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/-/version", gateway)
        cookies = []
        with httpx.Client(
            base_url=base, headers={"Origin": ORIGIN, "X-Forwarded-For": "85.214.132.117"}
        ) as web:
            for n in range(args.visitors):
                web.cookies.clear()
                answer = web.post(  # each visitor from its own address: one address has a budget of rows
                    "/consent?site=1", json={"categories": ["analytics"], "policy_version": "1"},
                    headers={"X-Forwarded-For": f"85.214.{n // 250}.{n % 250 + 1}"},
                )
                answer.raise_for_status()
                cookies.append(f"cg_consent_1={web.cookies['cg_consent_1']}")
        requests = hits(cookies, args.requests)
        script = scratch / "hits.lua"
        script.write_text(lua_script(requests))
        run_wrk(base + "/matomo.php", script, 2, args.connections)  # warm-up: caches, JIT-free but fair
        gateway_figures = run_wrk(base + "/matomo.php", script, args.duration, args.connections)
        metrics = httpx.get(f"{base}/-/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}",
                                                          "Accept": "application/json"}).json()
    finally:
        stop(gateway)
        if standin is not None:
            standin.stop()
    trivial_port = free_port()
    trivial = start_trivial(trivial_port)
    try:
        wait_ready(f"http://127.0.0.1:{trivial_port}/t", trivial)
        run_wrk(f"http://127.0.0.1:{trivial_port}/t", None, 2, args.connections)
        trivial_figures = run_wrk(f"http://127.0.0.1:{trivial_port}/t", None, args.duration, args.connections)
    finally:
        stop(trivial)

    print(f"{'':24}{'hits/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for name, figures in (
        ("gateway, consented hits", gateway_figures),
        ("trivial Starlette 204", trivial_figures),
    ):
        print(
            f"{name:24}{figures['rps']:>10.0f}{figures['50%']:>10.2f}{figures['99%']:>10.2f}"
            f"{figures['errors']:>10.0f}"
        )
    print(f"ratio gateway / trivial: {gateway_figures['rps'] / trivial_figures['rps']:.2f} (target >= 0.35)")
    counters = metrics["counters"]
    print(f"counters: hits {counters.get('hits')}, dropped {counters.get('hits_dropped', {})}")
    print("mean µs per step in the server:", {k: v["mean_us"] for k, v in metrics["steps"].items()})
    print("profile (top functions by own time):")
    (scratch / "profile").mkdir()
    profile(requests, scratch / "profile", city_db, args.top)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
