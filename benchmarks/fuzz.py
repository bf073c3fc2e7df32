"""The fuzz test's long form: 100,000 crafted and random requests at every endpoint of a real gateway.

The same generator as the CI form (tests/e2e/test_fuzz.py, tests/support/fuzz.py), at length and
with more connections: ``consent-gateway serve`` on embedded ClickHouse with the tests' tiny GeoIP
database, a visitor's consent and an admin's session made first, then the crafted cases of every
route and method and random ones up to ``--requests``. Prints what was sent, the answers by class
and status, the 5xx seen by the client and in the access log, the tracebacks in the log, the
slowest answers, and whether the process lived through it.

    .venv/bin/python -m benchmarks.fuzz [--requests 100000] [--concurrency 16] [--seed N]
    .venv/bin/python -m benchmarks.fuzz --replay 16:random:143   # one case a failure message named

Exit status 1 when a 5xx or a traceback was seen.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import httpx2 as httpx

from tests.e2e.gateway_process import running_gateway
from tests.geoip_fixture import build_city_db
from tests.support.fuzz import Case, crafted_cases, random_cases, replay
from tests.support.fuzz_run import Secrets, Tally, first_traceback, prepare, run, server_trouble, warm_up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="requests in all (default 100,000)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections at once (default 16)")
    parser.add_argument("--seed", type=int, default=int(dt.datetime.now(dt.UTC).strftime("%Y%m%d")),
                        help="seed of the random cases (default: today, as YYYYMMDD)")
    parser.add_argument("--replay", metavar="SEED:crafted|random:INDEX", help="send one case and show it")
    parser.add_argument("--port", type=int, default=0, help="the gateway's port (default: a free one)")
    parser.add_argument("--log", type=Path, help="keep the gateway's log in this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as scratch:
        folder = Path(scratch)
        env, share_key, plan = prepare(folder, build_city_db(folder / "city.mmdb"))
        print(f"{len(plan.endpoints)} routes, "
              f"{sum(len(e.methods) for e in plan.endpoints)} route-method pairs", flush=True)
        tally = Tally()
        with running_gateway(env, folder / "serve.log", port=args.port or None) as gateway:
            secrets = warm_up(gateway.base, share_key)
            if args.replay:
                seed, kind, index = args.replay.split(":")
                case = replay(plan, int(seed), int(index), crafted=kind == "crafted")
                print(case.describe())
                tally = asyncio.run(run(gateway.base, [case], secrets, concurrency=1))
            else:
                crafted = list(itertools.islice(crafted_cases(plan, args.seed), args.requests))
                cases = itertools.chain(crafted, random_cases(plan, args.seed, args.requests - len(crafted)))
                tally = asyncio.run(_progress(gateway.base, cases, secrets, args.concurrency, args.requests))
            health = httpx.get(f"{gateway.base}/-/health", timeout=30)
            time.sleep(1)  # requests whose client hung up finish on the server's side
        log = gateway.log
        if args.log:
            args.log.write_text(log)
        return _report(tally, log, health, gateway.exit_code, args.seed)


async def _progress(base: str, cases: Iterable[Case], secrets: Secrets, concurrency: int,
                    total: int) -> Tally:
    """``run`` in slices of 10,000, printing as it goes (a long run is otherwise silent for minutes)."""
    tally = Tally()
    source = iter(cases)
    while tally.sent < total:
        part = await run(base, itertools.islice(source, 10_000), secrets, concurrency=concurrency)
        if not part.sent:
            break
        tally.add(part)
        print(f"  {tally.summary()}", flush=True)
    return tally


def _report(tally: Tally, log: str, health: httpx.Response, exit_code: int | None, seed: int) -> int:
    trouble = server_trouble(log)
    tracebacks = log.count("Traceback")
    print(f"seed {seed}: {tally.summary()}")
    print(f"by status: {dict(sorted(tally.statuses.items()))}")
    print(f"raw-socket framings: {dict(sorted(tally.framings.items()))}")
    print(f"5xx seen by the client: {tally.server_errors} ({len(tally.failures)} counted as failures; "
          "/-/health's own 503 verdict is not)")
    print(f"log: {tracebacks} traceback(s), {len(trouble)} line(s) of trouble (tracebacks, 5xx in the "
          "access log)")
    print(f"health afterwards: {health.status_code} {health.text[:200]}; exit code {exit_code}")
    print("slowest answers:")
    for seconds, what in tally.slowest:
        print(f"  {seconds:6.2f} s  {what}")
    for failure in tally.failures[:20]:
        print(f"FAILURE {failure}")
    for line in trouble[:20]:
        print(f"LOG {line}")
    for line in [line for line in log.splitlines() if " ERROR gateway" in line][:20]:
        print(f"LOG {line}")
    if tracebacks:
        print(first_traceback(log))
    return 1 if tally.failures or trouble else 0


if __name__ == "__main__":
    sys.exit(main())
