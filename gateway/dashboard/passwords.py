"""Password rules and hashing: argon2id with argon2-cffi's defaults, bounded in concurrency.

One hash costs ~150 ms of CPU and 64 MiB of memory on purpose; a semaphore keeps a burst of login
attempts from taking the whole machine's memory. Passwords never appear in messages, logs or reprs.
"""

from __future__ import annotations

import os
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; the cap stops megabyte "passwords" costing bandwidth


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable (a message that does not contain it), or None."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    return None


class Passwords:
    """Hash and check passwords; ``check`` does the same work whether or not there is a hash."""

    def __init__(self, hasher: PasswordHasher | None = None, *, concurrency: int | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._slots = threading.BoundedSemaphore(concurrency or max(2, os.cpu_count() or 2))
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()

    def hash(self, password: str) -> str:
        with self._slots:
            return self._hasher.hash(password)

    def check(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; with no hash (unknown user) a dummy hash is checked instead,
        so the answer takes as long as for a real user and names cannot be probed by timing."""
        target = password_hash if password_hash is not None else self._dummy_hash()
        try:
            with self._slots:
                self._hasher.verify(target, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with weaker parameters than today's defaults."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return False

    def _dummy_hash(self) -> str:
        with self._dummy_lock:
            if self._dummy is None:
                # Hashed once per process with the real parameters, so checking it costs the same.
                self._dummy = self._hasher.hash(os.urandom(16).hex())
            return self._dummy

    def warm_up(self) -> None:
        """Compute the dummy hash now (at start-up) rather than on the first unknown name."""
        self._dummy_hash()
