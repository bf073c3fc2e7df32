"""WarnOnce: one line per key, at most so many keys and so many lines a minute, whatever clients send."""

from __future__ import annotations

import logging

import pytest

from gateway.web.warn_once import WarnOnce, shown

log = logging.getLogger("tests.web.warn_once")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == log.name]


def test_one_line_per_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    warn = WarnOnce(log, "test warnings", clock=Clock())
    assert warn.warn("a", "about %s", "a")
    assert not warn.warn("a", "about %s", "a again")
    assert warn.warn(("a", 2), "about %s", "a for 2")
    assert messages(caplog) == ["about a", "about a for 2"]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_lines_over_the_minutes_rate_are_turned_away_and_their_keys_may_come_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    clock = Clock()
    warn = WarnOnce(log, "test warnings", per_minute=3, clock=clock)
    logged = [warn.warn(n, "key %d", n) for n in range(5)]
    assert logged == [True, True, True, False, False] and warn.turned_away == 2
    clock.now += 59.9
    assert not warn.warn(3, "key %d", 3)
    clock.now += 0.2  # a minute after the first lines
    assert warn.warn(3, "key %d", 3) and warn.warn(4, "key %d", 4)
    assert messages(caplog) == ["key 0", "key 1", "key 2", "key 3", "key 4"]


def test_ten_thousand_keys_make_a_bounded_number_of_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    clock = Clock()
    warn = WarnOnce(log, "test warnings", max_keys=50, per_minute=10, clock=clock)
    for n in range(10_000):  # one a second, for close to three hours: the rate alone would let 1,660 through
        warn.warn(f"https://{n}.attacker.example", "origin %d", n)
        clock.now += 1.0
    lines = messages(caplog)
    assert len(lines) == 51
    assert lines[-1].startswith("test warnings: 50 logged, the most one process remembers: no more")
    assert warn.remembered == 50


def test_a_flood_within_a_minute_writes_the_minutes_lines_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    warn = WarnOnce(log, "test warnings", per_minute=10, clock=Clock())
    for n in range(10_000):
        warn.warn(n, "key %d", n)
    assert len(messages(caplog)) == 10 and warn.turned_away == 9_990


def test_shown_quotes_and_cuts_short() -> None:
    assert shown("https://shop.example.com") == "'https://shop.example.com'"
    assert shown("a\nb\tc") == "'a\\nb\\tc'"
    long = shown("x" * 500)
    assert long == repr("x" * 100) + "..."
