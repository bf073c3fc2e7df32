"""The ``rights`` CLI commands as operations: run in the serving gateway, or directly when none serves.

In the gateway they use its ``Rights`` (the ledger, the writer: an erasure there also drops the
visitor's buffered rows and is honoured at once); directly, a ``Rights`` on the database alone, whose
erasure row in the consent log makes the next start drop anything the spool kept of the visitor.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from gateway.config.sites import Site
from gateway.control import ControlError, OpContext, operation
from gateway.ingest.endpoint import uid_key
from gateway.ingest.hit import user_id_hash
from gateway.rights import audit
from gateway.rights.service import Rights, Unavailable


def _rights(context: OpContext) -> Rights:
    rights = getattr(context.state, "rights", None) if context.state is not None else None
    return rights if isinstance(rights, Rights) else Rights(context.settings, context.db)


def _site(context: OpContext, args: dict[str, Any]) -> Site:
    site = context.settings.site(int(args.get("site", 0)))
    if site is None:
        raise ControlError(f"unknown site {args.get('site')}: see `consent-gateway check-config`")
    return site


async def _subject(context: OpContext, rights: Rights, site: Site,
                   args: dict[str, Any]) -> tuple[list[uuid.UUID], uuid.UUID | None, str]:
    """(consent ids, the one asked for or None for a user id, the user id's hash or "")."""
    if args.get("consent"):
        try:
            consent_id = uuid.UUID(str(args["consent"]))
        except ValueError:
            raise ControlError(f"{str(args['consent'])[:64]!r} is not a consent id") from None
        if not await rights.known(site, consent_id):
            raise ControlError(f"nothing is recorded under {consent_id} for site {site.id}")
        return [consent_id], consent_id, ""
    uid = str(args.get("uid", ""))
    if not uid:
        raise ControlError("name the visitor: --consent ID or --uid UID")
    user_hash = user_id_hash(uid_key(context.settings), site.id, uid)
    consent_ids = await rights.consent_ids_for_user(site, user_hash)
    if not consent_ids:
        raise ControlError(f"no events of this user id are stored for site {site.id}")
    return consent_ids, None, user_hash


@operation("rights.export")
async def export(context: OpContext, args: dict[str, Any]) -> dict[str, Any]:
    rights, site = _rights(context), _site(context, args)
    try:
        consent_ids, one, user_hash = await _subject(context, rights, site, args)
        request = audit.Request(site.id, "export", one, "cli")
        return await rights.export(site, consent_ids, request, time.time(), user_hash=user_hash)
    except Unavailable as exc:
        raise ControlError(f"ClickHouse is unavailable: {exc}") from None


@operation("rights.erase")
async def erase(context: OpContext, args: dict[str, Any]) -> dict[str, Any]:
    rights, site = _rights(context), _site(context, args)
    now = time.time()
    try:
        consent_ids, one, user_hash = await _subject(context, rights, site, args)
        refusals = [await rights.refusal(site, cid, now) for cid in consent_ids]
        erased = await rights.erase(site, refusals, audit.Request(site.id, "erase", one, "cli"), now,
                                    user_hash=user_hash)
    except Unavailable as exc:
        raise ControlError(f"ClickHouse is unavailable: {exc}") from None
    return {"site": site.id, "consent_ids": [str(c) for c in consent_ids], "erased": erased}


@operation("rights.log")
async def log(context: OpContext, args: dict[str, Any]) -> list[dict[str, Any]]:
    site_id = int(args["site"]) if args.get("site") else None
    limit = int(args.get("limit", 100))
    if not 1 <= limit <= 10_000:
        raise ControlError("--limit must be 1 to 10000")
    try:
        return await _rights(context).log(site_id, limit=limit)
    except Unavailable as exc:
        raise ControlError(f"ClickHouse is unavailable: {exc}") from None
