"""The per-client budget of consent log rows: a burst, then a slow refill; an IPv6 client also counted
in its /48; clients as keyed hashes; time from a monotonic clock."""

from __future__ import annotations

import time

from gateway.consent_budget import (
    BANNER,
    BANNER_EVERY,
    WIDE,
    Allowance,
    Budget,
    Client,
    ConsentBudget,
)

DAY = 86_400.0


def test_a_burst_then_one_row_per_interval() -> None:
    budget = Budget(burst=5, every=720.0)
    assert [budget.spend(1, 1000.0) for _ in range(5)] == [0.0] * 5
    assert budget.spend(1, 1000.0) == 720.0  # the sixth waits for one interval
    assert budget.spend(1, 1719.0) == 1.0
    assert budget.spend(1, 1720.0) == 0.0 and budget.spend(1, 1720.0) == 720.0
    assert budget.spend(2, 1720.0) == 0.0  # another client is untouched
    assert [budget.spend(1, 1720.0 + 5 * 720) for _ in range(6)].count(0.0) == 5  # whole again


def test_memory_is_bounded_and_the_least_recently_seen_go_first() -> None:
    budget = Budget(burst=1, every=60.0, max_clients=3)
    for client in (1, 2, 3):
        budget.spend(client, 0.0)
    assert budget.spend(1, 1.0) > 0  # seen again, even when refused: kept
    budget.spend(4, 1.0)
    assert len(budget) == 3
    assert budget.spend(2, 2.0) == 0.0  # forgotten, so whole again
    assert budget.spend(1, 2.0) > 0


def rows_in_a_day(allowance: Allowance, clients: list[Client]) -> int:
    """Rows written by a client that tries every minute for a day, cycling through ``clients``."""
    return sum(allowance.spend(clients[minute % len(clients)], minute * 60.0) == 0.0
               for minute in range(int(DAY // 60)))


def test_a_client_without_cookies_writes_a_few_dozen_banner_rows_a_day_not_hundreds() -> None:
    banner = ConsentBudget().banner
    rows = rows_in_a_day(banner, [Client(1, None)])
    assert rows == BANNER + DAY // BANNER_EVERY - 1 == 67  # 480 with a refill every 3 minutes
    assert banner.spend(Client(2, None), DAY) == 0.0  # another client: its own budget


def test_rotating_ipv6_slash_64s_inside_one_slash_48_buys_no_fresh_budgets() -> None:
    budgets = ConsentBudget()
    rotating = [budgets.client(f"2001:db8:7:{n:x}::1") for n in range(1440)]  # a fresh /64 every minute
    assert all(c is not None and c.wide == rotating[0].wide for c in rotating)  # type: ignore[union-attr]
    rows = rows_in_a_day(budgets.banner, rotating)  # type: ignore[arg-type]
    assert rows == BANNER * WIDE + DAY // (BANNER_EVERY / WIDE) - 1 == 271  # 1,440 before: one per /64
    # The next /48, and IPv4 clients, have budgets of their own.
    assert budgets.banner.spend(budgets.client("2001:db8:8::1"), DAY) == 0.0  # type: ignore[arg-type]
    assert budgets.banner.spend(budgets.client("192.0.2.1"), DAY) == 0.0  # type: ignore[arg-type]


def test_a_refusal_takes_nothing_from_either_budget() -> None:
    allowance = Allowance(burst=1, every=60.0)  # 1 per /64, 4 per /48
    for narrow in (1, 2):
        assert [allowance.spend(Client(narrow, 48), 0.0) for _ in range(3)] == [0.0, 60.0, 60.0]
    # Four refusals so far, none charged to the /48: two more /64s get their row, the fifth waits for it.
    assert [allowance.spend(Client(narrow, 48), 0.0) for narrow in (3, 4, 5)] == [0.0, 0.0, 15.0]
    assert allowance.spend(Client(5, 49), 0.0) == 0.0  # in another /48
    assert (len(allowance.narrow), len(allowance.wide)) == (5, 2)


def test_a_client_is_an_ipv4_address_or_an_ipv6_slash_64_and_slash_48_kept_as_keyed_hashes() -> None:
    budgets = ConsentBudget()
    client = budgets.client
    assert client("2001:db8:1:2::1") == client("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert client("2001:db8:1:2::1") != client("2001:db8:1:3::1")
    assert client("2001:db8:1:2::1").wide == client("2001:db8:1:ffff::1").wide  # type: ignore[union-attr]
    assert client("2001:db8:1:2::1").wide != client("2001:db8:2:2::1").wide  # type: ignore[union-attr]
    assert client("192.0.2.1") != client("192.0.2.2")
    assert client("192.0.2.1") == Client(client("192.0.2.1").narrow, None)  # type: ignore[union-attr]
    assert ConsentBudget().client("192.0.2.1") != client("192.0.2.1")  # a key of its own per process
    assert client("not an address") is not None  # a name the proxy passed on is still one client


def test_no_budget_without_an_address_or_from_loopback() -> None:
    budgets = ConsentBudget()
    assert [budgets.client(a) for a in (None, "", "127.0.0.1", "127.8.9.10", "::1")] == [None] * 5


def test_budgets_run_on_a_monotonic_clock() -> None:
    assert ConsentBudget().clock is time.monotonic  # a wall clock set back would hold clients for hours
