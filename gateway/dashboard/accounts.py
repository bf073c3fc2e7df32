"""Dashboard accounts: the user and share-link records, the rules they follow, and their JSON form.

This module owns what a dashboard user (``User``: name, role, sites, password hash) and a share link
(``ShareLink``) are; the rules for names, roles and labels (``normalise_name``, ``check_role_sites``,
``MAX_LABEL``), broken ones raising ``UserError``; and how the records read and write as the JSON
document of ``users.json`` (``parse``, ``serialise``, version ``FILE_VERSION``). Keeping that file
safe (the lock, atomic writes, the cache) is ``gateway.dashboard.users``'s.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

ROLES = ("admin", "viewer")
FILE_VERSION = 1
NAME_PATTERN = re.compile(r"[a-z0-9._@-]{1,64}")
MAX_LABEL = 200


class UserError(ValueError):
    """A bad name, role, site list or password, or an unknown user; the message is safe to print."""


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
class Records:
    """Everything ``users.json`` holds: users by name, share links by id."""

    users: dict[str, User]
    shares: dict[str, ShareLink]


EMPTY = Records({}, {})


def normalise_name(name: str) -> str:
    """The stored (lower-case) form of a user name, or UserError."""
    folded = name.strip().lower()
    if not NAME_PATTERN.fullmatch(folded):
        raise UserError("a user name has 1 to 64 letters, digits or the characters . _ @ -")
    return folded


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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


def parse(raw: bytes) -> Records:
    """The records of a ``users.json`` document; ValueError, KeyError, TypeError... when it is damaged
    (``damage`` says how)."""
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
    return Records(users, shares)


def serialise(data: Records) -> bytes:
    document = {
        "version": FILE_VERSION,
        "users": [{"name": u.name, "role": u.role, "sites": list(u.sites), "created": u.created,
                   "password_hash": u.password_hash, "sessions_epoch": u.sessions_epoch}
                  for u in sorted(data.users.values(), key=by_name)],
        "shares": [{"id": s.id, "site_id": s.site_id, "label": s.label, "created": s.created,
                    "token_hash": s.token_hash} for s in data.shares.values()],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def by_name(user: User) -> str:
    return user.name


def damage(exc: Exception) -> str:
    """What is wrong with a document ``parse`` refused, for the error message."""
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at line {exc.lineno}"
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}"
    return str(exc)


def _text(item: Any, key: str) -> str:
    value = item[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key!r} must be a non-empty string")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("site ids must be integers")
    return value
