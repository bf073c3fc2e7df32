"""Tests for gateway.consent.cookie: the signed consent cookie, ``decide`` and ``ConsentGate.consent_for``.

Unit level: requests are Starlette ``Request`` objects over a bare ASGI scope with a Cookie header,
and ``now`` is passed in, so nothing here needs the app, ClickHouse or the clock.
"""

from __future__ import annotations

import base64
import dataclasses
import random
import re
import string
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from itsdangerous import URLSafeSerializer
from starlette.requests import Request

from gateway.config.consent import ANALYTICS, MARKETING, NECESSARY
from gateway.config.sites import DEMO_SITE, Site
from gateway.consent.cookie import (
    MAX_COOKIE,
    Consent,
    ConsentCodec,
    ConsentGate,
    CookieProblem,
    consent_for,
    cookie_name,
    decide,
)
from gateway.monitoring.counters import Metrics

OLD_KEY = "old-signing-key-0123456789abcdefghijklmnop"
NEW_KEY = "new-signing-key-0123456789abcdefghijklmnop"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400
SITE = DEMO_SITE  # id 1, policy version "1", lifetime 182 days
OTHER_SITE = Site(id=2, name="Other site", origins=DEMO_SITE.origins)
COOKIE_SAFE = re.compile(r"[A-Za-z0-9_.-]+")  # needs no quoting in a Set-Cookie header


def request(cookies: dict[str, str] | None = None, *, header: bytes | None = None) -> Request:
    """A GET request whose Cookie header holds ``cookies`` (or exactly ``header``)."""
    if header is None and cookies:
        header = "; ".join(f"{name}={value}" for name, value in cookies.items()).encode()
    headers = [] if header is None else [(b"cookie", header)]
    return Request({"type": "http", "method": "GET", "path": "/matomo.php", "headers": headers})


def carrying(value: str, site: Site = SITE) -> Request:
    return request({"_pk_ref": "x", cookie_name(site.id): value, "theme": "dark"})


def grant(site: Site = SITE, categories: tuple[str, ...] = (ANALYTICS,), now: float = NOW,
          previous: Consent | None = None, source: str = "banner") -> Consent:
    return decide(site=site, categories=categories, source=source, now=now, previous=previous)


def counted(metrics: Metrics) -> dict[str, int]:
    return metrics.snapshot().get("consent_cookie", {})


@pytest.fixture
def codec() -> ConsentCodec:
    return ConsentCodec((NEW_KEY,))


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def gate(codec: ConsentCodec, metrics: Metrics) -> ConsentGate:
    return ConsentGate(codec, metrics, clock=lambda: NOW)


# --- the cookie -------------------------------------------------------------------------------


def test_granted_decision_round_trips_through_the_cookie(codec: ConsentCodec) -> None:
    consent = grant(categories=(ANALYTICS, MARKETING), now=NOW + 0.75)
    value = codec.dumps(consent)
    loaded = codec.loads(value)
    assert loaded == consent
    assert isinstance(loaded, Consent)
    assert loaded.site_id == SITE.id
    assert loaded.categories == {NECESSARY, ANALYTICS, MARKETING}
    assert loaded.policy_version == SITE.policy_version
    assert (loaded.decided_at, loaded.expires_at) == (NOW, NOW + 182 * DAY)
    assert 0 < loaded.visitor_id < 2**63  # fits ClickHouse UInt64 and every signed 64-bit reader
    assert loaded.source == "banner"
    assert COOKIE_SAFE.fullmatch(value)
    assert len(value) < 250


def test_necessary_is_always_granted_and_a_refusal_has_no_visitor_id(codec: ConsentCodec) -> None:
    refusal = grant(categories=(), source="gpc")
    assert refusal.categories == {NECESSARY}
    assert refusal.visitor_id == 0
    assert codec.loads(codec.dumps(refusal)) == refusal
    assert grant(categories=(NECESSARY, MARKETING)).visitor_id == 0


