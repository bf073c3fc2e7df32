"""The consent API: ``GET``/``POST``/``DELETE /consent?site=ID`` and the proof ``/api/consents/ID``.

The banner reads the visitor's state and the site's banner configuration in one request, posts a
decision (JSON, or JSON as ``text/plain`` so ``sendBeacon`` needs no preflight), and withdraws with
DELETE. Every decision goes to the consent log. A grant is answered (and its cookie set) only once
the log holds it: no visitor is tracked on a consent the log cannot prove. A refusal or withdrawal
takes effect at once even when ClickHouse is down: its cookie is set and its row waits in the
writer, and the answer says ``"logged": false``.

Cross-site requests cannot decide for a visitor: a POST or DELETE from an origin that is not the
site's is refused (403). HEAD reads like GET and never decides anything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.consent import Consent, ConsentGate, CookieProblem, cookie_name, decide
from gateway.consent_config import LANGUAGE, NECESSARY, ShownBanner
from gateway.consent_log import action_for, config_hash_of, history, log_row, shown_configs
from gateway.consent_texts import accept_language
from gateway.cors import cors_headers, foreign_origin, preflight_response
from gateway.geoip import GeoDatabaseError
from gateway.proxy import client_ip, request_is_https
from gateway.rights.ledger import ConsentLedger
from gateway.sites import Site
from gateway.storage.clickhouse import ClickHouseError
from gateway.storage.schema import CONSENT_LOG_TABLE
from gateway.storage.writer import NotDurable, Overloaded, Rejected, WriterClosed
from gateway.useragent import browser_family

log = logging.getLogger(__name__)
MAX_BODY = 4096
DURABLE_TIMEOUT = 5.0
BODY_SOURCES = ("banner", "api")
DIGITS = re.compile(r"[0-9]{1,10}")
BANNER_VERSION = re.compile(r"[\w.+-]{0,64}")
REPROMPT = {CookieProblem.STALE_POLICY: "policy-changed", CookieProblem.EXPIRED: "expired",
            CookieProblem.REGIME_CHANGED: "regime-changed", CookieProblem.SUPERSEDED: "superseded"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code  # machine-readable, for the banner: "stale" means reload and ask again

    @property
    def body(self) -> dict[str, str]:
        return {"error": self.message} | ({"code": self.code} if self.code else {})


@dataclass(frozen=True, slots=True)
class Visit:
    """What the consent API derives from one request; the IP is used inside ``read`` and dropped."""

    site: Site
    banner: ShownBanner
    now: float
    consent: Consent | None  # the cookie's decision, even when no longer current
    problem: CookieProblem | None
    gpc: bool
    dnt: bool
    country_code: str
    regime: str  # opt-in or opt-out
    https: bool

    @classmethod
    def read(cls, request: Request, site: Site) -> Visit:
        state = request.app.state
        gate: ConsentGate = state.consent_gate
        now = gate.clock()
        cookie = gate.state(request, site, now)
        resources = state.resources
        country = _country(request)
        regime = "opt-in" if not country or country in resources.settings.opt_in_countries else "opt-out"
        problem = cookie.problem
        granted_by_law = cookie.consent is not None and cookie.consent.source == "regime"
        if problem is None and granted_by_law and regime == "opt-in":
            problem = CookieProblem.REGIME_CHANGED  # a default of opt-out law, now seen where opt-in applies
        return cls(site=site, banner=state.banners[site.id], now=now, consent=cookie.consent, problem=problem,
                   gpc=request.headers.get("sec-gpc") == "1", dnt=request.headers.get("dnt") == "1",
                   country_code=country, regime=regime,
                   https=request_is_https(request.scope, state.trusted_proxies))

    @property
    def current(self) -> Consent | None:
        return self.consent if self.consent is not None and self.problem is None else None


def _country(request: Request) -> str:
    resources = request.app.state.resources
    ip = client_ip(request.scope, request.app.state.trusted_proxies)
    if resources.geo is None or not ip:
        return ""
    try:
        return str(resources.geo.lookup(ip).country_code)
    except GeoDatabaseError:  # a damaged database: no geography, which counts as opt-in
        request.app.state.metrics.count("geoip", "lookup-failed")
        return ""


def _languages(request: Request, site: Site) -> list[str]:
    """Who picks the banner's language: the site's override, then the page (``lang``, from
    ``<html lang>``), then the browser (Accept-Language)."""
    if site.consent.banner.language:
        return [site.consent.banner.language]
    page = request.query_params.get("lang", "")[:35]
    return [page, *accept_language(request.headers.get("accept-language", ""))]


def _site(request: Request) -> Site:
    raw = request.query_params.get("site", "")
    if not DIGITS.fullmatch(raw):
        raise ApiError(400, "the site parameter must be a site id")
    site: Site | None = request.app.state.resources.settings.site(int(raw))
    if site is None:
        raise ApiError(404, f"unknown site {int(raw)}")
    return site


async def consent_endpoint(request: Request) -> Response:
    try:
        site = _site(request)
    except ApiError as exc:
        return JSONResponse(exc.body, status_code=exc.status,
                            headers={"Cache-Control": "no-store"})
    if request.method == "OPTIONS":
        return preflight_response(request, site)
    headers = cors_headers(request, site) | {"Cache-Control": "no-store"}
    try:
        if request.method in ("POST", "DELETE") and foreign_origin(request, site):
            raise ApiError(403, "this origin may not record consent for this site")
        visit = Visit.read(request, site)
        if request.method in ("GET", "HEAD"):
            return await _get(request, visit, headers, decide_signals=request.method == "GET")
        if request.method == "POST":
            return await _post(request, visit, headers)
        if request.method == "DELETE":
            return await _record_and_answer(request, visit, headers, categories=[], source="banner",
                                            withdraw=True, **_shown_with(request))
        raise ApiError(405, "use GET, POST or DELETE")
    except ApiError as exc:
        return JSONResponse(exc.body, status_code=exc.status, headers=headers)


async def _get(request: Request, visit: Visit, headers: dict[str, str], *, decide_signals: bool) -> Response:
    site, policy = visit.site, visit.site.consent
    decided: Consent | None = visit.current
    recorded = None
    regime_default = decided is not None and decided.source == "regime"
    if decide_signals and (decided is None or regime_default):
        # Signals and law that decide without asking, each logged: GPC (and DNT where the site
        # honours it) as a refusal, also ending a default granted under opt-out law; and for sites
        # that ask only where opt-in applies, the site's opt-out defaults elsewhere.
        if visit.gpc and policy.gpc_is_refusal:
            recorded = await _record(request, visit, categories=[], source="gpc")
        elif visit.dnt and policy.honour_dnt:
            recorded = await _record(request, visit, categories=[], source="dnt")
        elif decided is None and policy.banner_scope == "opt-in-only" and visit.regime == "opt-out":
            recorded = await _record(request, visit, categories=policy.opt_out_defaults, source="regime")
        decided = recorded.consent if recorded is not None else decided
    reason = None
    if decided is None:
        reason = REPROMPT.get(visit.problem or CookieProblem.MISSING, "no-decision")
    body = {
        "site": site.id,
        "decided": decided is not None,
        "show_banner": decided is None,
        "reason": reason,
        "categories": sorted(decided.categories) if decided else [NECESSARY],
        "policy_version": site.policy_version,
        "consent": _receipt(decided) if decided else None,
        "gpc": visit.gpc,
        "regime": visit.regime,
        "banner": visit.banner.pick(_languages(request, site)),
    }
    response = JSONResponse(body, headers=headers)
    if recorded is not None:
        _set_cookie(request, response, visit, recorded.consent)
    return response


async def _post(request: Request, visit: Visit, headers: dict[str, str]) -> Response:
    body = await _read_body(request)
    site = visit.site
    categories = body.get("categories")
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise ApiError(400, "categories must be a list of category ids")
    unknown = sorted(set(categories) - site.consent.category_ids)
    if unknown:
        raise ApiError(400, f"unknown category {unknown[0][:40]!r}")
    if body.get("policy_version") != site.policy_version:
        raise ApiError(400, f"stale policy_version: the current policy is {site.policy_version!r}; "
                            "reload the banner", code="stale")
    if "config_hash" in body and body["config_hash"] != visit.banner.config_hash:
        raise ApiError(400, "stale config_hash: the banner's texts or categories changed; reload the banner",
                       code="stale")
    source = body.get("source", "banner")
    if source not in BODY_SOURCES:
        raise ApiError(400, "source must be banner or api")
    language, banner_version = body.get("language", ""), body.get("banner_version", "")
    if not _valid_language(language):
        raise ApiError(400, "language must be a language tag like en or zh-CN")
    if not _valid_banner_version(banner_version):
        raise ApiError(400, "banner_version must be up to 64 letters, digits or . + - _")
    return await _record_and_answer(request, visit, headers, categories=categories, source=str(source),
                                    language=language, banner_version=banner_version)


def _valid_language(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 35 and (not value or bool(LANGUAGE.fullmatch(value)))


def _valid_banner_version(value: object) -> bool:
    return isinstance(value, str) and bool(BANNER_VERSION.fullmatch(value))


def _shown_with(request: Request) -> dict[str, str]:
    """A withdrawal's language and banner version, from the query (DELETE has no body). Bad values
    are left out rather than refused: nothing may stand in the way of a withdrawal."""
    language = request.query_params.get("language", "")
    banner_version = request.query_params.get("banner_version", "")
    return {"language": language if _valid_language(language) else "",
            "banner_version": banner_version if _valid_banner_version(banner_version) else ""}


async def _read_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/json", "text/plain"):
        raise ApiError(415, "send the decision as application/json (or text/plain holding JSON)")
    declared = request.headers.get("content-length", "")
    if DIGITS.fullmatch(declared) and int(declared) > MAX_BODY:
        raise ApiError(413, f"the body is larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


@dataclass(frozen=True, slots=True)
class Recorded:
    consent: Consent
    logged: bool  # False: the row waits in the writer (ClickHouse was slow or down)


async def _record(request: Request, visit: Visit, *, categories: Any, source: str, language: str = "",
                  banner_version: str = "", withdraw: bool = False) -> Recorded:
    """Log a decision and wait until it is durable. A grant that cannot be logged fails (503); a
    refusal or withdrawal takes effect anyway, since honouring it must not depend on the log."""
    state = request.app.state
    site, previous = visit.site, visit.consent
    ledger: ConsentLedger = state.ledger
    # Every decision on an id gets its own, later second, so the ledger can tell which cookie is older.
    decided_at = (ledger.next_decided_at(previous.consent_id, visit.now, previous.decided_at)
                  if previous is not None else int(visit.now))
    consent = decide(site=site, categories=categories, source=source, now=visit.now, previous=previous,
                     current=visit.problem is not CookieProblem.SUPERSEDED, decided_at=decided_at)
    action = action_for(consent, visit.current, withdraw=withdraw)
    config_hash = visit.banner.config_hash
    shown = f"{banner_version}/{config_hash}" if banner_version else config_hash
    logged_at = int(max(visit.now, float(decided_at)) * 1000) / 1000  # the log keeps milliseconds
    row = log_row(consent, action, banner_version=shown, language=language, country_code=visit.country_code,
                  browser_family=browser_family(request.headers.get("user-agent", "")),
                  instance=state.resources.settings.instance_name, now=logged_at)
    restricts = consent.categories == {NECESSARY}
    if not consent.analytics:  # a restriction holds at once, on this instance, logged or not
        ledger.record(consent.consent_id, decided_at, analytics=False, first=previous is None, at=logged_at)
    try:
        accepted = state.resources.writer.submit(CONSENT_LOG_TABLE, [row], urgent=True)
        await asyncio.wait_for(asyncio.shield(accepted), DURABLE_TIMEOUT)
    except (Overloaded, WriterClosed, NotDurable, TimeoutError):
        state.metrics.count("consent_decision", f"{action}-not-logged")
        if restricts:
            return Recorded(consent, logged=False)
        raise ApiError(503, "the decision could not be recorded right now; please try again") from None
    except Rejected:
        state.metrics.count("consent_decision", "rejected")
        raise ApiError(400, "the decision could not be stored") from None
    state.metrics.count("consent_decision", action)
    if consent.analytics:  # a grant holds once it is logged: only then has the visitor its cookie
        ledger.record(consent.consent_id, decided_at, analytics=True, first=previous is None, at=logged_at)
    return Recorded(consent, logged=True)


async def _record_and_answer(request: Request, visit: Visit, headers: dict[str, str],
                             **decision: Any) -> Response:
    recorded = await _record(request, visit, **decision)
    response = JSONResponse(_receipt(recorded.consent) | {"logged": recorded.logged}, headers=headers)
    _set_cookie(request, response, visit, recorded.consent)
    return response


def _receipt(consent: Consent) -> dict[str, Any]:
    return {"consent_id": str(consent.consent_id), "decided_at": _iso(consent.decided_at),
            "expires_at": _iso(consent.expires_at), "categories": sorted(consent.categories),
            "policy_version": consent.policy_version, "source": consent.source}


def _set_cookie(request: Request, response: Response, visit: Visit, consent: Consent) -> None:
    gate: ConsentGate = request.app.state.consent_gate
    policy = visit.site.consent
    response.set_cookie(cookie_name(visit.site.id), gate.codec.dumps(consent),
                        max_age=policy.lifetime_days * 86400, path="/", domain=policy.cookie_domain or None,
                        secure=visit.https, httponly=True, samesite="lax")


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def _site_for_token(request: Request) -> Site | None:
    presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    raw = presented.encode("utf-8", "surrogateescape")
    sites: tuple[Site, ...] = request.app.state.resources.settings.sites
    for site in sites:
        # Bytes, not str: compare_digest refuses non-ASCII str, and a header may carry anything.
        if site.token and hmac.compare_digest(site.token.encode(), raw):
            return site
    return None


async def consent_proof(request: Request) -> Response:
    """``GET /api/consents/{id}``: a consent's full history for the site whose token is presented."""
    site = _site_for_token(request)
    if site is None:
        return JSONResponse({"error": "a site token is required: Authorization: Bearer TOKEN"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    try:
        consent_id = uuid.UUID(request.path_params["consent_id"])
    except ValueError:
        return JSONResponse({"error": "not a consent id"}, status_code=400)
    try:
        body = await asyncio.to_thread(proof, request.app.state.resources.db, site, consent_id)
    except (ClickHouseError, OSError, TimeoutError) as exc:  # down, unreachable or slow: not our fault
        request.app.state.metrics.count("proof", "unavailable")
        log.warning("proof of a consent: ClickHouse is unavailable: %s", type(exc).__name__)
        return JSONResponse({"error": "the consent log is unavailable right now; please try again shortly"},
                            status_code=503, headers={"Retry-After": "5", "Cache-Control": "no-store"})
    if not body["decisions"]:
        return JSONResponse({"error": f"no decisions are logged under {consent_id} for site {site.id}"},
                            status_code=404)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def proof(db: Any, site: Site, consent_id: uuid.UUID) -> dict[str, Any]:
    """A consent's history with, for each decision, the policy then in force and the texts shown."""
    decisions = history(db, consent_id, site.id)
    for decision in decisions:
        decision.pop("site_id")
        decision["config_hash"] = config_hash_of(decision["banner_version"])
        decision["policy_current"] = decision["policy_version"] == site.policy_version
    return {"consent_id": str(consent_id), "site": site.id, "current_policy_version": site.policy_version,
            "decisions": decisions,
            "shown": shown_configs(db, site.id, {d["config_hash"] for d in decisions})}
