"""Dashboard users and share links, kept in ``DATA_DIR/users.json``.

Why a file and not a ClickHouse table: embedded ClickHouse (chDB) allows one engine per process, so
while ``consent-gateway serve`` runs, another process could not open the database — but
``consent-gateway users add`` must work exactly then. A file also means logging in needs no database
at all (a ClickHouse outage still lets an admin in to see the error), and the few dozen records a
team has need no query engine. Deployments with several gateway instances put ``DATA_DIR/users.json``
on shared storage or distribute it with their configuration management; each server notices a new
version by itself.

How the file is kept safe:
- mode 0600; written whole to a temporary file in the same folder, then renamed over the old one,
  so a reader sees the old or the new version, never half of one;
- every change is a read-modify-write under an exclusive ``fcntl`` lock on the sibling
  ``.users.lock``, so two ``users add`` calls at once cannot lose one another's update;
- the server re-reads the file only when its (mtime_ns, size, inode) changed: one ``stat`` per request;
- a missing file means "no users yet"; a damaged one raises ``UsersFileError`` naming the path (and is
  logged once per damaged version), so the server refuses logins instead of guessing.

Passwords are argon2id hashes (``gateway.dashboard.passwords``); share links store only the SHA-256 of
their secret token, which is shown once when the link is created.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from gateway.dashboard.passwords import MAX_LENGTH, Passwords, password_problem

log = logging.getLogger(__name__)

ROLES = ("admin", "viewer")
FILE_VERSION = 1
NAME_PATTERN = re.compile(r"[a-z0-9._@-]{1,64}")
MAX_LABEL = 200


class UserError(ValueError):
    """A bad name, role, site list or password, or an unknown user; the message is safe to print."""


class UsersFileError(RuntimeError):
    """``users.json`` cannot be read or is damaged; the message names the file, never its content."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    sites: tuple[int, ...]  # viewer: assigned sites; admin: ignored (all sites)
    password_hash: str = field(repr=False)
    created: str = ""
    # Renewed at every log-out: a signed session cookie cannot be recalled, so logging out ends every
    # session of the user (the cookie a thief copied included), as a password change does.
    sessions_epoch: str = ""

    def can_view(self, site_id: int) -> bool:
        return self.role == "admin" or site_id in self.sites

    @property
    def session_version(self) -> str:
        # Changes with the password (a new hash has a new random salt), which ends older sessions.
        # A session cookie is readable, so this must not help guess the password: the hash it digests
        # contains a 128-bit secret salt, and only 64 bits of the digest are kept.
        return hashlib.sha256(f"{self.password_hash}|{self.sessions_epoch}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ShareLink:
    id: str  # short public id, for list and revoke
    site_id: int
    label: str
    created: str
    token_hash: str = field(repr=False)  # sha256 of the secret token; the token is shown once


@dataclass(frozen=True, slots=True)
class _Data:
    users: dict[str, User]
    shares: dict[str, ShareLink]


_EMPTY = _Data({}, {})
_StatKey = tuple[int, int, int, int]


def users_path(settings: Any) -> Path:
    """Where ``settings`` (a ``gateway.config.settings.Settings``) keeps the dashboard users."""
    return Path(settings.data_dir) / "users.json"


def normalise_name(name: str) -> str:
    """The stored (lower-case) form of a user name, or UserError."""
    folded = name.strip().lower()
    if not NAME_PATTERN.fullmatch(folded):
        raise UserError("a user name has 1 to 64 letters, digits or the characters . _ @ -")
    return folded


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """The users file: cached reads, locked atomic writes."""

    def __init__(self, path: Path, *, hasher: PasswordHasher | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path = path
        self.passwords = Passwords(hasher)
        self._clock = clock
        self._cache: tuple[_StatKey | None, _Data] = (None, _EMPTY)
        self._reported: _StatKey | None = None
        self._lock = threading.Lock()  # the server checks passwords in worker threads

    # -- reading -----------------------------------------------------------------------------------

    def get(self, name: str) -> User | None:
        return self._data().users.get(name.strip().lower())

    def users(self) -> list[User]:
        return sorted(self._data().users.values(), key=_by_name)

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

    def _existing(self, name: str, data: _Data | None = None) -> str:
        folded = name.strip().lower()
        if folded not in (data if data is not None else self._data()).users:
            raise UserError(f"no user {name.strip()!r}")
        return folded

    def _locked_get(self, data: _Data, name: str) -> User:
        # Removed by someone else between our check and taking the lock.
        return data.users[self._existing(name, data)]

    def _now(self) -> str:
        return self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _data(self) -> _Data:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return _EMPTY
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

    def _read(self) -> tuple[_StatKey | None, _Data]:
        try:
            with self.path.open("rb") as file:
                st = os.fstat(file.fileno())
                raw = file.read()
        except FileNotFoundError:
            return None, _EMPTY
        except OSError as exc:
            raise UsersFileError(f"{self.path}: cannot read the users file: {exc.strerror}") from None
        key = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        try:
            return key, _parse(raw)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            message = f"{self.path}: the users file is damaged ({_reason(exc)}); fix it or restore a backup"
            if self._reported != key:
                self._reported = key
                log.error("%s; dashboard logins are refused until then", message)
            raise UsersFileError(message) from None

    @contextmanager
    def _write(self) -> Iterator[_Data]:
        """Read the file fresh under the lock, let the caller change the copy, write it back whole."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(".users.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _, current = self._read()
            data = _Data(dict(current.users), dict(current.shares))
            yield data
            key = self._replace_file(_serialise(data))
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


def check_role_sites(role: str, sites: Sequence[int]) -> tuple[int, ...]:
    """The sites to store for ``role``, or UserError (whether the sites exist is the caller's check)."""
    if role not in ROLES:
        raise UserError(f"the role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "admin":
        if sites:
            raise UserError("an admin sees every site; sites are assigned to viewers only")
        return ()
    if not sites:
        raise UserError("a viewer needs at least one site")
    return tuple(sorted(set(sites)))


def _parse(raw: bytes) -> _Data:
    document = json.loads(raw)
    if not isinstance(document, dict) or document.get("version") != FILE_VERSION:
        raise ValueError(f"expected an object with \"version\": {FILE_VERSION}")
    users: dict[str, User] = {}
    for item in document.get("users", []):
        user = User(name=_text(item, "name"), role=_text(item, "role"),
                    sites=tuple(_int(s) for s in item.get("sites", [])),
                    password_hash=_text(item, "password_hash"), created=str(item.get("created", "")),
                    sessions_epoch=str(item.get("sessions_epoch", "")))
        if not NAME_PATTERN.fullmatch(user.name) or user.role not in ROLES:
            raise ValueError(f"user #{len(users) + 1} has a bad name or role")
        users[user.name] = user
    shares: dict[str, ShareLink] = {}
    for item in document.get("shares", []):
        link = ShareLink(id=_text(item, "id"), site_id=_int(item["site_id"]),
                         label=str(item.get("label", "")), created=str(item.get("created", "")),
                         token_hash=_text(item, "token_hash"))
        shares[link.id] = link
    return _Data(users, shares)


def _serialise(data: _Data) -> bytes:
    document = {
        "version": FILE_VERSION,
        "users": [{"name": u.name, "role": u.role, "sites": list(u.sites), "created": u.created,
                   "password_hash": u.password_hash, "sessions_epoch": u.sessions_epoch}
                  for u in sorted(data.users.values(), key=_by_name)],
        "shares": [{"id": s.id, "site_id": s.site_id, "label": s.label, "created": s.created,
                    "token_hash": s.token_hash} for s in data.shares.values()],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def _by_name(user: User) -> str:
    return user.name


def _text(item: Any, key: str) -> str:
    value = item[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key!r} must be a non-empty string")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("site ids must be integers")
    return value


def _reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at line {exc.lineno}"
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}"
    return str(exc)
