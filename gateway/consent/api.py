"""The consent API: ``GET``/``POST``/``DELETE /consent?site=ID``, as the banner and the site's server use it.

The banner reads the visitor's state and the site's banner configuration in one request, posts a
decision (JSON, or JSON as ``text/plain`` so ``sendBeacon`` needs no preflight), and withdraws with
DELETE. Every decision goes to the consent log (gateway/consent/record.py: a grant is answered only
once the log holds it; a refusal or withdrawal holds at once, and its answer says ``"logged": false``
while ClickHouse is down).

A client without a current decision writes only a handful of rows (gateway/consent/budget.py):
beyond its budget, GET still honours GPC and DNT but logs nothing and sets no cookie, grants no
opt-out default (the banner asks), and POST or DELETE answer 429. The GET answer's ``automatic``
says which automatic decision applied and whether it was logged.

Cross-site requests cannot decide for a visitor: a POST or DELETE from an origin that is not the
site's is refused (403). HEAD reads like GET and never decides anything. A page the site did not
configure, or one cross-site with the gateway, is named once in the gateway's log
(gateway/consent/origins.py). The proof of a consent is gateway/consent/proof.py.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.config.consent import LANGUAGE, NECESSARY
from gateway.config.sites import Site
from gateway.config.texts import accept_language
from gateway.consent.budget import Allowance, ConsentBudget
from gateway.consent.cookie import Consent, ConsentGate, CookieProblem, cookie_name
from gateway.consent.origins import warn_about_origin
from gateway.consent.record import Waits, record
from gateway.consent.visit import ApiError, Visit, requested_site
from gateway.web.bodies import MALFORMED, BodyError, read_body, refuse, require_type
from gateway.web.cors import cors_headers, foreign_origin, preflight_response

# gateway.rights.http shares the receipt, the cookie and what was shown (receipt, set_cookie, shown_with).
MAX_BODY = 4096
DURABLE_TIMEOUT = 5.0
# An insert still under way when a grant gives up waiting is awaited this much longer: enough for one
# that has not connected yet to fail on the client's connect timeout (5 s), which proves it stored
# nothing. One that connected and hangs may store the row at any later moment.
RETRACT_WAIT = 5.0
BODY_SOURCES = ("banner", "api")
BANNER_VERSION = re.compile(r"[\w.+-]{0,64}")
REPROMPT = {CookieProblem.STALE_POLICY: "policy-changed", CookieProblem.EXPIRED: "expired",
            CookieProblem.REGIME_CHANGED: "regime-changed", CookieProblem.SUPERSEDED: "superseded"}


def _waits() -> Waits:
    return Waits(durable=DURABLE_TIMEOUT, retract=RETRACT_WAIT)  # read at each call: tests shorten them


def _languages(request: Request, site: Site) -> list[str]:
    """Who picks the banner's language: the site's override, then the page (``lang``, from
    ``<html lang>``), then the browser (Accept-Language)."""
    if site.consent.banner.language:
        return [site.consent.banner.language]
    page = request.query_params.get("lang", "")[:35]
    return [page, *accept_language(request.headers.get("accept-language", ""))]


async def consent_endpoint(request: Request) -> Response:
    """``/consent?site=ID``: read the visitor's state (GET, HEAD), decide (POST), withdraw (DELETE)."""
    try:
        site = requested_site(request)
    except ApiError as exc:
        return JSONResponse(exc.body, status_code=exc.status,
                            headers={"Cache-Control": "no-store"})
    warn_about_origin(request, site)
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
                                            withdraw=True, **shown_with(request))
        raise ApiError(405, "use GET, POST or DELETE")
    except ApiError as exc:
        if exc.retry_after:
            headers["Retry-After"] = str(math.ceil(exc.retry_after))
        return JSONResponse(exc.body, status_code=exc.status, headers=headers)


