"""Story: an attacker throws malformed and random requests at every endpoint; the gateway shrugs.

The short form of the fuzz test (the long form is ``benchmarks/fuzz.py``): the real ``consent-gateway
serve`` on embedded ClickHouse, a visitor's consent and an admin's session made first so that the
cases reach past the first checks, then every route and method with each crafted kind of bad input
(tests/support/fuzz.py), and random mutations under two seeds: a fixed one, and one from the date,
so that each day explores new cases while a failure stays reproducible from the seed it prints.

Asserted: no answer is a 5xx, the log holds no traceback and no 5xx the client did not see (a client
that hung up), every route and method was asked, and the process still answers its health check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
from pathlib import Path

import httpx2 as httpx

from tests.e2e.gateway_process import running_gateway
from tests.support.fuzz import crafted_cases, random_cases
from tests.support.fuzz_run import Tally, first_traceback, prepare, run, server_trouble, warm_up

FIXED_SEED = 16
RANDOM_CASES = 800  # for each seed, after the ~2,000 crafted cases
CONCURRENCY = 4
BUDGET = 35.0  # seconds for the random cases at most: a loaded machine runs fewer, the test stays short


def test_fuzzing_every_endpoint_gets_no_5xx_no_traceback_and_the_gateway_lives(
        tmp_path: Path, city_db: Path) -> None:
    env, share_key, plan = prepare(tmp_path, city_db)
    date_seed = int(dt.datetime.now(dt.UTC).strftime("%Y%m%d"))
    tally = Tally()
    with running_gateway(env, tmp_path / "serve.log") as gateway:
        secrets = warm_up(gateway.base, share_key)
        tally.add(asyncio.run(run(gateway.base, crafted_cases(plan, FIXED_SEED), secrets,
                                  concurrency=CONCURRENCY)))
        crafted = tally.sent
        deadline = time.monotonic() + BUDGET
        for seed in (FIXED_SEED, date_seed):
            tally.add(asyncio.run(run(gateway.base, random_cases(plan, seed, RANDOM_CASES), secrets,
                                      concurrency=CONCURRENCY, deadline=deadline)))
        health = httpx.get(f"{gateway.base}/-/health", timeout=30)
        time.sleep(0.5)  # the last hung-up requests finish on the server's side
    log = gateway.log
    where = (f"seeds {FIXED_SEED} (crafted and random) and {date_seed} (random): {tally.summary()}; "
             "replay one with benchmarks/fuzz.py --replay SEED:crafted|random:INDEX")
    trouble = server_trouble(log)
    assert not tally.failures, f"{where}\n" + "\n".join(tally.failures[:20])
    assert not trouble, f"{where}\n" + "\n".join(trouble[:20]) + "\n" + first_traceback(log)
    asked = {f"{method} {endpoint.path}" for endpoint in plan.endpoints for method in endpoint.methods}
    assert asked <= set(tally.routes), f"never asked: {sorted(asked - set(tally.routes))}"
    assert health.status_code == 200 and health.json()["status"] in ("ok", "degraded"), health.text
    assert gateway.exit_code in (0, -signal.SIGTERM), log[-2000:]
    assert tally.sent > crafted, where  # some random cases, even on a slow machine
