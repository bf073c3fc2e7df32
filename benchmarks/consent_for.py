"""Benchmark: the cost per call of ``ConsentGate.consent_for``, the check every tracking hit passes.

Prints µs per call (best and median of ``--repeat`` runs) for a valid analytics consent cookie:
  (a) cached: the same cookie again and again (one visitor sends many hits), with the request's
      cookies already parsed, then with a fresh ``Request`` and Cookie header parse per hit as
      the endpoint really does;
  (b) uncached: the cache cleared before every call, i.e. a full itsdangerous verification;
  (c) a plain itsdangerous ``URLSafeSerializer.loads`` of the same cookie, for comparison;
  (d) a realistic mix: 10,000 visitors' cookies, each hit 20 times, in random order (fixed seed),
      a fresh ``Request`` per hit; the cache hit rate is printed with it.
  (e) (a) and (d) again with the server's ledger of decisions (issue 15), as the gateway runs: 100,000
      consent ids withdrawn or refused after a grant are in it, the visitors' are not (most are not),
      so the figures side by side are the gate's cost before and after the ledger.
The target in issue 3 is < 20 µs per call. Not a test: run it by hand on a quiet machine (this
VM's speed drifts by ~30 % between minutes, hence best-of-N):
    .venv/bin/python -m benchmarks.consent_for [--iterations 200000] [--visitors 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from typing import Any

from itsdangerous import URLSafeSerializer
from starlette.requests import Request

from benchmarks.timing import measure
from gateway.config.consent import ANALYTICS, MARKETING
from gateway.config.sites import DEMO_SITE
from gateway.consent.cookie import ConsentCodec, ConsentGate, cookie_name, decide
from gateway.monitoring.counters import Metrics
from gateway.rights.ledger import ConsentLedger

KEY = "benchmark-signing-key-0123456789abcdefghij"
SALT = "consent-gateway.consent"  # the codec's; (c) must verify exactly what the gate verifies
TARGET_US = 20.0
# What a browser sends a first-party gateway on stats.example.com with Domain=.example.com cookies.
OTHER_COOKIES = ("_pk_ref.1.1fff=%5B%22%22%2C%22%22%2C1767225600%2C%22https%3A%2F%2Fwww.google.com%2F%22%5D; "
                 "cart=7f3b2a; theme=dark; lang=en-GB")


def scope(value: str) -> dict[str, Any]:
    header = f"{OTHER_COOKIES}; {cookie_name(DEMO_SITE.id)}={value}"
    return {"type": "http", "method": "GET", "path": "/matomo.php", "query_string": b"idsite=1&rec=1",
            "headers": [(b"host", b"stats.example.com"), (b"user-agent", b"Mozilla/5.0"),
                        (b"cookie", header.encode())]}


def parsed(value: str) -> Request:
    request = Request(scope(value))
    _ = request.cookies  # Starlette parses the Cookie header once per request, on first use
    return request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=200_000, help="calls per cached run")
    parser.add_argument("--visitors", type=int, default=10_000)
    parser.add_argument("--hits", type=int, default=20, help="hits per visitor in the mix")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cached_calls, uncached_calls = args.iterations, max(args.iterations // 10, 1)

    now = time.time()
    site = DEMO_SITE
    codec = ConsentCodec((KEY,))
    metrics = Metrics()
    gate = ConsentGate(codec, metrics)  # the real clock, as on the hit path
    consent = decide(site=site, categories=[ANALYTICS, MARKETING], source="banner", now=now, previous=None)
    value = codec.dumps(consent)
    assert gate.consent_for(parsed(value), site) == consent
    print(f"consent_for: cookie of {len(value)} bytes in a {len(scope(value)['headers'][2][1])}-byte Cookie "
          f"header; target < {TARGET_US:.0f} µs/call; best and median of {args.repeat} runs")

    request, the_scope = parsed(value), scope(value)

    def cached() -> None:
        for _ in range(cached_calls):
            gate.consent_for(request, site)

    def cached_with_parse() -> None:
        for _ in range(cached_calls):
            gate.consent_for(Request(the_scope), site)

    def uncached() -> None:
        clear = codec.loads.cache_clear
        for _ in range(uncached_calls):
            clear()
            gate.consent_for(request, site)

    plain = URLSafeSerializer(KEY, salt=SALT)
    assert plain.loads(value)[2] == site.id

    def itsdangerous_only() -> None:
        for _ in range(uncached_calls):
            plain.loads(value)

    repeat = args.repeat
    measure("(a) cached, cookies already parsed", cached_calls, cached, repeat, TARGET_US)
    measure("(a) cached, new Request + Cookie parse per hit", cached_calls, cached_with_parse, repeat,
            TARGET_US)
    measure("(b) uncached (cache cleared before each call)", uncached_calls, uncached, repeat, TARGET_US)
    measure("(c) plain itsdangerous URLSafeSerializer.loads", uncached_calls, itsdangerous_only, repeat,
            TARGET_US)

    rnd = random.Random(11)
    scopes = []
    for _ in range(args.visitors):
        choice = [ANALYTICS] + ([MARKETING] if rnd.random() < 0.4 else [])
        visitor = decide(site=site, categories=choice, source="banner", now=now - rnd.randrange(86_400 * 90),
                         previous=None)
        scopes.append(scope(codec.dumps(visitor)))
    hits = [s for s in scopes for _ in range(args.hits)]
    rnd.shuffle(hits)
    hit_rates = []

    def mix() -> None:
        codec.loads.cache_clear()  # every run starts cold: each visitor's first hit verifies
        for hit in hits:
            gate.consent_for(Request(hit), site)
        info = codec.loads.cache_info()
        hit_rates.append(info.hits / (info.hits + info.misses))

    label = f"(d) {args.visitors:,} visitors x {args.hits} hits, random order"
    measure(label, len(hits), mix, args.repeat, TARGET_US)
    print(f"    cache hit rate in (d): {statistics.median(hit_rates) * 100:.1f} %, "
          f"cache size {codec.loads.cache_info().currsize:,} of {codec.loads.cache_info().maxsize:,}")

    ledger = ConsentLedger()
    for n in range(100_000):
        ledger.record(uuid.UUID(int=rnd.getrandbits(128)), int(now) - n, analytics=False)
    gate.decisions = ledger
    measure("(e) = (a) cached, new Request per hit, with the ledger", cached_calls, cached_with_parse, repeat,
            TARGET_US)
    measure(f"(e) = (d) with the ledger ({len(ledger):,} entries)", len(hits), mix, args.repeat, TARGET_US)
    gate.decisions = None
    assert not metrics.snapshot(), metrics.snapshot()  # every call above found a current consent


if __name__ == "__main__":
    main()
