"""Dashboard users and share links, kept in ``DATA_DIR/users.json`` (or ``GATEWAY_USERS_FILE``).

Why a file and not a ClickHouse table: embedded ClickHouse (chDB) allows one engine per process, so
while ``consent-gateway serve`` runs, another process could not open the database — but
``consent-gateway users add`` must work exactly then. A file also means logging in needs no database
at all (a ClickHouse outage still lets an admin in to see the error), and the few dozen records a
team has need no query engine. Deployments with several gateway instances point
``GATEWAY_USERS_FILE`` at one shared file (shared storage, or a file their configuration management
distributes, such as a mounted Kubernetes Secret); each server notices a new version by itself.

How the file is kept safe:
- mode 0600; written whole to a temporary file in the same folder, then renamed over the old one,
  so a reader sees the old or the new version, never half of one;
- every change is a read-modify-write under an exclusive ``fcntl`` lock on the sibling
  ``.users.lock``, so two ``users add`` calls at once cannot lose one another's update;
- the server re-reads the file only when its (mtime_ns, size, inode) changed: one ``stat`` per request;
- a missing file means "no users yet"; a damaged one raises ``UsersFileError`` naming the path (and is
  logged once per damaged version), so the server refuses logins instead of guessing.

Passwords are argon2id hashes (``gateway.dashboard.passwords``); share links store only the SHA-256 of
their secret token, which is shown once when the link is created. What the records are, the rules
they follow and their JSON form are ``gateway.dashboard.accounts``'s; their names are importable from
here too.
"""

from __future__ import annotations

import fcntl
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from gateway.dashboard.accounts import (
    EMPTY,
    MAX_LABEL,
    ROLES,
    Records,
    ShareLink,
    User,
    UserError,
    by_name,
    check_role_sites,
    damage,
    normalise_name,
    parse,
    serialise,
    token_hash,
)
from gateway.dashboard.passwords import MAX_LENGTH, Passwords, password_problem

__all__ = [
    "ROLES",
    "ShareLink",
    "User",
    "UserError",
    "UserStore",
    "UsersFileError",
    "check_role_sites",
    "normalise_name",
    "token_hash",
    "users_path",
]

log = logging.getLogger(__name__)


class UsersFileError(RuntimeError):
    """``users.json`` cannot be read or is damaged; the message names the file, never its content."""


_StatKey = tuple[int, int, int, int]


def users_path(settings: Any) -> Path:
    """Where ``settings`` (a ``gateway.config.settings.Settings``) keeps the dashboard users:
    ``GATEWAY_USERS_FILE``, or ``DATA_DIR/users.json``."""
    return Path(settings.users_file or Path(settings.data_dir) / "users.json")


