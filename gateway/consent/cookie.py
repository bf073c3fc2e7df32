"""Consent state: the signed consent cookie and ``consent_for``, the check every hit passes.

A visitor's decision for one site lives in a small signed cookie (itsdangerous, HMAC-SHA1 over a
compact JSON list). The newest configured key signs, every configured key verifies, so keys can be
rotated. Nothing in the cookie is derived from the IP or the user agent: the consent id and the
visitor id are random.

``consent_for`` runs on every tracking hit, so verified cookie values are cached in a bounded LRU
keyed by the raw cookie string; expiry and policy checks, which depend on the clock and the
configuration, are done after the cache. Every way a cookie can fail is a ``CookieProblem`` and is
counted, never raised: a forged cookie is simply "no consent".
"""

from __future__ import annotations

import base64
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

from itsdangerous import BadData, BadSignature, URLSafeSerializer
from starlette.requests import Request

from gateway.config.consent import ANALYTICS, NECESSARY
from gateway.config.sites import Site
from gateway.monitoring.counters import Metrics

COOKIE_PREFIX = "cg_consent_"
FORMAT = 1
CACHE_SIZE = 32_768
MAX_COOKIE = 512  # ours are ~180 bytes; anything much longer is not ours (bounds the cache: ~16 MB)
COOKIE_CHARS = re.compile(r"[A-Za-z0-9_.-]+")  # base64url and dots: anything else is not ours


def cookie_name(site_id: int) -> str:
    return f"{COOKIE_PREFIX}{site_id}"


class CookieProblem(StrEnum):
    """Why a request has no usable consent; each is counted under ``consent_cookie``."""

    MISSING = "missing"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad-signature"  # forged, truncated, or signed with a key we no longer hold
    OTHER_SITE = "other-site"
    EXPIRED = "expired"
    STALE_POLICY = "stale-policy"
    REGIME_CHANGED = "regime-changed"  # granted by opt-out law, which no longer applies
    GPC_REFUSAL = "gpc"  # granted by opt-out law, and the browser now sends Sec-GPC: 1 (an opt-out)
    NOT_GRANTED = "not-granted"  # a valid decision that does not include analytics
    SUPERSEDED = "superseded"  # a later decision on the id (withdrawal, refusal, erasure) overrides it