def test_ids_are_random_not_derived_from_the_decision() -> None:
    # Same site, same moment, same choice: nothing to derive an id from, so they must differ.
    first, second = grant(), grant()
    assert first.consent_id != second.consent_id
    assert first.visitor_id != second.visitor_id
    assert first.consent_id.version == 4


def test_lifetime_follows_the_site() -> None:
    short = dataclasses.replace(SITE, consent=dataclasses.replace(SITE.consent, lifetime_days=30))
    assert grant(short).expires_at == NOW + 30 * DAY


# --- decide: one consent id per visitor history -------------------------------------------------


def test_updates_keep_the_consent_id_and_the_visitor_id_while_analytics_stays() -> None:
    first = grant()
    update = grant(categories=(ANALYTICS, MARKETING), now=NOW + DAY, previous=first)
    assert update.consent_id == first.consent_id
    assert update.visitor_id == first.visitor_id
    assert (update.decided_at, update.expires_at) == (NOW + DAY, NOW + DAY + 182 * DAY)


def test_refusing_or_withdrawing_analytics_drops_the_visitor_id_and_regrant_mints_a_new_one() -> None:
    first = grant(categories=(ANALYTICS, MARKETING))
    marketing_only = grant(categories=(MARKETING,), now=NOW + 1, previous=first)
    assert (marketing_only.consent_id, marketing_only.visitor_id) == (first.consent_id, 0)
    withdrawn = grant(categories=(), now=NOW + 2, previous=first, source="api")
    assert (withdrawn.consent_id, withdrawn.visitor_id) == (first.consent_id, 0)
    assert withdrawn.categories == {NECESSARY}
    regranted = grant(now=NOW + 3, previous=withdrawn)
    assert regranted.consent_id == first.consent_id
    assert regranted.visitor_id not in (0, first.visitor_id)


# --- consent_for --------------------------------------------------------------------------------


def test_a_current_analytics_consent_is_returned_and_nothing_is_counted(
        codec: ConsentCodec, gate: ConsentGate, metrics: Metrics) -> None:
    consent = grant()
    assert gate.consent_for(carrying(codec.dumps(consent)), SITE, now=NOW + 60) == consent
    assert gate.consent_for(carrying(codec.dumps(consent)), SITE, now=consent.expires_at - 1) == consent
    assert counted(metrics) == {}


def test_the_clock_is_used_when_no_now_is_given(codec: ConsentCodec, metrics: Metrics) -> None:
    consent = grant()
    times = iter([NOW + 1, consent.expires_at])
    gate = ConsentGate(codec, metrics, clock=lambda: next(times))
    assert gate.consent_for(carrying(codec.dumps(consent)), SITE) == consent
    assert gate.consent_for(carrying(codec.dumps(consent)), SITE) is None
    assert counted(metrics) == {"expired": 1}


def test_the_tracking_endpoint_helper_uses_the_apps_gate(codec: ConsentCodec, gate: ConsentGate) -> None:
    consent = grant()
    req = carrying(codec.dumps(consent))
    req.scope["app"] = SimpleNamespace(state=SimpleNamespace(consent_gate=gate))
    assert consent_for(req, SITE) == consent


def _signed(obj: object) -> Callable[[ConsentCodec], str]:
    """A value signed by our own key and salt, carrying ``obj`` instead of a consent."""
    return lambda codec: str(codec._serializer.dumps(obj))


def _fields(consent: Consent) -> list[object]:
    cid = base64.urlsafe_b64encode(consent.consent_id.bytes).rstrip(b"=").decode()
    return [1, cid, consent.site_id, sorted(consent.categories - {NECESSARY}), consent.policy_version,
            consent.decided_at, consent.expires_at, consent.visitor_id, consent.source]


def _with(index: int, value: object) -> list[object]:
    fields = _fields(grant())
    fields[index] = value
    return fields


