"""Login throttling: repeated wrong passwords slow the guesser down, and never lock the real user out.

Following OWASP's Authentication Cheat Sheet ("protect against automated attacks"): nothing is ever
locked for everyone. Three counts of failures, each forgotten ``forget`` seconds after its last one:

- per (user name, client network): after ``free_per_pair`` failures each further attempt waits,
  1 s doubling per failure up to ``cap`` (a minute). Password guessing at one account is slowed
  to about one guess a minute; a success clears the entry.
- per client network, across user names: the same growing delay after ``free_per_client`` (looser)
  failures, so trying one password against many names (credential stuffing) is slowed too. An IPv6
  client counts in its /48 as well, where the delay starts after ``free_per_wide`` failures: a /48
  holds 65,536 /64s, and rotating through them must not buy fresh attempts.
- per user name, across networks: ``user_alarm`` networks failing for one name mark it as under
  attack (a distributed guess, which the per-network delays alone let through). That only takes the
  free attempts away from networks that have already failed for that name; a network with no
  failure for it is never slowed. The real user on a network the attacker has not touched, in a
  /48 the attacker has not failed ``free_per_wide`` times from, always logs in at once.

A client network is its IPv4 address, or its IPv6 /64 (one subscriber's prefix: a host rotating
addresses inside it is still one client). Networks and names are kept only as HMACs under a key made
per process and held in memory, never stored (no raw IP at rest or in logs). Memory is bounded: each
table keeps at most ``max_entries`` keys, the least recently failed dropped first. Time is the
throttle's ``clock``, monotonic.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


def wide_network(address: str) -> str | None:
    """The IPv6 /48 a client network lies in; None for IPv4 (and for text that is no address)."""
    network = client_network(address)
    if not network.endswith("/64"):
        return None
    return str(ipaddress.IPv6Network(network).supernet(new_prefix=48))


def client_network(address: str) -> str:
    """What one client is: an IPv4 address, an IPv6 /64, or the text as it is when it is no address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a zone index names no other host
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True, slots=True)
class _Keys:
    """One attempt's keys (HMACs): (name, network), network, IPv6 /48 (None for IPv4), and name."""

    pair: bytes
    client: bytes
    wide: bytes | None
    user: bytes


@dataclass(slots=True)
class _Failures:
    count: int
    last: float  # when the newest failure was counted