class Decisions(Protocol):
    """What the gate asks of the server's record of decisions (``gateway.rights.ledger``)."""

    def superseded(self, consent: Consent) -> bool: ...

    def accepted(self, consent: Consent, now: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Consent:
    consent_id: uuid.UUID
    site_id: int
    categories: frozenset[str]  # granted; always includes "necessary"
    policy_version: str
    decided_at: int  # Unix seconds
    expires_at: int
    visitor_id: int  # random 64-bit while analytics is granted; 0 otherwise
    source: str  # banner, api, gpc, dnt, regime

    @property
    def analytics(self) -> bool:
        return ANALYTICS in self.categories

    def current(self, site: Site, now: float) -> CookieProblem | None:
        """Why this decision no longer holds for ``site`` at ``now``, or None when it does."""
        if self.site_id != site.id:
            return CookieProblem.OTHER_SITE
        if now >= self.expires_at:
            return CookieProblem.EXPIRED
        if self.policy_version != site.policy_version:
            return CookieProblem.STALE_POLICY
        if self.source == "regime" and site.consent.banner_scope != "opt-in-only":
            return CookieProblem.REGIME_CHANGED  # the site now asks everyone
        return None


def new_consent_id() -> uuid.UUID:
    return uuid.UUID(bytes=secrets.token_bytes(16), version=4)


def new_visitor_id() -> int:
    return secrets.randbits(63) or 1  # UInt64 in ClickHouse; 63 bits keep it positive everywhere


def decide(*, site: Site, categories: Iterable[str], source: str, now: float,
           previous: Consent | None, current: bool = True, decided_at: int | None = None) -> Consent:
    """A new decision. It keeps the consent id, so one id carries the visitor's whole history, and
    keeps the visitor id only while analytics stays granted without a lapse: after a withdrawal, an
    expiry, a policy change or a later decision that superseded ``previous`` (``current`` False), a
    new grant starts a new visitor, so data from before and after a lapsed consent is never linked.
    ``decided_at`` (the ledger's next second for this id) defaults to ``now``."""
    granted = frozenset(categories) | {NECESSARY}
    visitor_id = 0
    if ANALYTICS in granted:
        keep = (current and previous is not None and previous.analytics
                and previous.current(site, now) is None)
        visitor_id = previous.visitor_id if keep and previous is not None else new_visitor_id()
    decided_at = int(now) if decided_at is None else decided_at
    return Consent(consent_id=previous.consent_id if previous is not None else new_consent_id(),
                   site_id=site.id, categories=granted, policy_version=site.policy_version,
                   decided_at=decided_at, expires_at=decided_at + site.consent.lifetime_days * 86400,
                   visitor_id=visitor_id, source=source)


class ConsentCodec:
    """Signs and verifies consent cookies, with a bounded cache of verified values."""

    def __init__(self, secret_keys: tuple[str, ...], cache_size: int = CACHE_SIZE) -> None:
        # itsdangerous wants keys oldest first and signs with the last; ours lists the signing key first.
        self._serializer = URLSafeSerializer(list(reversed(secret_keys)), salt="consent-gateway.consent")
        self.loads = lru_cache(maxsize=cache_size)(self._loads)

    def dumps(self, consent: Consent) -> str:
        cid = base64.urlsafe_b64encode(consent.consent_id.bytes).rstrip(b"=").decode()
        others = sorted(consent.categories - {NECESSARY})
        return str(self._serializer.dumps([FORMAT, cid, consent.site_id, others, consent.policy_version,
                                           consent.decided_at, consent.expires_at, consent.visitor_id,
                                           consent.source]))

    def _loads(self, value: str) -> Consent | CookieProblem:
        if len(value) > MAX_COOKIE or not COOKIE_CHARS.fullmatch(value):
            return CookieProblem.MALFORMED
        try:
            data = self._serializer.loads(value)
        except BadSignature:
            return CookieProblem.BAD_SIGNATURE
        except (BadData, ValueError, UnicodeError):  # signed with our key, yet not our JSON
            return CookieProblem.MALFORMED
        try:
            version, cid, site_id, categories, policy, decided, expires, visitor_id, source = data
            if version != FORMAT or not all(isinstance(c, str) for c in categories):
                return CookieProblem.MALFORMED
            consent_id = uuid.UUID(bytes=base64.urlsafe_b64decode(cid + "=="))
            return Consent(consent_id, int(site_id), frozenset(categories) | {NECESSARY}, str(policy),
                           int(decided), int(expires), int(visitor_id), str(source))
        except (ValueError, TypeError, OverflowError):  # a signed value of another shape: not ours
            return CookieProblem.MALFORMED


@dataclass(frozen=True, slots=True)
class CookieState:
    """What a request's cookie says: a decision (maybe no longer current) and why it does not hold."""

    consent: Consent | None
    problem: CookieProblem | None


class ConsentGate:
    """Reads a request's consent for a site, counting every reason a request has none."""

    def __init__(self, codec: ConsentCodec, metrics: Metrics, clock: Callable[[], float] = time.time,
                 decisions: Decisions | None = None) -> None:
        self.codec = codec
        self.metrics = metrics
        self.clock = clock  # replaceable, so tests can move time forward past an expiry
        self.decisions = decisions

    def state(self, request: Request, site: Site, now: float) -> CookieState:
        value = request.cookies.get(cookie_name(site.id))
        if not value:
            return CookieState(None, CookieProblem.MISSING)
        if len(value) > MAX_COOKIE:  # before the cache, which would otherwise keep it as a key
            return CookieState(None, CookieProblem.MALFORMED)
        decoded = self.codec.loads(value)
        if isinstance(decoded, CookieProblem):
            return CookieState(None, decoded)
        if decoded.site_id != site.id:
            return CookieState(None, CookieProblem.OTHER_SITE)
        if self.decisions is not None and self.decisions.superseded(decoded):
            return CookieState(decoded, CookieProblem.SUPERSEDED)
        return CookieState(decoded, decoded.current(site, now))

    def consent_for(self, request: Request, site: Site, now: float | None = None) -> Consent | None:
        """The analytics consent this request carries for ``site``, or None (counted by reason)."""
        if now is None:
            now = self.clock()
        state = self.state(request, site, now)
        problem = state.problem
        consent = state.consent
        if problem is None and consent is not None:
            if not consent.analytics:
                problem = CookieProblem.NOT_GRANTED
            elif consent.source == "regime" and request.headers.get("sec-gpc") == "1":
                # A default granted under opt-out law ends where the visitor opts out. (The tracking
                # pipeline must also refuse a regime consent on a hit located where opt-in applies.)
                problem = CookieProblem.GPC_REFUSAL
        if problem is not None:
            self.metrics.count("consent_cookie", problem)
            return None
        if self.decisions is not None and consent is not None:
            self.decisions.accepted(consent, now)
        return consent


def consent_for(request: Request, site: Site) -> Consent | None:
    """The tracking endpoint's check: valid, this site, unexpired, current policy, analytics granted."""
    gate: ConsentGate = request.app.state.consent_gate
    return gate.consent_for(request, site)