def _flip(value: str, index: int) -> str:
    # Not the last character: its low bits are base64 padding, which the decoder ignores.
    return value[:index] + ("A" if value[index] != "A" else "B") + value[index + 1:]


def _other_key(codec: ConsentCodec) -> str:
    return ConsentCodec((OLD_KEY,)).dumps(grant())


def _other_salt(codec: ConsentCodec) -> str:
    # Another itsdangerous user sharing the key (e.g. a session cookie) cannot mint consents.
    return str(URLSafeSerializer(NEW_KEY, salt="session").dumps(_fields(grant())))


def _bad_json(codec: ConsentCodec) -> str:
    payload = base64.urlsafe_b64encode(b"[1, not json").rstrip(b"=")
    return codec._serializer.make_signer().sign(payload).decode()


PROBLEM_CASES: list[object] = [
    # (cookie value built from the codec, site asked about, now, expected problem), id
    pytest.param(lambda c: c.dumps(grant(OTHER_SITE)), SITE, NOW, "other-site", id="other-site"),
    pytest.param(lambda c: c.dumps(grant()), SITE, NOW + 182 * DAY, "expired", id="expired-at-boundary"),
    pytest.param(lambda c: c.dumps(grant()), SITE, NOW + 400 * DAY, "expired", id="expired-long-ago"),
    pytest.param(lambda c: c.dumps(grant()), dataclasses.replace(SITE, policy_version="2"), NOW + 1,
                 "stale-policy", id="stale-policy"),
    pytest.param(lambda c: c.dumps(grant(categories=())), SITE, NOW + 1, "not-granted", id="refusal"),
    pytest.param(lambda c: c.dumps(grant(categories=(MARKETING,))), SITE, NOW + 1, "not-granted",
                 id="marketing-only"),
    pytest.param(lambda c: _flip(c.dumps(grant()), -10), SITE, NOW, "bad-signature", id="forged-signature"),
    pytest.param(lambda c: _flip(c.dumps(grant()), 10), SITE, NOW, "bad-signature", id="forged-payload"),
    pytest.param(lambda c: c.dumps(grant())[:-5], SITE, NOW, "bad-signature", id="truncated"),
    pytest.param(lambda c: c.dumps(grant()).rpartition(".")[0], SITE, NOW, "bad-signature",
                 id="signature-cut-off"),
    pytest.param(_other_key, SITE, NOW, "bad-signature", id="other-key"),
    # Only our alphabet: indistinguishable from a cookie cut short before its signature.
    pytest.param(lambda c: "notacookie", SITE, NOW, "bad-signature", id="no-separator"),
    pytest.param(_other_salt, SITE, NOW, "bad-signature", id="other-salt"),
    pytest.param(lambda c: "e" * (MAX_COOKIE + 1), SITE, NOW, "malformed", id="over-1kb"),
    pytest.param(lambda c: c.dumps(grant()) + "A" * MAX_COOKIE, SITE, NOW, "malformed", id="over-1kb-signed"),
    pytest.param(_signed({"analytics": True}), SITE, NOW, "malformed", id="signed-dict"),
    pytest.param(_signed("analytics"), SITE, NOW, "malformed", id="signed-string"),
    pytest.param(_signed(None), SITE, NOW, "malformed", id="signed-null"),
    pytest.param(_signed([]), SITE, NOW, "malformed", id="signed-empty-list"),
    pytest.param(_signed(_fields(grant())[:-1]), SITE, NOW, "malformed", id="signed-too-short"),
    pytest.param(_signed([*_fields(grant()), "x"]), SITE, NOW, "malformed", id="signed-too-long"),
    pytest.param(_signed(_with(0, 2)), SITE, NOW, "malformed", id="signed-future-format"),
    pytest.param(_signed(_with(1, "AAAA")), SITE, NOW, "malformed", id="signed-short-consent-id"),
    pytest.param(_signed(_with(1, 7)), SITE, NOW, "malformed", id="signed-numeric-consent-id"),
    pytest.param(_signed(_with(2, "one")), SITE, NOW, "malformed", id="signed-text-site"),
    pytest.param(_signed(_with(3, [1, 2])), SITE, NOW, "malformed", id="signed-numeric-categories"),
    pytest.param(_signed(_with(3, 5)), SITE, NOW, "malformed", id="signed-scalar-categories"),
    pytest.param(_signed(_with(6, None)), SITE, NOW, "malformed", id="signed-null-expiry"),
    # A validly signed value that a newer or buggy writer could produce must be "no consent" too.
    pytest.param(_signed(_with(6, float("inf"))), SITE, NOW, "malformed", id="signed-infinite-expiry"),
    pytest.param(_bad_json, SITE, NOW, "malformed", id="signed-not-json"),
    # Plainly not one of our cookies (characters outside base64url): counted apart from forgeries.
    *[pytest.param(lambda c, v=v: v, SITE, NOW, "malformed", id=f"garbage-{n}")
      for n, v in enumerate(['{"analytics":true}', "yes please", "%E2%9C%93", "a.b.c!"])],
]