class _Table:
    """Failures per key, forgotten ``forget`` seconds after the last; at most ``max_entries`` keys."""

    def __init__(self, forget: float, max_entries: int) -> None:
        self.forget = forget
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, _Failures] = OrderedDict()  # least recently failed first

    def get(self, key: bytes, now: float) -> _Failures | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.last >= self.forget:
            del self._entries[key]
            return None
        return entry

    def add(self, key: bytes, now: float) -> None:
        entry = self.get(key, now)
        if entry is None:
            entry = self._entries[key] = _Failures(0, now)
        entry.count += 1
        entry.last = max(entry.last, now)
        self._entries.move_to_end(key)
        # The front holds the stalest entries: drop the forgotten ones, then any beyond the bound.
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if len(self._entries) <= self.max_entries and now - oldest.last < self.forget:
                break
            self._entries.popitem(last=False)

    def touch(self, key: bytes, now: float) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.last = max(entry.last, now)
            self._entries.move_to_end(key)

    def discard(self, key: bytes) -> bool:
        """Take back one failure (an attempt that turned out to be a success, or checked nothing);
        True when that was the key's last."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        entry.count -= 1
        if entry.count > 0:
            return False
        del self._entries[key]
        return True

    def clear(self, key: bytes) -> int:
        """Forget the key; how many failures it had."""
        entry = self._entries.pop(key, None)
        return 0 if entry is None else entry.count

    def __len__(self) -> int:
        return len(self._entries)


def delay(failures: int, free: int, base: float, cap: float) -> float:
    """How long to wait after the last of ``failures``: nothing for the first ``free`` ones, then
    ``base`` doubling with each further failure, at most ``cap``."""
    if failures < free:
        return 0.0
    return float(min(cap, base * 2 ** min(failures - free, 32)))


class LoginThrottle:
    """In memory, per process. ``now`` is the throttle's ``clock`` (monotonic seconds; tests pin it)."""

    def __init__(self, *, free_per_pair: int = 5, free_per_client: int = 20, free_per_wide: int = 80,
                 user_alarm: int = 10, base: float = 1.0, cap: float = 60.0, forget: float = 900.0,
                 max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.free_per_pair, self.free_per_client, self.user_alarm = free_per_pair, free_per_client, user_alarm
        self.free_per_wide = free_per_wide
        self.base, self.cap = base, cap
        self.clock = clock
        self._pairs = _Table(forget, max_entries)
        self._clients = _Table(forget, max_entries)
        self._wides = _Table(forget, max_entries)  # IPv6 /48s
        self._users = _Table(forget, max_entries)
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()  # password checks run in worker threads

    def retry_after(self, username: str, client: str, now: float) -> float:
        """Seconds until this user name may be tried from this client; 0 when it may now."""
        with self._lock:
            return self._wait(self._keys(username, client), now)

    def reserve(self, username: str, client: str, now: float) -> float:
        """Take an attempt before checking the password: the seconds to wait (nothing is taken), or
        0 with the attempt counted as a failure until ``succeeded`` says otherwise. Counting first is
        what stops a burst of parallel guesses: they all queue for the slow hash, and a check made
        before the hash would let every one of them through."""
        with self._lock:
            keys = self._keys(username, client)
            wait = self._wait(keys, now)
            if wait == 0:
                if self._pairs.get(keys.pair, now) is None:  # the name counts networks, not guesses
                    self._users.add(keys.user, now)
                self._pairs.add(keys.pair, now)
                self._clients.add(keys.client, now)
                if keys.wide is not None:
                    self._wides.add(keys.wide, now)
            return wait

    def failed(self, username: str, client: str, now: float) -> None:
        """The password was wrong (``reserve`` counted it already): the wait runs from now, when the
        guesser learns it, so a slow hash does not eat into the delay."""
        with self._lock:
            keys = self._keys(username, client)
            self._pairs.touch(keys.pair, now)
            self._clients.touch(keys.client, now)
            if keys.wide is not None:
                self._wides.touch(keys.wide, now)

    def release(self, username: str, client: str) -> None:
        """Give back the attempt ``reserve`` took when no password was checked (the users file could
        not be read): an outage must not slow anyone down."""
        with self._lock:
            keys = self._keys(username, client)
            if self._pairs.discard(keys.pair):
                self._users.discard(keys.user)
            self._give_back(keys)

    def succeeded(self, username: str, client: str) -> None:
        """The right password: this name's failures from this client are forgotten. The client's and
        the name's other failures stay (one right password must not reset guessing at other names,
        nor end an attack on this one from elsewhere); only the attempt ``reserve`` counted goes."""
        with self._lock:
            keys = self._keys(username, client)
            if self._pairs.clear(keys.pair) == 1:  # this network had not failed for the name before
                self._users.discard(keys.user)
            self._give_back(keys)

    def sizes(self) -> tuple[int, int, int]:
        """How many (name, client) pairs, clients and names are tracked (for tests and metrics)."""
        with self._lock:
            return len(self._pairs), len(self._clients), len(self._users)

    def _give_back(self, keys: _Keys) -> None:
        self._clients.discard(keys.client)
        if keys.wide is not None:
            self._wides.discard(keys.wide)

    def _wait(self, keys: _Keys, now: float) -> float:
        waits = [0.0]
        tried = self._pairs.get(keys.pair, now)
        if tried is not None:
            named = self._users.get(keys.user, now)
            under_attack = named is not None and named.count >= self.user_alarm
            free = 1 if under_attack else self.free_per_pair  # only clients that failed for the name
            waits.append(tried.last + delay(tried.count, free, self.base, self.cap) - now)
        for table, key, free in ((self._clients, keys.client, self.free_per_client),
                                 (self._wides, keys.wide, self.free_per_wide)):
            network = None if key is None else table.get(key, now)
            if network is not None:
                waits.append(network.last + delay(network.count, free, self.base, self.cap) - now)
        # At most ``cap``, whatever the clock did (a clock set back must not lock anyone out).
        return min(self.cap, max(waits))

    def _keys(self, username: str, client: str) -> _Keys:
        # Names are hashed too: cheaper to keep than to argue they are not personal (e-mail addresses).
        name = username.strip().lower().encode()
        network = client_network(client).encode()
        wide = wide_network(client)
        return _Keys(pair=self._hash(b"pair\0" + name + b"\0" + network),
                     client=self._hash(b"client\0" + network),
                     wide=None if wide is None else self._hash(b"wide\0" + wide.encode()),
                     user=self._hash(b"user\0" + name))

    def _hash(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()[:16]
