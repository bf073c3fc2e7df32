"""Signed cookies for dashboard sessions, share links and CSRF tokens.

Nothing is stored on the server: a cookie is a payload signed with the gateway's secret keys
(``GATEWAY_SECRET_KEYS``; the first signs, every one verifies, so a key can be rotated without logging
everyone out). Each purpose has its own salt, so a token made for one (a share cookie, a CSRF token)
never passes as another (a session). A session holds the user's name and ``session_version``; it dies
when it is older than ``SESSION_MAX_AGE``, when the user is removed, or when their password changes
(or while the users file is damaged: the store logs that once).
The payload is signed, not encrypted: it must not hold anything secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from itsdangerous import BadData, Signer, TimestampSigner, URLSafeTimedSerializer

from gateway.dashboard.users import ShareLink, User, UsersFileError, UserStore

SESSION_COOKIE = "cg_session"
SHARE_COOKIE = "cg_share"
CSRF_COOKIE = "cg_csrf"
SESSION_MAX_AGE = 12 * 3600
SHARE_MAX_AGE = SESSION_MAX_AGE  # then the visitor opens the share link again
MAX_COOKIE = 4096  # a browser keeps no more per cookie; anything longer is not ours

_SALT = "consent-gateway.dashboard."


class _ClockSigner(TimestampSigner):
    """itsdangerous reads ``time.time()`` itself; this lets tests move the clock instead."""

    def __init__(self, *args: Any, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock())


class Sessions:
    def __init__(self, secret_keys: Sequence[str], *, clock: Callable[[], float] = time.time) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is needed")
        # itsdangerous signs with the LAST key of its list; our settings sign with the first.
        keys = list(reversed(secret_keys))

        def serializer(purpose: str) -> URLSafeTimedSerializer:
            return URLSafeTimedSerializer(keys, salt=_SALT + purpose, signer=_ClockSigner,
                                          signer_kwargs={"clock": clock})

        self._session = serializer("session")
        self._share = serializer("share")
        self._csrf = Signer(keys, salt=_SALT + "csrf")

    # -- logged-in users -----------------------------------------------------------------------------

    def issue(self, user: User) -> str:
        return self._session.dumps([user.name, user.session_version])

    def user(self, value: str | None, store: UserStore) -> User | None:
        payload = _load(self._session, value, SESSION_MAX_AGE)
        if payload is None:
            return None
        name, version = payload
        try:
            user = store.get(name)
        except UsersFileError:  # logged once by the store; nobody is signed in until it is fixed
            return None
        if user is None or not hmac.compare_digest(version.encode(), user.session_version.encode()):
            return None
        return user

    # -- share-link visitors ---------------------------------------------------------------------------

    def issue_share(self, link: ShareLink) -> str:
        return self._share.dumps([link.id, _fingerprint(link)])

    def share(self, value: str | None, store: UserStore) -> ShareLink | None:
        payload = _load(self._share, value, SHARE_MAX_AGE)
        if payload is None:
            return None
        share_id, fingerprint = payload
        try:
            links = store.shares()
        except UsersFileError:
            return None
        # Looked up by id, but the fingerprint ties the cookie to this very link's token.
        for link in links:
            if link.id == share_id and hmac.compare_digest(fingerprint.encode(), _fingerprint(link).encode()):
                return link
        return None

    # -- CSRF (signed double submit) -------------------------------------------------------------------

    def new_csrf_cookie(self) -> str:
        return secrets.token_urlsafe(32)

    def csrf_token(self, cookie_value: str) -> str:
        return self._csrf.get_signature(cookie_value).decode()

    def check_csrf(self, cookie_value: str | None, token: str | None) -> bool:
        if not cookie_value or not token or len(cookie_value) > MAX_COOKIE or len(token) > MAX_COOKIE:
            return False
        try:
            # Tries every key, comparing in constant time.
            return self._csrf.verify_signature(cookie_value.encode(), token.encode())
        except (BadData, UnicodeError):
            return False


def cookie_options(secure: bool) -> dict[str, Any]:
    """Options for ``Response.set_cookie``/``delete_cookie`` of every dashboard cookie."""
    return {"httponly": True, "samesite": "strict", "path": "/", "secure": secure}


def _load(serializer: URLSafeTimedSerializer, value: str | None, max_age: int) -> tuple[str, str] | None:
    if not value or len(value) > MAX_COOKIE:
        return None
    try:
        payload = serializer.loads(value, max_age=max_age)
    except (BadData, UnicodeError, ValueError):  # bad signature, expired, not base64 or JSON
        return None
    if (not isinstance(payload, list) or len(payload) != 2
            or not all(isinstance(part, str) for part in payload)):
        return None
    return payload[0], payload[1]


def _fingerprint(link: ShareLink) -> str:
    return hashlib.sha256(f"share:{link.token_hash}".encode()).hexdigest()[:16]
