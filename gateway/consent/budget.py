"""How many consent log rows one client may write without keeping a cookie: a handful.

A decision is logged once and then lives in the visitor's cookie, so a browser that keeps cookies
writes one row per decision it makes. A client that keeps none (a script, a crawler sending
``Sec-GPC: 1``) would write a row on every request, into a table without TTL whose rows are the
opt-in statistics. So decisions for a client without a current decision come out of a budget:

- automatic ones, made by a GET without asking (a GPC or DNT refusal, a site's opt-out defaults):
  ``AUTOMATIC`` rows at once, then one per ``AUTOMATIC_EVERY`` seconds. Beyond that the signal is
  still honoured but not logged and no cookie is set; no opt-out default is granted, so the banner
  asks (nothing is tracked on a grant the log does not hold). These rows never enter the opt-in rate.
- banner ones (POST or DELETE by a client without a current decision): ``BANNER`` rows at once,
  then one per ``BANNER_EVERY`` seconds. Beyond that the answer is 429 with Retry-After. These rows
  are the opt-in rate, so the refill is slow: a client that keeps no cookie adds at most 68 a day
  (it was 480). The burst is what new visitors behind one office or carrier NAT need when they
  arrive together; after it, two new visitors an hour behind one address still get through, and
  one who does not is asked again on the next page (nothing is tracked meanwhile).

A client is its IPv4 address or its IPv6 /64 (one subscriber's prefix). An IPv6 client is also
counted in its /48, with ``WIDE`` times the burst and the rate: a /48 holds 65,536 /64s, and rotating
through them must not buy fresh budgets. Clients are kept only as keyed hashes under a key made per
process, held in memory and never stored. Each table remembers at most ``MAX_CLIENTS`` clients, the
least recently seen forgotten first. Budgets are per worker process and run on a monotonic clock
(``ConsentBudget.clock``): a wall clock set back must not block anyone.

A loopback or private address is not one client (``gateway.web.proxy.budget_addresses``): it is a proxy,
a NAT or a local tool, with any number of clients behind it. A peer of that kind that
``GATEWAY_TRUSTED_PROXIES`` leaves out is charged a ``SHARED`` budget of its own (``SHARED`` rows at
once, then one per ``SHARED_EVERY`` seconds: a thousand an hour) on top of the budgets of the client
it names in a forwarding header, if any. That client may have been written by the visitor itself (a
proxy that relays the header, random on each request), so without the peer's budget a visitor could
pick a fresh key per request. A local address that names no client (a loopback test, a proxy or NAT
that adds no header, a declared proxy that names nobody) is charged the peer's budget only. The
tables of peers hold at most ``MAX_SHARED``. No budget applies without an address (a Unix socket).
"""

from __future__ import annotations

import hashlib
import secrets
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

AUTOMATIC, AUTOMATIC_EVERY = 5, 720.0  # 5 at once, then 5 an hour
BANNER, BANNER_EVERY = 20, 1800.0  # 20 at once, then 2 an hour
WIDE = 4  # an IPv6 /48: four times the burst and the rate of one /64
MAX_CLIENTS = 65_536  # about 10 MB per table when full
# A local peer's sum, for either kind of row: all the new visitors an hour behind a NAT or an undeclared
# proxy, and far more than the test suite's visitors from 127.0.0.1 to one app (a few dozen).
SHARED, SHARED_EVERY = 1000, 3.6  # 1,000 at once, then 1,000 an hour
MAX_SHARED = 4096  # local peers are a deployment's proxies and hosts: a handful


class Budget:
    """A generic cell rate algorithm: ``burst`` rows at once, then one per ``every`` seconds. Per
    client it keeps a single time: when the client's budget is whole again."""

    def __init__(self, burst: int, every: float, max_clients: int = MAX_CLIENTS) -> None:
        self.burst = burst
        self.every = every
        self.max_clients = max_clients
        self._full_at: OrderedDict[int, float] = OrderedDict()

    def wait(self, client: int, now: float) -> float:
        """0 when the client may write a row now; else the seconds until it may. Takes nothing."""
        wait = max(self._full_at.get(client, now), now) + self.every - now - self.burst * self.every
        if client in self._full_at:
            self._full_at.move_to_end(client)  # kept in mind while it keeps trying
        return max(0.0, wait)

    def take(self, client: int, now: float) -> None:
        """Count one row for the client (``wait`` said it may write it)."""
        self._full_at[client] = max(self._full_at.get(client, now), now) + self.every
        self._full_at.move_to_end(client)
        while len(self._full_at) > self.max_clients:
            self._full_at.popitem(last=False)

    def spend(self, client: int, now: float) -> float:
        """0 when the client may write a row now (and counts it); else the seconds until it may."""
        wait = self.wait(client, now)
        if not wait:
            self.take(client, now)
        return wait

    def __len__(self) -> int:
        return len(self._full_at)


@dataclass(frozen=True, slots=True)
class Client:
    """One client's keys: its IPv4 address or IPv6 /64, and its IPv6 /48 (None for IPv4); the local peer
    it came through, which stands for many clients (None when it came straight or through a declared
    proxy). The first two are None when only the peer is known."""

    narrow: int | None
    wide: int | None
    shared: int | None = None


class Allowance:
    """One kind of row's budgets: per client, per /48 for IPv6 clients, and per local peer."""

    def __init__(self, burst: int, every: float, max_clients: int = MAX_CLIENTS) -> None:
        self.narrow = Budget(burst, every, max_clients)
        self.wide = Budget(burst * WIDE, every / WIDE, max_clients)
        self.shared = Budget(SHARED, SHARED_EVERY, MAX_SHARED)

    def spend(self, client: Client, now: float) -> float:
        """0 when the client may write a row now (counted in each of its budgets); else the seconds until
        it may. A refusal takes nothing from any."""
        budgets = [(budget, key) for budget, key in ((self.narrow, client.narrow), (self.wide, client.wide),
                                                     (self.shared, client.shared)) if key is not None]
        wait = max((budget.wait(key, now) for budget, key in budgets), default=0.0)
        if wait:
            return wait
        for budget, key in budgets:
            budget.take(key, now)
        return 0.0


class ConsentBudget:
    """The two allowances of one process, their clock, and the key that turns an address into a client."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self.automatic = Allowance(AUTOMATIC, AUTOMATIC_EVERY)
        self.banner = Allowance(BANNER, BANNER_EVERY)

    def client(self, address: str | None, shared: str | None = None) -> Client | None:
        """The client an address belongs to, and the local peer it came through, as keyed hashes (the
        pair ``gateway.web.proxy.budget_addresses`` gives); None when neither is known."""
        if not shared and not address:
            return None
        narrow = wide = None
        if address:
            networks = _networks(address)
            narrow, wide = self._hash(networks[0]), None if networks[1] is None else self._hash(networks[1])
        return Client(narrow, wide, self._hash(_networks(shared)[0]) if shared else None)

    def _hash(self, network: bytes) -> int:
        return int.from_bytes(hashlib.blake2b(network, key=self._key, digest_size=8).digest())


def _networks(address: str) -> tuple[bytes, bytes | None]:
    """An IPv4 address; or the /64 and the /48 of an IPv6 one; packed (``client_ip``'s normalised form)
    behind a tag of its kind, so that no network of one kind hashes like one of another."""
    try:
        if ":" in address:
            packed = socket.inet_pton(socket.AF_INET6, address)
            return b"/64" + packed[:8], b"/48" + packed[:6]
        return b"v4" + socket.inet_pton(socket.AF_INET, address), None
    except (OSError, ValueError):
        return b"text" + address.encode("utf-8", "surrogateescape"), None
