"""Login throttling: too many wrong passwords lock a user name, or a client, for a while.

Two limits, both over a sliding window: ``per_user`` failures for one user name (case-insensitive) and
``per_client`` failures from one client address. When a limit is reached, logins for that key wait
until its oldest failure leaves the window. A successful login clears the user's failures.

Client addresses are personal data and are never kept as such (no raw IP at rest or in logs): keys
are HMACs under a random key made per process, so even a memory dump cannot be matched against a list
of addresses after the process ends. Memory is bounded: each table keeps at most ``max_entries`` keys,
dropping the least recently failed one, and at most ``limit`` failure times per key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict, deque


class _Window:
    """Failure times per key within the last ``window`` seconds."""

    def __init__(self, limit: int, window: float, max_entries: int) -> None:
        self.limit = limit
        self.window = window
        self.max_entries = max_entries
        self._failures: OrderedDict[bytes, deque[float]] = OrderedDict()

    def retry_after(self, key: bytes, now: float) -> float:
        times = self._recent(key, now)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - now)

    def add(self, key: bytes, now: float) -> None:
        times = self._recent(key, now)
        if times is None:
            times = self._failures[key] = deque(maxlen=self.limit)  # only the newest `limit` matter
            while len(self._failures) > self.max_entries:
                self._failures.popitem(last=False)
        times.append(now)
        self._failures.move_to_end(key)

    def clear(self, key: bytes) -> None:
        self._failures.pop(key, None)

    def discard(self, key: bytes, at: float) -> None:
        """Forget one failure recorded at ``at`` (a reservation that turned out to be a success)."""
        times = self._failures.get(key)
        if times is not None and at in times:
            times.remove(at)

    def _recent(self, key: bytes, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def __len__(self) -> int:
        return len(self._failures)


class LoginThrottle:
    """In memory, per process. ``now`` is any monotonic clock in seconds (pass ``time.monotonic()``)."""

    def __init__(self, *, per_user: int = 5, per_client: int = 20, window: float = 900.0,
                 max_entries: int = 10_000) -> None:
        self._users = _Window(per_user, window, max_entries)
        self._clients = _Window(per_client, window, max_entries)
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()  # password checks may run in worker threads

    def retry_after(self, username: str, client: str, now: float) -> float:
        """Seconds until this user name and client may try again; 0 when they may now."""
        with self._lock:
            return self._wait(self._user_key(username), self._client_key(client), now)

    def reserve(self, username: str, client: str, now: float) -> float:
        """Take an attempt before checking the password: the seconds to wait (nothing is taken), or
        0 with the attempt counted as a failure until ``succeeded`` says otherwise. Counting first is
        what stops a burst of parallel guesses: they all queue for the slow hash, and a check made
        before the hash would let every one of them through."""
        with self._lock:
            user, client_key = self._user_key(username), self._client_key(client)
            wait = self._wait(user, client_key, now)
            if wait == 0:
                self._users.add(user, now)
                self._clients.add(client_key, now)
            return wait

    def release(self, username: str, client: str, now: float) -> None:
        """Give back the attempt ``reserve`` took at ``now`` when no password was checked (the users
        file could not be read): an outage must not lock anyone out."""
        with self._lock:
            self._users.discard(self._user_key(username), now)
            self._clients.discard(self._client_key(client), now)

    def succeeded(self, username: str, client: str, now: float) -> None:
        # The client's other failures stay: one right password must not reset guessing at other names.
        # Only the attempt ``reserve`` counted at ``now`` is taken back.
        with self._lock:
            self._users.clear(self._user_key(username))
            self._clients.discard(self._client_key(client), now)

    def sizes(self) -> tuple[int, int]:
        """How many user names and clients are tracked (for tests and metrics)."""
        with self._lock:
            return len(self._users), len(self._clients)

    def _wait(self, user: bytes, client: bytes, now: float) -> float:
        return max(self._users.retry_after(user, now), self._clients.retry_after(client, now))

    def _user_key(self, username: str) -> bytes:
        # Names are hashed too: cheaper to keep than to argue they are not personal (e-mail addresses).
        return self._hash(b"user\0" + username.strip().lower().encode())

    def _client_key(self, client: str) -> bytes:
        return self._hash(b"client\0" + client.encode())

    def _hash(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()[:16]
