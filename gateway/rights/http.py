"""The rights over HTTP: the visitor's ``/consent/data`` and the site owner's token endpoints.

Visitor (authorised by nothing but their own signed consent cookie for the site):
  ``GET /consent/data?site=ID``     the visitor-data document (``gateway.rights.data``), as a download
  ``DELETE /consent/data?site=ID``  erase every event; the decision becomes a refusal (cookie updated)
Site owner (``Authorization: Bearer <site token>``):
  ``GET|DELETE /api/consents/{consent_id}/data``   by the consent id the visitor reads on their receipt
  ``GET|DELETE /api/user-data?site=ID&uid=UID``    by the site's own user id (Matomo ``uid``)

HEAD reads like GET (Starlette routes it wherever GET goes); only DELETE erases.
A cookie that is missing, forged or for another site gets 404: no one reads anyone else's data.
DELETE follows the consent API's cross-site rule (403 from an origin that is not the site's); both
methods answer CORS like ``/consent`` (a foreign page cannot read the export). Each consent id gets
a few requests per ten minutes (429). ClickHouse down: 503 with Retry-After, never a 500
(``gateway.web.unavailable``).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.config.sites import Site
from gateway.consent.api import receipt, set_cookie, shown_with
from gateway.consent.cookie import Consent
from gateway.consent.log import log_row
from gateway.consent.proof import site_for_token
from gateway.consent.visit import ApiError, Visit, requested_site
from gateway.ingest.hit import user_id_hash
from gateway.rights import audit
from gateway.rights.service import Rights, Unavailable
from gateway.useragent.parse import browser_family
from gateway.web.cors import cors_headers, foreign_origin, preflight_response
from gateway.web.unavailable import unavailable_response

WHAT = "rights API"
MAX_UID = 256
NO_COOKIE = ("no consent cookie for this site in this browser: nothing is stored about this browser, "
             "or the consent was recorded in another browser")


def _download(document: dict[str, Any], name: str, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(document, headers=headers | {
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


async def visitor_data(request: Request) -> Response:
    try:
        site = requested_site(request)
    except ApiError as exc:
        return JSONResponse(exc.body, status_code=exc.status, headers={"Cache-Control": "no-store"})
    if request.method == "OPTIONS":
        return preflight_response(request, site)
    headers = cors_headers(request, site) | {"Cache-Control": "no-store"}
    if request.method == "DELETE" and foreign_origin(request, site):
        return JSONResponse({"error": "this origin may not erase data for this site"}, status_code=403,
                            headers=headers)
    visit = Visit.read(request, site)
    consent = visit.consent  # any decision signed for this site, even superseded: it is still theirs
    if consent is None:
        return JSONResponse({"error": NO_COOKIE}, status_code=404, headers=headers)
    state = request.app.state
    wait = state.rights_limit.retry_after(consent.consent_id, visit.now)
    if wait:
        return JSONResponse({"error": "too many data requests for this consent; try again later"},
                            status_code=429, headers=headers | {"Retry-After": str(int(wait) + 1)})
    rights: Rights = state.rights
    try:
        if request.method in ("GET", "HEAD"):  # HEAD reads like GET; only DELETE erases
            document = await rights.export(site, [consent.consent_id],
                                           audit.Request(site.id, "export", consent.consent_id, "visitor"),
                                           visit.now)
            return _download(document, f"consent-data-{site.id}-{consent.consent_id}.json", headers)
        refusal = await rights.refusal(site, consent.consent_id, visit.now, source="banner", previous=consent)
        shown = shown_with(request)
        config_hash = visit.banner.config_hash
        agent = browser_family(request.headers.get("user-agent", ""))

        def row(decision: Consent, at: float) -> tuple[Any, ...]:
            version = f"{shown['banner_version']}/{config_hash}" if shown["banner_version"] else config_hash
            return log_row(decision, "erase", banner_version=version, language=shown["language"],
                           country_code=visit.country_code, browser_family=agent,
                           instance=state.resources.settings.instance_name, now=at)

        erased = await rights.erase(site, [refusal], audit.Request(site.id, "erase", consent.consent_id,
                                                                     "visitor"), visit.now, row=row)
    except Unavailable as exc:
        return unavailable_response(request, WHAT, cause=exc, headers=headers)
    state.metrics.count("rights", "visitor-erase")
    response = JSONResponse({"erased": erased, "consent": receipt(refusal), "logged": True}, headers=headers)
    set_cookie(request, response, visit, refusal)
    return response


def _owner_site(request: Request) -> Site | JSONResponse:
    site: Site | None = site_for_token(request)
    if site is None:
        return JSONResponse({"error": "a site token is required: Authorization: Bearer TOKEN"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return site


async def owner_consent_data(request: Request) -> Response:
    site = _owner_site(request)
    if isinstance(site, JSONResponse):
        return site
    try:
        consent_id = uuid.UUID(request.path_params["consent_id"])
    except ValueError:
        return JSONResponse({"error": "not a consent id"}, status_code=400,
                            headers={"Cache-Control": "no-store"})
    rights: Rights = request.app.state.rights
    now = request.app.state.consent_gate.clock()
    try:
        if not await rights.known(site, consent_id):
            return JSONResponse({"error": f"nothing is recorded under {consent_id} for site {site.id}"},
                                status_code=404)
        return await _owner_act(request, rights, site, [consent_id], consent_id, "", now)
    except Unavailable as exc:
        return unavailable_response(request, WHAT, cause=exc)


async def owner_user_data(request: Request) -> Response:
    site = _owner_site(request)
    if isinstance(site, JSONResponse):
        return site
    raw_site, uid = request.query_params.get("site", ""), request.query_params.get("uid", "")
    if raw_site != str(site.id):
        return JSONResponse({"error": "the site parameter must name the site this token belongs to"},
                            status_code=403)
    if not uid or len(uid) > MAX_UID:
        return JSONResponse({"error": f"uid must be the site's user id, 1 to {MAX_UID} characters"},
                            status_code=400)
    user_hash = user_id_hash(request.app.state.uid_key, site.id, uid)
    rights: Rights = request.app.state.rights
    try:
        consent_ids = await rights.consent_ids_for_user(site, user_hash)
        if not consent_ids:
            return JSONResponse({"error": f"no events of this user id are stored for site {site.id}"},
                                status_code=404)
        return await _owner_act(request, rights, site, consent_ids, None, user_hash,
                                request.app.state.consent_gate.clock())
    except Unavailable as exc:
        return unavailable_response(request, WHAT, cause=exc)


async def _owner_act(request: Request, rights: Rights, site: Site, consent_ids: list[uuid.UUID],
                     one: uuid.UUID | None, user_hash: str, now: float) -> Response:
    headers = {"Cache-Control": "no-store"}
    if request.method in ("GET", "HEAD"):  # HEAD reads like GET; only DELETE erases
        document = await rights.export(site, consent_ids, audit.Request(site.id, "export", one, "site-token"),
                                       now, user_hash=user_hash)
        name = f"consent-data-{site.id}-{one}.json" if one else f"user-data-{site.id}.json"
        return _download(document, name, headers)
    refusals = [await rights.refusal(site, cid, now) for cid in consent_ids]
    erased = await rights.erase(site, refusals, audit.Request(site.id, "erase", one, "site-token"), now,
                                user_hash=user_hash)
    return JSONResponse({"erased": erased, "consent_ids": [str(c) for c in consent_ids]}, headers=headers)