class UserStore:
    """The users file: cached reads, locked atomic writes."""

    def __init__(self, path: Path, *, hasher: PasswordHasher | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path = path
        self.passwords = Passwords(hasher)
        self._clock = clock
        self._cache: tuple[_StatKey | None, Records] = (None, EMPTY)
        self._reported: _StatKey | None = None
        self._lock = threading.Lock()  # the server checks passwords in worker threads

    # -- reading -----------------------------------------------------------------------------------

    def get(self, name: str) -> User | None:
        return self._data().users.get(name.strip().lower())

    def users(self) -> list[User]:
        return sorted(self._data().users.values(), key=by_name)

    def verify(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs; the same hashing work when the name is unknown."""
        user = self.get(name) if len(password) <= MAX_LENGTH else None
        if not self.passwords.check(user.password_hash if user else None, password) or user is None:
            return None
        if self.passwords.needs_rehash(user.password_hash):
            # Stronger defaults since this hash was made: upgrade it now that we know the password.
            # (This ends the user's other sessions once, as a password change would.)
            new_hash = self.passwords.hash(password)
            try:
                with self._write() as data:
                    current = data.users.get(user.name)
                    if current is not None and current.password_hash == user.password_hash:
                        user = data.users[user.name] = replace(current, password_hash=new_hash)
            except OSError as exc:  # a read-only data folder must not stop the login
                log.warning("could not upgrade the password hash of a dashboard user: %s", exc.strerror)
        return user

    def shares(self, site_id: int | None = None) -> list[ShareLink]:
        links = self._data().shares.values()
        return sorted((s for s in links if site_id is None or s.site_id == site_id),
                      key=lambda s: (s.created, s.id))

    def find_share(self, token: str) -> ShareLink | None:
        """The live link whose token this is; every stored hash is compared in constant time."""
        wanted = token_hash(token).encode()
        found = None
        for link in self._data().shares.values():
            if hmac.compare_digest(wanted, link.token_hash.encode()):
                found = link
        return found

    # -- changing ----------------------------------------------------------------------------------

    def add(self, name: str, password: str, role: str, sites: Sequence[int]) -> User:
        name = normalise_name(name)
        checked_sites = check_role_sites(role, sites)
        if self.get(name) is not None:  # early, before spending a hash; checked again under the lock
            raise UserError(f"user {name!r} exists already")
        new_hash = self._hash(password)
        with self._write() as data:
            if name in data.users:
                raise UserError(f"user {name!r} exists already")
            user = data.users[name] = User(name, role, checked_sites, new_hash, self._now())
        return user

    def set_password(self, name: str, password: str) -> User:
        name = self._existing(name)
        new_hash = self._hash(password)
        with self._write() as data:
            user = data.users[name] = replace(self._locked_get(data, name), password_hash=new_hash)
        return user

    def set_role(self, name: str, role: str, sites: Sequence[int]) -> User:
        checked_sites = check_role_sites(role, sites)
        with self._write() as data:
            name = self._existing(name, data)
            user = data.users[name] = replace(data.users[name], role=role, sites=checked_sites)
        return user

    def end_sessions(self, name: str) -> None:
        """Log the user out everywhere: every session cookie issued so far stops working."""
        with self._write() as data:
            if (user := data.users.get(name.strip().lower())) is not None:
                data.users[user.name] = replace(user, sessions_epoch=secrets.token_hex(8))

    def remove(self, name: str) -> None:
        with self._write() as data:
            del data.users[self._existing(name, data)]

    def create_share(self, site_id: int, label: str = "") -> tuple[ShareLink, str]:
        """A new link and its secret token (shown once; only its hash is stored)."""
        label = " ".join(label.split())
        if len(label) > MAX_LABEL:
            raise UserError(f"a share label has at most {MAX_LABEL} characters")
        token = secrets.token_urlsafe(32)
        with self._write() as data:
            share_id = secrets.token_hex(4)
            while share_id in data.shares:
                share_id = secrets.token_hex(4)
            link = data.shares[share_id] = ShareLink(share_id, site_id, label, self._now(), token_hash(token))
        return link, token

    def revoke_share(self, share_id: str) -> None:
        with self._write() as data:
            if data.shares.pop(share_id.strip().lower(), None) is None:
                raise UserError(f"no share link {share_id!r}")

    # -- internals ---------------------------------------------------------------------------------

    def _hash(self, password: str) -> str:
        problem = password_problem(password)
        if problem is not None:
            raise UserError(problem)
        return self.passwords.hash(password)

    def _existing(self, name: str, data: Records | None = None) -> str:
        folded = name.strip().lower()
        if folded not in (data if data is not None else self._data()).users:
            raise UserError(f"no user {name.strip()!r}")
        return folded

    def _locked_get(self, data: Records, name: str) -> User:
        # Removed by someone else between our check and taking the lock.
        return data.users[self._existing(name, data)]

    def _now(self) -> str:
        return self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _data(self) -> Records:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return EMPTY
        except OSError as exc:
            raise UsersFileError(f"{self.path}: cannot read the users file: {exc.strerror}") from None
        key = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        with self._lock:
            cached_key, cached = self._cache
            if key == cached_key:
                return cached
        fresh_key, data = self._read()
        with self._lock:
            self._cache = (fresh_key, data)
        return data

    def _read(self) -> tuple[_StatKey | None, Records]:
        try:
            with self.path.open("rb") as file:
                st = os.fstat(file.fileno())
                raw = file.read()
        except FileNotFoundError:
            return None, EMPTY
        except OSError as exc:
            raise UsersFileError(f"{self.path}: cannot read the users file: {exc.strerror}") from None
        key = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        try:
            return key, parse(raw)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            message = f"{self.path}: the users file is damaged ({damage(exc)}); fix it or restore a backup"
            if self._reported != key:
                self._reported = key
                log.error("%s; dashboard logins are refused until then", message)
            raise UsersFileError(message) from None

    @contextmanager
    def _write(self) -> Iterator[Records]:
        """Read the file fresh under the lock, let the caller change the copy, write it back whole."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(".users.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _, current = self._read()
            data = Records(dict(current.users), dict(current.shares))
            yield data
            key = self._replace_file(serialise(data))
            with self._lock:
                self._cache = (key, data)
        finally:
            os.close(fd)  # closing releases the lock

    def _replace_file(self, content: bytes) -> _StatKey:
        temp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            with os.fdopen(fd, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            temp.replace(self.path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a crash
        finally:
            os.close(dir_fd)
        st = self.path.stat()
        return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