@pytest.mark.parametrize(("make", "site", "now", "problem"), PROBLEM_CASES)
def test_each_reason_for_no_consent_is_counted_once(
        make: Callable[[ConsentCodec], str], site: Site, now: int, problem: str,
        codec: ConsentCodec, gate: ConsentGate, metrics: Metrics) -> None:
    assert gate.consent_for(carrying(make(codec), site), site, now=now) is None
    assert counted(metrics) == {problem: 1}
    assert problem in set(CookieProblem)


@pytest.mark.parametrize("req", [
    pytest.param(request(), id="no-cookie-header"),
    pytest.param(request({"_ga": "GA1.1.1", "cg_consent_12": "x"}), id="other-cookies-only"),
    pytest.param(request({cookie_name(SITE.id): ""}), id="empty-value"),
])
def test_a_request_without_our_cookie_is_missing(req: Request, gate: ConsentGate, metrics: Metrics) -> None:
    assert gate.consent_for(req, SITE, now=NOW) is None
    assert counted(metrics) == {"missing": 1}


def test_a_cookie_for_another_site_under_its_own_name_is_missing_here(
        codec: ConsentCodec, gate: ConsentGate, metrics: Metrics) -> None:
    other = grant(OTHER_SITE)
    req = request({cookie_name(OTHER_SITE.id): codec.dumps(other)})
    assert gate.consent_for(req, SITE, now=NOW) is None
    assert gate.consent_for(req, OTHER_SITE, now=NOW) == other
    assert counted(metrics) == {"missing": 1}


def test_state_keeps_a_decision_that_is_no_longer_current(codec: ConsentCodec, gate: ConsentGate) -> None:
    # The consent API needs the stale decision to re-prompt and to keep the consent id's history.
    consent = grant()
    bumped = dataclasses.replace(SITE, policy_version="2")
    state = gate.state(carrying(codec.dumps(consent)), bumped, NOW + 1)
    assert (state.consent, state.problem) == (consent, CookieProblem.STALE_POLICY)


# --- key rotation -------------------------------------------------------------------------------


def test_key_rotation() -> None:
    old_only, rotated, new_only = ConsentCodec((OLD_KEY,)), ConsentCodec((NEW_KEY, OLD_KEY)), ConsentCodec(
        (NEW_KEY,))
    consent = grant()
    from_old = old_only.dumps(consent)
    assert rotated.loads(from_old) == consent  # visitors keep their consent during the rotation
    from_rotated = rotated.dumps(consent)
    assert from_rotated != from_old
    assert new_only.loads(from_rotated) == consent  # the first key signs
    assert old_only.loads(from_rotated) == CookieProblem.BAD_SIGNATURE
    assert new_only.loads(from_old) == CookieProblem.BAD_SIGNATURE  # after the old key is dropped


