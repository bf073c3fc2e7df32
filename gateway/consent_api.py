"""The consent API: ``GET``/``POST``/``DELETE /consent?site=ID`` and the proof ``/api/consents/ID``.

The banner reads the visitor's state and the site's banner configuration in one request, posts a
decision (JSON, or JSON as ``text/plain`` so ``sendBeacon`` needs no preflight), and withdraws with
DELETE. Every decision is written to the consent log and awaited until durable before the cookie is
set, so a visitor never holds a consent the log cannot prove.

Cross-site requests cannot decide for a visitor: a POST or DELETE whose Origin is not one of the
site's is refused (403), whatever cookies it carries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.consent import Consent, ConsentGate, CookieProblem, cookie_name, decide
from gateway.consent_config import LANGUAGE, NECESSARY
from gateway.consent_log import action_for, config_hash_of, history, log_row, shown_configs
from gateway.cors import cors_headers, foreign_origin, preflight_response
from gateway.geoip import EMPTY_GEO
from gateway.proxy import client_ip, request_is_https
from gateway.sites import Site
from gateway.storage.schema import CONSENT_LOG_TABLE
from gateway.storage.writer import Overloaded, Rejected, WriterClosed
from gateway.useragent import browser_family

MAX_BODY = 4096
DURABLE_TIMEOUT = 5.0
BODY_SOURCES = ("banner", "api")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Visit:
    """What the consent API derives from one request, the IP used and dropped inside ``read``."""

    site: Site
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
        ip = client_ip(request.scope, state.trusted_proxies)
        geo = resources.geo.lookup(ip) if resources.geo is not None and ip else EMPTY_GEO
        country = geo.country_code
        regime = "opt-in" if not country or country in resources.settings.opt_in_countries else "opt-out"
        return cls(site=site, now=now, consent=cookie.consent, problem=cookie.problem,
                   gpc=request.headers.get("sec-gpc") == "1", dnt=request.headers.get("dnt") == "1",
                   country_code=country, regime=regime,
                   https=request_is_https(request.scope, state.trusted_proxies))

    @property
    def current(self) -> Consent | None:
        return self.consent if self.consent is not None and self.problem is None else None


def _site(request: Request) -> Site:
    raw = request.query_params.get("site", "")
    if not raw.isdigit() or len(raw) > 10:
        raise ApiError(400, "the site parameter must be a site id")
    site: Site | None = request.app.state.resources.settings.site(int(raw))
    if site is None:
        raise ApiError(404, f"unknown site {int(raw)}")
    return site


async def consent_endpoint(request: Request) -> Response:
    try:
        site = _site(request)
    except ApiError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    if request.method == "OPTIONS":
        return preflight_response(request, site)
    headers = cors_headers(request, site) | {"Cache-Control": "no-store"}
    try:
        if request.method != "GET" and foreign_origin(request, site):
            raise ApiError(403, "this origin may not record consent for this site")
        visit = Visit.read(request, site)
        if request.method == "GET":
            return await _get(request, visit, headers)
        if request.method == "POST":
            return await _post(request, visit, headers)
        return await _withdraw(request, visit, headers)
    except ApiError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)


async def _get(request: Request, visit: Visit, headers: dict[str, str]) -> Response:
    site, policy = visit.site, visit.site.consent
    decided: Consent | None = visit.current
    recorded = None
    if decided is None:
        # Signals and law that decide without asking: GPC (or DNT) as a refusal, and, for sites that
        # ask only where opt-in applies, the site's opt-out defaults elsewhere. Both are logged.
        if (visit.gpc and policy.gpc_is_refusal) or (visit.dnt and policy.honour_dnt):
            recorded = await _record(request, visit, categories=[], source="gpc")
        elif policy.banner_scope == "opt-in-only" and visit.regime == "opt-out":
            recorded = await _record(request, visit, categories=policy.opt_out_defaults, source="regime")
        decided = recorded
    reason = None
    if decided is None:
        reason = {CookieProblem.STALE_POLICY: "policy-changed", CookieProblem.EXPIRED: "expired"}.get(
            visit.problem or CookieProblem.MISSING, "no-decision")
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
        "banner": policy.payload(site.policy_version)
        | {"config_hash": policy.config_hash(site.policy_version)},
    }
    response = JSONResponse(body, headers=headers)
    if recorded is not None:
        _set_cookie(request, response, visit, recorded)
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
                            "reload the banner")
    source = body.get("source", "banner")
    if source not in BODY_SOURCES:
        raise ApiError(400, "source must be banner or api")
    language, banner_version = body.get("language", ""), body.get("banner_version", "")
    if not isinstance(language, str) or (language and not LANGUAGE.fullmatch(language)) or len(language) > 35:
        raise ApiError(400, "language must be a language tag like en or zh-CN")
    if not isinstance(banner_version, str) or not re.fullmatch(r"[\w.+-]{0,64}", banner_version):
        raise ApiError(400, "banner_version must be up to 64 letters, digits or . + - _")
    consent = await _record(request, visit, categories=categories, source=str(source), language=language,
                            banner_version=banner_version)
    return _answer(request, visit, consent, headers)


async def _withdraw(request: Request, visit: Visit, headers: dict[str, str]) -> Response:
    consent = await _record(request, visit, categories=[], source="banner", withdraw=True)
    return _answer(request, visit, consent, headers)


async def _read_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/json", "text/plain"):
        raise ApiError(415, "send the decision as application/json (or text/plain holding JSON)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise ApiError(413, f"the body is larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


async def _record(request: Request, visit: Visit, *, categories: Any, source: str, language: str = "",
                  banner_version: str = "", withdraw: bool = False) -> Consent:
    """Log a decision and wait until it is durable; the caller then hands out the cookie."""
    state = request.app.state
    site = visit.site
    consent = decide(site=site, categories=categories, source=source, now=visit.now, previous=visit.consent)
    config_hash = site.consent.config_hash(site.policy_version)
    row = log_row(consent, action_for(consent, visit.consent, withdraw=withdraw),
                  banner_version=f"{banner_version}/{config_hash}" if banner_version else config_hash,
                  language=language, country_code=visit.country_code,
                  browser_family=browser_family(request.headers.get("user-agent", "")),
                  instance=state.resources.settings.instance_name, now=visit.now)
    try:
        accepted = state.resources.writer.submit(CONSENT_LOG_TABLE, [row], urgent=True)
        await asyncio.wait_for(asyncio.shield(accepted), DURABLE_TIMEOUT)
    except (Overloaded, WriterClosed, TimeoutError):
        state.metrics.count("consent_decision", "not-recorded")
        raise ApiError(503, "the decision could not be recorded right now; please try again") from None
    except Rejected:
        state.metrics.count("consent_decision", "rejected")
        raise ApiError(400, "the decision could not be stored") from None
    state.metrics.count("consent_decision", row[3])
    return consent


def _answer(request: Request, visit: Visit, consent: Consent, headers: dict[str, str]) -> Response:
    response = JSONResponse(_receipt(consent) | {"action": "recorded"}, headers=headers)
    _set_cookie(request, response, visit, consent)
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


async def consent_proof(request: Request) -> Response:
    """``GET /api/consents/{id}``: a consent's full history for the site whose token is presented."""
    settings = request.app.state.resources.settings
    token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    site = next((s for s in settings.sites if s.token and hmac.compare_digest(s.token, token)), None)
    if site is None:
        return JSONResponse({"error": "a site token is required: Authorization: Bearer TOKEN"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    try:
        consent_id = uuid.UUID(request.path_params["consent_id"])
    except ValueError:
        return JSONResponse({"error": "not a consent id"}, status_code=400)
    body = await asyncio.to_thread(proof, request.app.state.resources.db, site, consent_id)
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
