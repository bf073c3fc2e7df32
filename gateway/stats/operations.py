"""``consent-gateway stats rebuild`` as an operation: run in the serving gateway (which holds an
embedded ClickHouse), or directly when none serves.

A rebuild makes the visit summary of the closed days again (``gateway/stats/summary_build.py``),
whatever their fingerprints say: after changing how visits are cut, after restoring a backup of
``events``, or to check that a build agrees. Each day is one new generation, registered only if the
day's hits did not change meanwhile, so a rebuild may run while the gateway serves and builds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from gateway.control import ControlError, OpContext, operation
from gateway.control.registry import one_line
from gateway.stats.query import oldest_kept
from gateway.stats.summary_build import build_site


def _day(args: dict[str, Any], key: str) -> dt.date | None:
    text = args.get(key)
    if not text:
        return None
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise ControlError(f"--{key}: not a date like 2026-11-21") from None


@operation("stats.rebuild")
async def rebuild(context: OpContext, args: dict[str, Any]) -> list[dict[str, Any]]:
    """``{"site": N | None, "from": "YYYY-MM-DD" | None, "to": ...}`` -> per site, the days built with
    visits, without (no hit), and raced (changed meanwhile: the builder's next run does them)."""
    settings = context.settings
    sites = settings.sites
    if args.get("site"):
        site = settings.site(int(args["site"]))
        if site is None:
            raise ControlError(f"unknown site {args['site']}: see `consent-gateway check-config`")
        sites = (site,)
    first, last = _day(args, "from") or dt.date.min, _day(args, "to") or dt.date.max
    if first > last:
        raise ControlError("--from must not be after --to")
    clock = getattr(context.state, "clock", None) if context.state is not None else None
    now = clock() if callable(clock) else dt.datetime.now(dt.UTC)
    out = []
    for site in sites:
        try:
            done = await asyncio.to_thread(build_site, context.db, site, now, settings.visit_timeout,
                                           oldest_kept,
                                           days=(first, last), force=True)
        except Exception as exc:  # ClickHouse down or refusing: one line, as every command
            raise ControlError(f"ClickHouse failed the rebuild of site {site.id}: {one_line(exc)}") from None
        out.append({"site": site.id, "built": done["built"], "empty": done["empty"], "raced": done["raced"]})
    return out
