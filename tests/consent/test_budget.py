"""The per-client budget of consent log rows: a burst, then a slow refill; an IPv6 client also counted
in its /48, a client behind a loopback or private peer also in the peer's sum; clients as keyed hashes;
time from a monotonic clock."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from gateway.consent.budget import (
    AUTOMATIC,
    BANNER,
    BANNER_EVERY,
    MAX_SHARED,
    SHARED,
    SHARED_EVERY,
    WIDE,
    Allowance,
    Budget,
    Client,
    ConsentBudget,
)
from gateway.web.proxy import TrustedProxies, budget_addresses, client_ip

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


def test_no_budget_without_an_address() -> None:
    assert [ConsentBudget().client(a) for a in (None, "")] == [None, None]


NOBODY = TrustedProxies(())
LOOPBACK_PROXY = TrustedProxies([ipaddress.ip_network("127.0.0.1/32")])


def visit(budgets: ConsentBudget, trusted: TrustedProxies, peer: str, *headers: tuple[str, str]) -> Client:
    """The client ``gateway.consent.api.Visit.read`` hands to the budget for one request."""
    scope: dict[str, Any] = {"type": "http", "client": (peer, 50000),
                             "headers": [(name.encode(), value.encode()) for name, value in headers]}
    client = budgets.client(*budget_addresses(scope, trusted, client_ip(scope, trusted)))
    assert client is not None  # every peer here is an address
    return client


def rows_at_once(budgets: ConsentBudget, clients: list[Client]) -> int:
    return sum(budgets.automatic.spend(c, 0.0) == 0.0 for c in clients)


def test_a_loopback_client_without_forwarding_headers_is_bounded_by_the_peers_sum() -> None:
    # nginx on this host, undeclared and adding no header; or a local script: either way no free pass.
    budgets = ConsentBudget()
    clients = [visit(budgets, NOBODY, "127.0.0.1") for _ in range(3 * SHARED)]
    assert rows_at_once(budgets, clients) == SHARED  # unlimited before: no budget from loopback
    assert budgets.automatic.spend(visit(budgets, NOBODY, "::1"), 0.0) == 0.0  # another peer, its own sum
    assert budgets.automatic.spend(visit(budgets, NOBODY, "192.0.2.1"), 0.0) == 0.0  # a visitor, its own
    assert budgets.automatic.spend(clients[0], SHARED_EVERY) == 0.0  # refilled: a thousand an hour
    # A declared proxy that names no client, and a private NAT (Docker's userland proxy, a Kubernetes
    # Service) that adds no header, are a peer's sum too, not one client's handful.
    declared = [visit(budgets, LOOPBACK_PROXY, "127.0.0.1") for _ in range(3 * SHARED)]
    assert rows_at_once(budgets, declared) == 0  # the same peer, its sum already spent
    assert rows_at_once(budgets, [visit(budgets, NOBODY, "172.17.0.1") for _ in range(3 * SHARED)]) == SHARED


def test_clients_rotating_x_forwarded_for_behind_an_undeclared_private_peer_are_bounded_by_its_sum() -> None:
    budgets = ConsentBudget()
    rotating = [visit(budgets, NOBODY, "10.1.2.3", ("x-forwarded-for", f"198.51.{n // 250}.{n % 250 + 1}"))
                for n in range(3 * SHARED)]  # a relaying proxy: each request picks its key
    assert len({c.narrow for c in rotating}) == 3 * SHARED
    assert rows_at_once(budgets, rotating) == SHARED  # 3,000 before: a fresh budget per request
    # The client it names is still counted as one: a repeated one gets its handful, not the peer's sum.
    again = [visit(budgets, NOBODY, "10.9.9.9", ("x-forwarded-for", "203.0.113.7")) for _ in range(50)]
    assert rows_at_once(budgets, again) == AUTOMATIC
    # Through a declared proxy, the walk names the client, which cannot choose: no peer's sum applies.
    declared = visit(budgets, LOOPBACK_PROXY, "127.0.0.1", ("x-forwarded-for", "203.0.113.8"))
    assert declared.shared is None and declared.narrow is not None


def test_the_peers_table_is_bounded() -> None:
    allowance = ConsentBudget().banner
    for n in range(MAX_SHARED + 10):
        assert allowance.spend(Client(None, None, n), 0.0) == 0.0
    assert len(allowance.shared) == MAX_SHARED and not len(allowance.narrow)


def test_budgets_run_on_a_monotonic_clock() -> None:
    assert ConsentBudget().clock is time.monotonic  # a wall clock set back would hold clients for hours
