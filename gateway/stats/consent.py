"""Consent statistics from the consent log: how visitors decided, over time. Counts only.

Decisions are classified against the site's own categories: accept all (a grant or update with
every category), reject all (a refusal, or a grant of the required ones only), custom (any other
grant or update) and withdraw. The opt-in rate is the share of decisions, withdrawals left out, that
allow analytics. The log holds no per-person data to filter by, so only the range applies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from gateway.consent_config import ANALYTICS
from gateway.sites import Site
from gateway.stats.engine import DT, Params, Span
from gateway.stats.query import StatsQuery
from gateway.stats.timeseries import Key, bucket_sql, buckets, series

KINDS = ("accept_all", "reject_all", "custom", "withdraw")


def classify(action: str, categories: Sequence[str], every: frozenset[str], required: frozenset[str]) -> str:
    """One decision's kind, given the site's categories and the required ones among them."""
    if action == "withdraw":
        return "withdraw"
    granted = frozenset(categories)
    if action == "refuse":
        return "reject_all"
    if every <= granted and every - required:
        return "accept_all"
    return "reject_all" if granted <= required else "custom"


def consent_stats(db: Any, q: StatsQuery, site: Site) -> dict[str, Any]:
    """``{"unit", "labels", "series": {kind: [...]}, "totals": {kind: n}, "opt_in_rate",
    "previous": {"totals", "opt_in_rate"}}``; rates in percent, None without decisions."""
    every = site.consent.category_ids
    required = frozenset(c.id for c in site.consent.categories if c.required)
    p = Params()
    span = Span.of(q, with_previous=True)
    sql = (f"SELECT {bucket_sql(q.range, p)} AS b, ts >= {p.bind(span.current, DT)} AS cur, "
           "toString(action), arraySort(arrayDistinct(categories)) AS cats, count() FROM consent_log "
           f"WHERE site_id = {p.bind(site.id, 'UInt32')} AND ts >= {p.bind(span.start, DT)} "
           f"AND ts < {p.bind(span.end, DT)} GROUP BY b, cur, action, cats")
    per_bucket: dict[str, Counter[Key]] = {kind: Counter() for kind in KINDS}
    totals = {True: Counter[str](), False: Counter[str]()}
    analytics = Counter[bool]()
    for bucket, current, action, categories, count in db.query(sql, p.values):
        kind = classify(action, categories, every, required)
        per_bucket[kind][bucket] += count
        totals[bool(current)][kind] += count
        if action in ("grant", "update") and ANALYTICS in categories:
            analytics[bool(current)] += count
    keys = buckets(q.range)
    return {
        "unit": "hour" if q.range.hourly else "day",
        "labels": [label for _, label in keys],
        "series": {kind: series(dict(per_bucket[kind]), keys, len(keys)) for kind in KINDS},
        "totals": {kind: totals[True][kind] for kind in KINDS},
        "opt_in_rate": _rate(analytics[True], totals[True]),
        "previous": {"totals": {kind: totals[False][kind] for kind in KINDS},
                     "opt_in_rate": _rate(analytics[False], totals[False])},
    }


def _rate(allowing: int, totals: Counter[str]) -> float | None:
    decisions = sum(n for kind, n in totals.items() if kind != "withdraw")
    return round(allowing / decisions * 100, 1) if decisions else None
