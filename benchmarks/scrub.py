"""Benchmark: the cost per call of privacy scrubbing and referrer classification, on every hit's path.

Prints µs per call (best and median of ``--repeat`` runs) for:
  (a) ``Scrubber.text`` on titles: clean (English, Chinese), with a long digit run (a year range: the
      number rules run on a window), and with personal data (an address and a phone number); each
      the first time a Scrubber sees it, and again (clean texts are remembered, the others not);
  (b) ``Scrubber.url`` on page URLs, ``--distinct`` different ones per run, with a new Scrubber per
      run: a clean path, a path with query parameters, a landing URL with three utm_ parameters,
      and one with a secret parameter and an address;
  (c) a referrer as the pipeline handles it: ``url()``, ``campaign_from_params`` and ``classify``.
Targets: a title ~1-2 µs (10 µs for the rare ones with long numbers or personal data), a clean page
URL well under 10 µs. Not a test: run it by hand on a quiet machine (this VM's speed drifts by ~30 %
between minutes, hence best-of-N):
    .venv/bin/python -m benchmarks.scrub [--iterations 100000] [--distinct 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from benchmarks.timing import measure
from gateway.ingest.referrer import campaign_from_params, classify
from gateway.ingest.scrub import Scrubber

TEXT_TARGET_US, RARE_TEXT_TARGET_US, URL_TARGET_US = 2.0, 10.0, 10.0
TITLES = {  # label: (title, target); long digit runs and personal data are the rare, costlier cases
    "clean title (English)": ("Brake pads for VW Golf 7 – front axle | Parts catalogue", TEXT_TARGET_US),
    "clean title (Chinese)": ("大众高尔夫7 前轴刹车片 | 汽车配件目录", TEXT_TARGET_US),
    "title with a year range": ("Golf 7 (2012–2019) front brake discs 312 mm", RARE_TEXT_TARGET_US),
    "title with an address and a phone": ("Order for jane.doe@example.com, call +49 30 1234567",
                                          RARE_TEXT_TARGET_US),
}
URLS = {
    "clean page URL": "https://www.example.com/products/brake-pads/vw-golf-7-{i}",
    "page URL with query": "https://www.example.com/search?q=brake+pads&page={i}&sort=price",
    "landing URL with 3 utm_ params": "https://www.example.com/p/{i}?utm_source=newsletter&utm_medium=email"
                                      "&utm_campaign=spring_sale",
    "URL with a token and an address": "https://www.example.com/reset/{i}?token=4f9a8b7c6d5e&email=a%40b.co",
}
REFERRERS = ("https://www.baidu.com/s?wd=%E5%88%B9%E8%BD%A6%E7%89%87{i}&ie=utf-8",
             "https://www.google.com/", "https://l.facebook.com/l.php?u=x{i}", "https://blog.partner.org/{i}")


def letters(i: int) -> str:
    """A distinct suffix without digits, so that it does not wake the number rules."""
    return "".join("abcdefghijklmnopqrstuvwxyz"[int(d)] for d in str(i))


def copies(value: str, count: int) -> list[str]:
    """Equal strings as distinct objects: each hit's text is a fresh string whose hash is not cached."""
    return [(value + "x")[:-1] for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=100_000, help="calls per run")
    parser.add_argument("--distinct", type=int, default=1000, help="different URLs per run")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    calls = args.iterations
    print(f"scrub: targets text < {TEXT_TARGET_US:.0f} µs ({RARE_TEXT_TARGET_US:.0f} µs with long numbers or "
          f"personal data), url < {URL_TARGET_US:.0f} µs; "
          f"best and median of {args.repeat} runs; 'first' = a new Scrubber per run, every string new to it")

    for label, (title, target) in TITLES.items():
        distinct = [f"{title} {letters(i)}" for i in range(calls)]
        again = copies(title, calls)

        def first(distinct: list[str] = distinct) -> None:
            text = Scrubber().text
            for value in distinct:
                text(value)

        warm = Scrubber()

        def repeated(again: list[str] = again, text: Callable[[str], str] = warm.text) -> None:
            for value in again:
                text(value)

        measure(f"(a) text, first: {label}", calls, first, args.repeat, target)
        measure(f"(a) text, again: {label}", calls, repeated, args.repeat, target)

    for label, pattern in URLS.items():
        urls = [pattern.format(i=i) for i in range(args.distinct)] * max(calls // args.distinct, 1)

        def pages(urls: list[str] = urls) -> None:
            url = Scrubber().url
            for page in urls:
                url(page)
        measure(f"(b) url: {label}", len(urls), pages, args.repeat, URL_TARGET_US)

    referrers = [r.format(i=i) for i in range(args.distinct // len(REFERRERS)) for r in REFERRERS]
    referrers *= max(calls // len(referrers), 1)
    page = Scrubber().url("https://www.example.com/p/1?page=2")  # no campaign: classify looks at the referrer

    def classify_all() -> None:
        url = Scrubber().url
        for referrer in referrers:
            classify(url(referrer), page_host=page.host, campaign=campaign_from_params(page.params))
    measure("(c) referrer: url + campaign + classify", len(referrers), classify_all, args.repeat,
            URL_TARGET_US)


if __name__ == "__main__":
    main()
