"""The consent API: ``GET``/``POST``/``DELETE /consent?site=ID`` and the proof ``/api/consents/ID``.

The banner reads the visitor's state and the site's banner configuration in one request, posts a
decision (JSON, or JSON as ``text/plain`` so ``sendBeacon`` needs no preflight), and withdraws with
DELETE. Every decision goes to the consent log. A grant is answered (and its cookie set) only once
the log holds it: no visitor is tracked on a consent the log cannot prove. And the log holds no grant
its visitor was not answered with: a grant not stored within ``DURABLE_TIMEOUT`` is taken back from
the writer and answered 503. Only when an insert that may have stored it failed or is still running
after ``RETRACT_WAIT`` more seconds, or the writer stopped (shutdown) with such an insert, does its row
stay, followed by an ``undelivered`` row, which the writer takes even when full or closing. A process
that dies before writing that row (``kill -9``, or ClickHouse hung until the writer's close gave up)
leaves a grant in the log that was answered 503: the one window left open. A refusal
or withdrawal takes effect at once even when ClickHouse is down: its cookie is set and its row waits
in the writer, and the answer says ``"logged": false``.

A client without a current decision writes only a handful of rows (gateway/consent/budget.py):
beyond its budget, GET still honours GPC and DNT but logs nothing and sets no cookie, grants no
opt-out default (the banner asks), and POST or DELETE answer 429. The GET answer's ``automatic``
says which automatic decision applied and whether it was logged.

Cross-site requests cannot decide for a visitor: a POST or DELETE from an origin that is not the
site's is refused (403). HEAD reads like GET and never decides anything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.config.consent import LANGUAGE, NECESSARY, ShownBanner
from gateway.config.sites import Site
from gateway.config.texts import accept_language
from gateway.consent.budget import Allowance, Client, ConsentBudget
from gateway.consent.cookie import Consent, ConsentGate, CookieProblem, cookie_name, decide
from gateway.consent.log import action_for, config_hash_of, history, log_row, shown_configs, undelivered_row
from gateway.geoip.lookup import GeoDatabaseError
from gateway.rights.ledger import ConsentLedger
from gateway.storage.schema import CONSENT_LOG_TABLE
from gateway.storage.writer import (
    BatchWriter,
    MaybeStored,
    NotDurable,
    Overloaded,
    Rejected,
    Retraction,
    WriterClosed,
)
from gateway.useragent.parse import browser_family
from gateway.web.bodies import MALFORMED, BodyError, read_body, refuse, require_type
from gateway.web.cors import cors_headers, foreign_origin, preflight_response
from gateway.web.proxy import budget_addresses, client_ip, request_is_https
from gateway.web.unavailable import OUTAGE, unavailable_response

log = logging.getLogger(__name__)
MAX_BODY = 4096
DURABLE_TIMEOUT = 5.0
# An insert still under way when a grant gives up waiting is awaited this much longer: enough for one
# that has not connected yet to fail on the client's connect timeout (5 s), which proves it stored
# nothing. One that connected and hangs may store the row at any later moment.
RETRACT_WAIT = 5.0
RETRY_AFTER = 5  # seconds, on a 503: ClickHouse is unavailable right now
BODY_SOURCES = ("banner", "api")
DIGITS = re.compile(r"[0-9]{1,10}")
BANNER_VERSION = re.compile(r"[\w.+-]{0,64}")
REPROMPT = {CookieProblem.STALE_POLICY: "policy-changed", CookieProblem.EXPIRED: "expired",
            CookieProblem.REGIME_CHANGED: "regime-changed", CookieProblem.SUPERSEDED: "superseded"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code  # machine-readable, for the banner: "stale" means reload and ask again
        self.retry_after = retry_after  # seconds, for a Retry-After header (429)

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
    client: Client | None  # the client's networks as keyed hashes, for its budget (None: no address)

    @classmethod
    def read(cls, request: Request, site: Site) -> Visit:
        state = request.app.state
        gate: ConsentGate = state.consent_gate
        now = gate.clock()
        cookie = gate.state(request, site, now)
        resources = state.resources
        ip = client_ip(request.scope, state.trusted_proxies)
        # The client a budget counts, and the local peer (a proxy, a NAT) charged for all its clients.
        budget_ip, budget_peer = budget_addresses(request.scope, state.trusted_proxies, ip)
        country = _country(request, ip)
        budget: ConsentBudget = state.consent_budget
        regime = "opt-in" if not country or country in resources.settings.opt_in_countries else "opt-out"
        problem = cookie.problem
        granted_by_law = cookie.consent is not None and cookie.consent.source == "regime"
        if problem is None and granted_by_law and regime == "opt-in":
            problem = CookieProblem.REGIME_CHANGED  # a default of opt-out law, now seen where opt-in applies
        return cls(site=site, banner=state.banners[site.id], now=now, consent=cookie.consent, problem=problem,
                   gpc=request.headers.get("sec-gpc") == "1", dnt=request.headers.get("dnt") == "1",
                   country_code=country, regime=regime, client=budget.client(budget_ip, budget_peer),
                   https=request_is_https(request.scope, state.trusted_proxies))

    @property
    def current(self) -> Consent | None:
        return self.consent if self.consent is not None and self.problem is None else None


def _country(request: Request, ip: str | None) -> str:
    resources = request.app.state.resources
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
            recorded = await _record(request, visit, categories=categories, source=source)
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
        "consent": _receipt(decided) if decided else None,
        "automatic": automatic,
        "gpc": visit.gpc,
        "regime": visit.regime,
        "banner": visit.banner.pick(_languages(request, site)),
    }
    response = JSONResponse(body, headers=headers)
    if recorded is not None:
        _set_cookie(request, response, visit, recorded.consent)
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


def _shown_with(request: Request) -> dict[str, str]:
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
        logged = await _log(state, row, grant=not restricts)
    except (Overloaded, WriterClosed, NotDurable):
        logged = False
    except Rejected:
        state.metrics.count("consent_decision", "rejected")
        raise ApiError(400, "the decision could not be stored") from None
    if not logged:
        state.metrics.count("consent_decision", f"{action}-not-logged")
        if restricts:
            return Recorded(consent, logged=False)
        log.warning("a consent grant was answered 503: ClickHouse is unavailable or slow")
        raise ApiError(503, "the decision could not be recorded right now; please try again",
                       retry_after=RETRY_AFTER) from None
    state.metrics.count("consent_decision", action)
    if consent.analytics:  # a grant holds once it is logged: only then has the visitor its cookie
        ledger.record(consent.consent_id, decided_at, analytics=True, first=previous is None, at=logged_at)
    return Recorded(consent, logged=True)


async def _log(state: Any, row: tuple[Any, ...], *, grant: bool) -> bool:
    """Submit a decision's row; True once it is durable. A refusal's row not durable in time waits in
    the writer. A grant's is taken back, so the log shows no grant its visitor was answered 503 for;
    if an insert may have stored it all the same, an ``undelivered`` row follows it."""
    writer: BatchWriter = state.resources.writer
    accepted = writer.submit(CONSENT_LOG_TABLE, [row], urgent=True)
    try:
        await asyncio.wait_for(asyncio.shield(accepted), DURABLE_TIMEOUT)
        return True
    except TimeoutError:
        if not grant:
            return False
        outcome = await writer.retract(CONSENT_LOG_TABLE, accepted, wait=RETRACT_WAIT)
    except MaybeStored:  # the writer is closing, and an insert that may have stored the row never ended
        if not grant:
            return False
        outcome = Retraction.KEPT
    if outcome is Retraction.KEPT:
        state.metrics.count("consent_decision", f"{row[3]}-undelivered")
        try:
            # Forced: taken even when a hang under tracking load has filled the writer to max_pending,
            # and while it closes. One row per grant the writer already holds and this request answers
            # 503 for, so bounded by those (each taken under max_pending) and the API's concurrency.
            writer.submit(CONSENT_LOG_TABLE, [undelivered_row(row)], urgent=True, force=True)
        except WriterClosed:  # only once the writer's last attempt is over: the crash window above
            log.error("a grant answered 503 may stay in the consent log: the writer took no undelivered row")
    return outcome is Retraction.STORED


async def _record_and_answer(request: Request, visit: Visit, headers: dict[str, str],
                             **decision: Any) -> Response:
    if visit.current is None:  # a client that keeps no cookie would write a row on every request
        wait = _spend(request, visit, request.app.state.consent_budget.banner, "banner")
        if wait:
            raise ApiError(429, "too many decisions from this network without a consent cookie; "
                                "try again later", retry_after=wait)
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
    except OUTAGE as exc:  # down, unreachable or slow: not our fault
        return unavailable_response(request, "the proof of a consent", cause=exc,
                                    message="the consent log is unavailable right now; please try again "
                                            "shortly")
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
