"""Benchmark: consented tracking hits per second through the real gateway, against a trivial endpoint.

On loopback, with ``wrk`` (Debian package ``wrk``: ``apt-get install wrk``) as the load generator. A round:
  1. ``consent-gateway serve`` (embedded ClickHouse, or ``--standin``: the tests' chDB-backed ClickHouse
     HTTP stand-in in a process of its own, a fresh database each round; the real GeoLite2 City database
     when ``data/geoip/city.mmdb`` exists, else the tests' tiny one) behind a "trusted proxy", so every
     hit comes from its own public IP through X-Forwarded-For; its resident memory (VmRSS, summed over
     the process and its workers) is read at idle;
  2. ``--visitors`` visitors accept analytics through ``POST /consent``; wrk replays matomo.js-shaped
     hits (sendBeacon POST, empty body, everything in the query string, ``send_image=0``) with their
     cookies, rotating IPs, user agents, pages and referrers: 2 s of warm-up (RSS read after it), then
     ``--duration`` seconds measured (RSS at the end);
  3. the gateway's ``/-/metrics``: the longest event-loop stall since it started (its consents, the
     warm-up and the run: ``consent_gateway_loop_lag_max_seconds``) and the worst lag bucket of the
     measured run alone; then it stops (and flushes), and the hits answered 2xx (warm-up and run) are
     compared with the rows in ``events``: an acknowledged hit is never lost, and a stored row beyond
     the answers can only be a hit in flight when wrk stopped (at most ``--connections`` per wrk run);
  4. a trivial Starlette app answering 204 (benchmarks/trivial_app.py, same uvicorn options and
     workers) under the same wrk settings, and the ratio of the two (issue 19: >= 0.35 with one worker).
``--rounds K`` repeats it and prints the best and the median of every figure; ``--workers 1 2 3`` does
it for each ``serve --workers N`` (on the stand-in: embedded ClickHouse lives in one process); with
wrk on the same 2 cores, more workers compete with wrk for them. Then a profile of the hit path in
process (the same requests through the ASGI app under cProfile, no HTTP; ``--top 0`` skips it).

``--soak SECONDS`` instead runs one gateway for that long with ~``--soak-visitors`` (1,000,000)
distinct visitors: their cookies are minted offline with ``ConsentCodec`` and the benchmark's own
secret key (a million ``POST /consent`` would take the run) and streamed from a file by wrk's script;
it prints RSS every 30 s. The consent ledger remembers accepted consent ids for 2 to 4 minutes
(gateway/rights/ledger.py ``SEEN_SECONDS``): memory may grow for ~4 minutes, not after.

Not a test: run by hand on a quiet machine (this VM's speed drifts; compare within one run):
    .venv/bin/python -m benchmarks.tracking_load --duration 10 --connections 50 --rounds 3
    .venv/bin/python -m benchmarks.tracking_load --standin --workers 1 2 3 --rounds 3 --top 0
    .venv/bin/python -m benchmarks.tracking_load --soak 600 [--standin]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.load_tools import (
    ORIGIN,
    SECRET_KEY,
    city_database,
    consented,
    free_port,
    gateway_env,
    hits,
    longest_stall_ms,
    lua_script,
    metrics,
    mint_cookies,
    parse_wrk,
    ready,
    rss_mib,
    run_wrk,
    start_gateway,
    start_trivial,
    stop,
    stored_events,
    wait_ready,
    worst_bucket,
    wrk_command,
)

WARM_UP = 2  # seconds of wrk before each measured run
SOAK_EVERY = 30.0  # seconds between the soak's memory readings


@dataclass(slots=True)
class Round:
    hits: float  # consented hits answered per second
    trivial: float  # the trivial endpoint's requests per second
    p99: float  # ms, the gateway's
    trivial_p99: float
    stall: float  # ms, the longest loop stall since the gateway started
    idle_stall: float  # ms, the same once started, before any consent or hit
    run_bucket: str  # the worst lag bucket of the measured run
    rss: tuple[float, float, float]  # MiB: idle, after the warm-up, at the end
    answered: int  # 2xx, warm-up and run
    stored: int  # rows in events
    errors: int  # non-2xx answers

    @property
    def ratio(self) -> float:
        return self.hits / self.trivial








def one_round(scratch: Path, city_db: Path, clickhouse_url: str, workers: int,
              args: argparse.Namespace) -> tuple[Round, list[dict[str, str]]]:
    env = gateway_env(scratch, city_db, clickhouse_url)
    scratch.mkdir(parents=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gateway = start_gateway(env, port, workers)
    try:
        ready(base, gateway, workers, Path(env["GATEWAY_DATA_DIR"]) / "serve.log")
        idle, idle_stall = rss_mib(gateway.pid), longest_stall_ms(metrics(base))
        requests = hits(consented(base, args.visitors), args.requests)
        script = scratch / "hits.lua"
        script.write_text(lua_script(requests))
        url = base + "/matomo.php"
        warm = run_wrk(url, script, WARM_UP, args.connections, args.threads)
        warmed, before = rss_mib(gateway.pid), metrics(base)
        run = run_wrk(url, script, args.duration, args.connections, args.threads)
        after, end = metrics(base), rss_mib(gateway.pid)
    finally:
        stop(gateway)
    stored = stored_events(env)
    trivial_port = free_port()
    trivial = start_trivial(trivial_port, workers)
    try:
        wait_ready(f"http://127.0.0.1:{trivial_port}/t", trivial)
        run_wrk(f"http://127.0.0.1:{trivial_port}/t", None, WARM_UP, args.connections, args.threads)
        plain = run_wrk(f"http://127.0.0.1:{trivial_port}/t", None, args.duration, args.connections,
                        args.threads)
    finally:
        stop(trivial)
    result = Round(hits=run.ok / args.duration, trivial=plain.rps, p99=run.p99, trivial_p99=plain.p99,
                   stall=longest_stall_ms(after), idle_stall=idle_stall,
                   run_bucket=worst_bucket(before, after), rss=(idle, warmed, end), answered=warm.ok + run.ok,
                   stored=stored, errors=warm.not_2xx + run.not_2xx)
    return result, requests


def line(r: Round) -> str:
    kept = "ok" if r.answered <= r.stored else "LOST"
    return (f"{r.hits:7.0f} hits/s (trivial {r.trivial:6.0f}, ratio {r.ratio:.3f}), p99 {r.p99:6.2f} ms, "
            f"longest stall {r.stall:7.2f} ms (at idle {r.idle_stall:.2f}, run's worst bucket "
            f"{r.run_bucket} ms), RSS idle/warm/end {r.rss[0]:.0f}/{r.rss[1]:.0f}/{r.rss[2]:.0f} MiB, "
            f"2xx {r.answered} vs stored {r.stored} ({kept}, +{r.stored - r.answered}), non-2xx {r.errors}")


def summary(label: str, rounds: list[Round]) -> None:
    figures: list[tuple[str, list[float], bool, str]] = [
        ("consented hits/s", [r.hits for r in rounds], True, ".0f"),
        ("trivial req/s", [r.trivial for r in rounds], True, ".0f"),
        ("ratio (target >= 0.35)", [r.ratio for r in rounds], True, ".3f"),
        ("p99 ms (target < 20)", [r.p99 for r in rounds], False, ".2f"),
        ("trivial p99 ms", [r.trivial_p99 for r in rounds], False, ".2f"),
        ("longest stall ms (target <= 5)", [r.stall for r in rounds], False, ".2f"),
        ("RSS idle MiB", [r.rss[0] for r in rounds], False, ".0f"),
        ("RSS after warm-up MiB", [r.rss[1] for r in rounds], False, ".0f"),
        ("RSS at the end MiB", [r.rss[2] for r in rounds], False, ".0f"),
    ]
    print(f"\n{label}: {len(rounds)} round(s){'':14}{'best':>10}{'median':>10}")
    for name, values, higher, fmt in figures:
        best = max(values) if higher else min(values)
        print(f"  {name:34}{best:>10{fmt}}{statistics.median(values):>10{fmt}}")
    lost = sum(max(r.answered - r.stored, 0) for r in rounds)
    print(f"  answered 2xx vs stored: {'every answered hit stored' if not lost else f'{lost} LOST'}; "
          f"worst buckets of the runs: {', '.join(r.run_bucket for r in rounds)} ms")


def soak(scratch: Path, city_db: Path, clickhouse_url: str, args: argparse.Namespace) -> None:
    (scratch / "gw").mkdir(parents=True)
    cookie_file = scratch / "cookies.txt"
    started = time.monotonic()
    mint_cookies(cookie_file, args.soak_visitors)
    print(f"minted {args.soak_visitors:,} cookies in {time.monotonic() - started:.0f} s", flush=True)
    workers = args.workers[0]
    env = gateway_env(scratch / "gw", city_db, clickhouse_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gateway = start_gateway(env, port, workers)
    try:
        ready(base, gateway, workers, Path(env["GATEWAY_DATA_DIR"]) / "serve.log")
        print(f"{'s':>5}{'RSS MiB':>9}{'stored':>10}{'hits/s':>8}{'stall ms':>10}  (workers {workers})")
        stored_before, at = 0, time.monotonic()
        print(f"{0:>5}{rss_mib(gateway.pid):>9.0f}{0:>10}{0:>8}{longest_stall_ms(metrics(base)):>10.2f}",
              flush=True)
        script = scratch / "soak.lua"
        script.write_text(lua_script(hits([], args.requests), cookie_file))
        command = wrk_command(base + "/matomo.php", script, args.soak, args.connections, args.threads)
        load = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        begun, finished = time.monotonic(), False
        while not finished:
            try:
                load.wait(timeout=SOAK_EVERY)
                finished = True
            except subprocess.TimeoutExpired:
                pass
            figures, now = metrics(base), time.monotonic()
            stored = figures["counters"].get("hits", {}).get("stored", 0)
            print(f"{now - begun:>5.0f}{rss_mib(gateway.pid):>9.0f}{stored:>10}"
                  f"{(stored - stored_before) / (now - at):>8.0f}{longest_stall_ms(figures):>10.2f}",
                  flush=True)
            stored_before, at = stored, now
        output = load.communicate()[0]
        final = parse_wrk(output)
    finally:
        stop(gateway)
    rows = stored_events(env)
    print(f"wrk: {final.rps:.0f} req/s, p50 {final.p50:.2f} ms, p99 {final.p99:.2f} ms, 2xx {final.ok}, "
          f"non-2xx {final.not_2xx}; rows stored {rows} ({'ok' if rows >= final.ok else 'LOST'}, "
          f"+{rows - final.ok}); distinct visitors sent: {min(final.answered, args.soak_visitors):,}")


def profile(requests: list[dict[str, str]], data: Path, city_db: Path, top: int) -> None:
    """The same hits through the ASGI app in-process, under cProfile: where a hit's time goes."""
    from gateway.app import create_app
    from gateway.config.settings import load_settings

    settings = load_settings({"GATEWAY_DATA_DIR": str(data), "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
                              "GATEWAY_SECRET_KEYS": SECRET_KEY, "GATEWAY_GEOIP_CITY_DB": str(city_db),
                              "GATEWAY_LOG_LEVEL": "warning"})
    app = create_app(settings)

    async def one(request: dict[str, str]) -> None:
        path, _, query = request["path"].partition("?")
        headers = [(b"host", b"127.0.0.1"), (b"cookie", request["cookie"].encode()),
                   (b"x-forwarded-for", request["ip"].encode()), (b"user-agent", request["ua"].encode()),
                   (b"origin", ORIGIN.encode()), (b"content-length", b"0")]
        scope: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                                 "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
                                 "query_string": query.encode(), "headers": headers,
                                 "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "state": {},
                                 "app": app}

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
            print(f"  {len(requests)} hits in-process: {busy / len(requests) * 1e6:.0f} µs of CPU per hit "
                  "under the profiler (which roughly doubles it; waiting in epoll excluded)")
            stats.sort_stats("tottime").print_stats(top + 1)
            lines = [line for line in stream.getvalue().splitlines() if re.match(r"\s+\d", line)]
            for line in [line for line in lines if "poll" not in line][:top]:
                print("   ", line.strip()[:150])

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of each measured run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="wrk's threads (the issue's figures: 1)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per configuration: best and median")
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="serve --workers N, one configuration each (N > 1 implies --standin)")
    parser.add_argument("--visitors", type=int, default=300)
    parser.add_argument("--requests", type=int, default=5000, help="distinct hits wrk rotates through")
    parser.add_argument("--top", type=int, default=25, help="functions the profile lists (0: no profile)")
    parser.add_argument("--standin", action="store_true",
                        help="store through the tests' chDB-backed ClickHouse HTTP stand-in in another "
                        "process, as with a ClickHouse server, instead of embedded chDB in the gateway")
    parser.add_argument("--soak", type=int, default=0, metavar="SECONDS",
                        help="one long run with distinct visitors, RSS every 30 s, instead of the rounds")
    parser.add_argument("--soak-visitors", type=int, default=1_000_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    standin_needed = args.standin or max(args.workers) > 1
    scratch = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    city_db, city_note = city_database(scratch)
    where = "the ClickHouse stand-in" if standin_needed else "embedded ClickHouse"
    print(f"GeoIP: {city_note}; {where}; wrk -t{args.threads} -c{args.connections}, {WARM_UP} s warm-up + "
          f"{args.duration} s per run; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
          "at start", flush=True)
    if max(args.workers) > 1:
        print(f"caveat: wrk, the stand-in and {max(args.workers)} workers share {os.cpu_count()} cores: "
              "the workers' scaling is bounded by the cores left to them, not by the gateway alone")
    with ExitStack() as stack:
        standin = None
        if standin_needed:
            from tests.support.clickhouse_standin import StandIn

            standin = StandIn(scratch / "standin", 0)
            stack.callback(standin.stop)

        def clickhouse(name: str) -> str:
            return f"http://default:@{standin.host}:{standin.port}/{name}" if standin is not None else ""

        if args.soak:
            soak(scratch / "soak", city_db, clickhouse("soak"), args)
            shutil.rmtree(scratch, ignore_errors=True)
            return
        results: dict[int, list[Round]] = {}
        requests: list[dict[str, str]] = []
        for workers in args.workers:
            for n in range(args.rounds):
                name = f"w{workers}_r{n + 1}"
                result, requests = one_round(scratch / name, city_db, clickhouse(name), workers, args)
                results.setdefault(workers, []).append(result)
                print(f"workers {workers}, round {n + 1} (load {os.getloadavg()[0]:.2f}): {line(result)}",
                      flush=True)
    for workers, rounds in results.items():
        summary(f"serve --workers {workers} on {where}", rounds)
    if args.top > 0:
        print("\nprofile (top functions by own time):")
        (scratch / "profile").mkdir()
        profile(requests, scratch / "profile", city_db, args.top)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