# --- hostile input ------------------------------------------------------------------------------


def _random_values(seed: int = 3) -> list[str]:
    rnd = random.Random(seed)
    b64 = string.ascii_letters + string.digits + "-_."

    def text(alphabet: str, low: int, high: int) -> str:
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(low, high)))

    def unicode(length: int) -> str:
        return "".join(chr(rnd.choice([rnd.randrange(0x20, 0xD800), rnd.randrange(0xE000, 0x110000)]))
                       for _ in range(length))

    valid = ConsentCodec((NEW_KEY,)).dumps(grant())
    payload, _, signature = valid.rpartition(".")
    values = [text(string.printable, 1, 200) for _ in range(100)]
    values += [unicode(rnd.randrange(1, 100)) for _ in range(100)]
    values += [text(b64, 1_000, 20_000) for _ in range(30)]
    values += ["." + text(b64, 50, 200) + "." + text(b64, 27, 28) for _ in range(50)]  # our shape
    for _ in range(50):  # a real cookie with the signed part changed
        at = rnd.randrange(1, len(payload))
        other = rnd.choice(string.printable.strip().replace(payload[at], ""))
        values.append(f"{payload[:at]}{other}{payload[at + 1:]}.{signature}")
    return values


def test_random_cookies_never_raise_and_never_grant(codec: ConsentCodec, gate: ConsentGate,
                                                    metrics: Metrics) -> None:
    values = _random_values()
    for value in values:
        assert gate.consent_for(carrying(value), SITE, now=NOW) is None, value
        assert gate.consent_for(request(header=f"cg_consent_1={value}".encode()), SITE, now=NOW) is None
    assert sum(counted(metrics).values()) == 2 * len(values)
    for value in values:  # straight into the codec too, unicode not squeezed through latin-1
        assert isinstance(codec.loads(value), CookieProblem)
    assert isinstance(codec.loads("\ud800.\udfff"), CookieProblem)  # lone surrogates: not encodable


# --- the cache ----------------------------------------------------------------------------------


def test_a_repeated_cookie_is_verified_once(codec: ConsentCodec, gate: ConsentGate) -> None:
    consent = grant()
    value = codec.dumps(consent)
    for _ in range(5):
        assert gate.consent_for(carrying(value), SITE, now=NOW) == consent
    info = codec.loads.cache_info()
    assert (info.misses, info.hits) == (1, 4)


def test_the_cache_does_not_outlive_expiry_or_a_policy_bump(
        codec: ConsentCodec, gate: ConsentGate, metrics: Metrics) -> None:
    consent = grant()
    value = codec.dumps(consent)
    assert gate.consent_for(carrying(value), SITE, now=NOW) == consent
    assert gate.consent_for(carrying(value), SITE, now=consent.expires_at) is None
    assert gate.consent_for(carrying(value), dataclasses.replace(SITE, policy_version="2"), now=NOW) is None
    assert codec.loads.cache_info().hits == 2
    assert counted(metrics) == {"expired": 1, "stale-policy": 1}


def test_the_cache_is_bounded() -> None:
    codec = ConsentCodec((NEW_KEY,), cache_size=8)
    values = [codec.dumps(grant()) for _ in range(20)]
    assert len(set(values)) == 20
    for value in values:
        assert isinstance(codec.loads(value), Consent)
    info = codec.loads.cache_info()
    assert (info.maxsize, info.currsize) == (8, 8)


def test_oversized_cookies_are_not_kept_in_the_cache(codec: ConsentCodec, gate: ConsentGate) -> None:
    # 65,536 entries of ~16 KB headers would pin ~1 GB: the length check must come before the cache.
    for n in range(3):
        assert gate.consent_for(carrying(f"{n}" * 16_000), SITE, now=NOW) is None
    assert codec.loads.cache_info().currsize == 0