async def _get(request: Request, visit: Visit, headers: dict[str, str], *, decide_signals: bool) -> Response:
    site = visit.site
    decided: Consent | None = visit.current
    recorded, automatic, refused = None, None, False
    signal = _automatic(visit) if decide_signals else None
    if signal is not None:
        source, categories = signal
        budget: ConsentBudget = request.app.state.consent_budget
        # Ending a current default of opt-out law is always logged: it takes a grant back, and the
        # cookie it replaces is superseded, so a replay of that cookie spends the budget below.
        over = 0.0 if decided is not None else _spend(request, visit, budget.automatic, source)
        if not over:
            recorded = await record(request, visit, _waits(), categories=categories, source=source)
            decided = recorded.consent
            automatic = {"source": source, "logged": recorded.logged}
        else:
            # Over the budget: a signal's refusal holds all the same, without a row or a cookie (no
            # cookie of this client grants anything); an opt-out default is not granted: the banner asks.
            refused = source != "regime"
            automatic = {"source": source, "logged": False, "reason": "budget"}
    reason = None
    if decided is None and not refused:
        reason = REPROMPT.get(visit.problem or CookieProblem.MISSING, "no-decision")
    body = {
        "site": site.id,
        "decided": decided is not None or refused,
        "show_banner": decided is None and not refused,
        "reason": reason,
        "categories": sorted(decided.categories) if decided else [NECESSARY],
        "policy_version": site.policy_version,
        "consent": receipt(decided) if decided else None,
        "automatic": automatic,
        "gpc": visit.gpc,
        "regime": visit.regime,
        "banner": visit.banner.pick(_languages(request, site)),
    }
    response = JSONResponse(body, headers=headers)
    if recorded is not None:
        set_cookie(request, response, visit, recorded.consent)
    return response


def _automatic(visit: Visit) -> tuple[str, list[str]] | None:
    """The decision signals and law make without asking, if any (source, categories): GPC (and DNT
    where the site honours it) as a refusal, also ending a default granted under opt-out law; and
    for sites that ask only where opt-in applies, the site's opt-out defaults elsewhere."""
    policy, decided = visit.site.consent, visit.current
    if decided is not None and decided.source != "regime":
        return None
    if visit.gpc and policy.gpc_is_refusal:
        return "gpc", []
    if visit.dnt and policy.honour_dnt:
        return "dnt", []
    if decided is None and policy.banner_scope == "opt-in-only" and visit.regime == "opt-out":
        return "regime", list(policy.opt_out_defaults)
    return None


def _spend(request: Request, visit: Visit, allowance: Allowance, what: str) -> float:
    """0 when this client may write one more row of ``allowance`` now (and counts it); else the seconds
    until it may. A client without an address has no budget. Budgets keep their own, monotonic time."""
    clock = request.app.state.consent_budget.clock
    wait = 0.0 if visit.client is None else allowance.spend(visit.client, clock())
    if wait:
        request.app.state.metrics.count("consent_budget", what)
    return wait


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


def shown_with(request: Request) -> dict[str, str]:
    """A withdrawal's language and banner version, from the query (DELETE has no body). Bad values
    are left out rather than refused: nothing may stand in the way of a withdrawal."""
    language = request.query_params.get("language", "")
    banner_version = request.query_params.get("banner_version", "")
    return {"language": language if _valid_language(language) else "",
            "banner_version": banner_version if _valid_banner_version(banner_version) else ""}


async def _read_body(request: Request) -> dict[str, Any]:
    """The decision's JSON object. Bodies are read (and their refusals counted) by gateway.web.bodies."""
    try:
        require_type(request, ("application/json", "text/plain"),
                     "send the decision as application/json (or text/plain holding JSON)")
        raw = await read_body(request, MAX_BODY)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise refuse(request, 400, MALFORMED, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise refuse(request, 400, MALFORMED, "the body must be a JSON object")
    except BodyError as exc:
        raise ApiError(exc.status, exc.message) from None
    return body


async def _record_and_answer(request: Request, visit: Visit, headers: dict[str, str],
                             **decision: Any) -> Response:
    if visit.current is None:  # a client that keeps no cookie would write a row on every request
        wait = _spend(request, visit, request.app.state.consent_budget.banner, "banner")
        if wait:
            raise ApiError(429, "too many decisions from this network without a consent cookie; "
                                "try again later", retry_after=wait)
    recorded = await record(request, visit, _waits(), **decision)
    response = JSONResponse(receipt(recorded.consent) | {"logged": recorded.logged}, headers=headers)
    set_cookie(request, response, visit, recorded.consent)
    return response


def receipt(consent: Consent) -> dict[str, Any]:
    return {"consent_id": str(consent.consent_id), "decided_at": _iso(consent.decided_at),
            "expires_at": _iso(consent.expires_at), "categories": sorted(consent.categories),
            "policy_version": consent.policy_version, "source": consent.source}


def set_cookie(request: Request, response: Response, visit: Visit, consent: Consent) -> None:
    gate: ConsentGate = request.app.state.consent_gate
    policy = visit.site.consent
    response.set_cookie(cookie_name(visit.site.id), gate.codec.dumps(consent),
                        max_age=policy.lifetime_days * 86400, path="/", domain=policy.cookie_domain or None,
                        secure=visit.https, httponly=True, samesite="lax")


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")

