"""The proof of a consent: ``GET /api/consents/ID`` for the site whose token is presented.

A consent id's every decision for that site, oldest first, each with the policy then in force and the
banner configuration shown (its texts and categories, as first served). ``proof`` builds it, for this
endpoint, the dashboard's requests page and the CLI's ``consent show``.
"""

from __future__ import annotations

import asyncio
import hmac
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.config.sites import Site
from gateway.consent.log import config_hash_of, history, shown_configs
from gateway.web.unavailable import OUTAGE, unavailable_response


def site_for_token(request: Request) -> Site | None:
    """The site whose API token the request presents (``Authorization: Bearer TOKEN``), if any."""
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
    site = site_for_token(request)
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
