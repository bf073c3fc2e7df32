"""Benchmark: the cost of ``parse_agent`` and its parts, per tracking hit.

Prints µs per call (best and median of ``--repeat`` runs) over a mix of real UAs (people, in-app
browsers, bots, libraries), each with the client hints its browser would send:
  (a) uncached: the parse cache cleared before every call, i.e. ua-parser + bot rules + hints;
  (b) cached: the same (UA, hints) again, including the slice to 512 characters and the key's hash;
  (c) the bot rules alone, on the same UAs;
  (d) the hint parsers, uncached and cached: ``uadata`` JSON, and Sec-CH-UA* headers;
  (e) ua-parser alone, per resolver installed: the pure-Python one always; the ``ua-parser-rs``
      (``ua-parser[regex]``) and ``google-re2`` (``ua-parser[re2]``) ones when present.
Not a test: run it by hand on a quiet machine (this VM's speed drifts by ~30 % between minutes,
hence best-of-N):
    .venv/bin/python -m benchmarks.useragent [--iterations 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import ua_parser
from starlette.datastructures import Headers
from ua_parser import Domain, Matchers, Resolver, load_builtins, load_lazy_builtins

from benchmarks.timing import measure
from gateway.useragent.bots import bot_reason
from gateway.useragent.parse import (
    _hints_from_header_values,
    _hints_from_uadata,
    _parse_agent,
    hints_from_headers,
    hints_from_uadata,
    parse_agent,
)

CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/124.0.0.0 Mobile Safari/537.36")
UAS = [
    CHROME_WIN,
    CHROME_ANDROID,
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    CHROME_WIN + " Edg/124.0.2478.80",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 "
    "Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; V2254A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MMWEBID/2247 "
    "MicroMessenger/8.0.47.2560(0x28002F30) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64",
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV "
    "Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "python-requests/2.31.0",
    "Mozilla/5.0 (" + "x; " * 170,  # 512 characters nothing matches: the slowest case
]
UADATA = json.dumps({
    "brands": [{"brand": "Chromium", "version": "124"}, {"brand": "Google Chrome", "version": "124"},
               {"brand": "Not-A.Brand", "version": "99"}],
    "fullVersionList": [{"brand": "Chromium", "version": "124.0.6367.91"},
                        {"brand": "Google Chrome", "version": "124.0.6367.91"},
                        {"brand": "Not-A.Brand", "version": "99.0.0.0"}],
    "mobile": False, "model": "", "platform": "Windows", "platformVersion": "15.0.0"})
HEADERS = Headers({
    "host": "stats.example.com", "user-agent": CHROME_WIN, "accept": "*/*",
    "accept-language": "en-GB,en;q=0.9",
    "sec-ch-ua": '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
    "sec-ch-ua-mobile": "?0", "sec-ch-ua-platform": '"Windows"', "sec-fetch-site": "same-site",
})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=200_000, help="calls per cached run")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cached_calls, rounds = args.iterations, max(args.iterations // 2000, 1)
    hints = hints_from_uadata(UADATA)
    pairs = [(ua, hints if "Chrome/" in ua else None) for ua in UAS]
    print(f"parse_agent over {len(UAS)} UAs (people, in-app, TV, bots, libraries, a 512-character miss); "
          f"best and median of {args.repeat} runs")
    parse_agent(CHROME_WIN)  # loads ua-parser's regexes (~0.1 s) outside the timings

    def uncached() -> None:
        clear = _parse_agent.cache_clear
        for _ in range(rounds):
            for ua, h in pairs:
                clear()
                parse_agent(ua, h)

    def cached() -> None:
        for _ in range(cached_calls // 2):
            parse_agent(CHROME_WIN, hints)
            parse_agent(CHROME_ANDROID)

    def bots() -> None:
        for _ in range(rounds * 10):
            for ua in UAS:
                bot_reason(ua)

    measure("(a) uncached parse_agent (UA + hints)", rounds * len(pairs), uncached, args.repeat)
    measure("(b) cached parse_agent (slice + key hash + lookup)", cached_calls, cached, args.repeat)
    measure("(c) bot rules alone", rounds * 10 * len(UAS), bots, args.repeat)

    def uadata_uncached() -> None:
        for _ in range(rounds * 10):
            _hints_from_uadata.cache_clear()
            hints_from_uadata(UADATA)

    def uadata_cached() -> None:
        for _ in range(cached_calls):
            hints_from_uadata(UADATA)

    def headers_uncached() -> None:
        for _ in range(rounds * 10):
            _hints_from_header_values.cache_clear()
            hints_from_headers(HEADERS)

    def headers_cached() -> None:
        for _ in range(cached_calls // 10):
            hints_from_headers(HEADERS)

    measure("(d) hints_from_uadata, uncached", rounds * 10, uadata_uncached, args.repeat)
    measure("(d) hints_from_uadata, cached", cached_calls, uadata_cached, args.repeat)
    measure("(d) hints_from_headers (Starlette Headers), uncached", rounds * 10, headers_uncached,
            args.repeat)
    measure("(d) hints_from_headers (Starlette Headers), cached", cached_calls // 10, headers_cached,
            args.repeat)

    resolvers: list[tuple[str, Callable[[Matchers], Resolver], Callable[[], Matchers]]] = [
        ("pure Python (installed by default)", ua_parser.BasicResolver, load_builtins)]
    if ua_parser.RegexResolver:
        resolvers.append(("ua-parser-rs (ua-parser[regex])", ua_parser.RegexResolver, load_lazy_builtins))
    if ua_parser.Re2Resolver:
        resolvers.append(("google-re2 (ua-parser[re2])", ua_parser.Re2Resolver, load_lazy_builtins))
    for name, make, load in resolvers:
        resolver = make(load())

        def resolve() -> None:
            for _ in range(rounds):
                for ua in UAS:
                    resolver(ua, Domain.ALL)  # noqa: B023 - run before the next loop rebinds it

        resolve()  # compiles lazily loaded regexes outside the timings
        measure(f"(e) ua-parser alone, {name}", rounds * len(UAS), resolve, args.repeat)
    if len(resolvers) == 1:
        print("    (install ua-parser[regex] or ua-parser[re2] to compare their resolvers)")


if __name__ == "__main__":
    main()
