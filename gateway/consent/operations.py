"""The CLI's operations on ClickHouse, run by ``gateway.control`` in the gateway or on their own.

Each takes JSON arguments, checks them (a ``ControlError`` for bad input or nothing found) and returns
JSON data for the CLI to format. ClickHouse is called in a thread, as the HTTP handlers call it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from gateway.consent.log import history
from gateway.consent.proof import proof
from gateway.control import ControlError, OpContext, operation


@operation("consent.show")
async def consent_show(context: OpContext, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Every configured site's proof for one consent id (as ``GET /api/consents/ID`` gives it)."""
    try:
        consent_id = uuid.UUID(str(args.get("consent_id", "")))
    except ValueError:
        raise ControlError(f"{str(args.get('consent_id', ''))[:64]!r} is not a consent id") from None
    proofs = await asyncio.to_thread(_proofs, context, consent_id)
    if not proofs:
        raise ControlError(f"no decisions are logged under {consent_id}")
    return proofs


def _proofs(context: OpContext, consent_id: uuid.UUID) -> list[dict[str, Any]]:
    site_ids = {row["site_id"] for row in history(context.db, consent_id)}
    return [proof(context.db, site, consent_id) for site in context.settings.sites if site.id in site_ids]
