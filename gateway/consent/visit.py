"""What the consent endpoints read from one request: the site it names, and the visitor as it stands.

``Visit.read`` takes the cookie's decision (current or not, and why not), the browser's signals (GPC,
DNT), the country and the regime it implies, and the key of the client's budget; the IP is used there
and dropped. ``ApiError`` is every refusal the consent endpoints answer, as JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request

from gateway.config.consent import ShownBanner
from gateway.config.sites import Site
from gateway.consent.budget import Client, ConsentBudget
from gateway.consent.cookie import Consent, ConsentGate, CookieProblem
from gateway.geoip.lookup import GeoDatabaseError
from gateway.web.proxy import budget_addresses, client_ip, request_is_https

DIGITS = re.compile(r"[0-9]{1,10}")


class ApiError(Exception):
    """A refusal, answered as JSON with its status (and ``Retry-After`` when it says when to come back)."""

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
        country = country_of(request, ip)
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


def country_of(request: Request, ip: str | None) -> str:
    """The client's country code, or "" without a GeoIP database or an address."""
    resources = request.app.state.resources
    if resources.geo is None or not ip:
        return ""
    try:
        return str(resources.geo.lookup(ip).country_code)
    except GeoDatabaseError:  # a damaged database: no geography, which counts as opt-in
        request.app.state.metrics.count("geoip", "lookup-failed")
        return ""


def requested_site(request: Request) -> Site:
    """The site of the ``site`` query parameter; 400 when it is no id, 404 when no site has it."""
    raw = request.query_params.get("site", "")
    if not DIGITS.fullmatch(raw):
        raise ApiError(400, "the site parameter must be a site id")
    site: Site | None = request.app.state.resources.settings.site(int(raw))
    if site is None:
        raise ApiError(404, f"unknown site {int(raw)}")
    return site

