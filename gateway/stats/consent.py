"""Consent statistics from the consent log: how visitors decided, over time. Counts only.

Decisions the visitor made (source ``banner`` or ``api``) are classified against the site's own
categories: accept all (a grant or update with every category), reject all (a refusal, or a grant
of the required ones only), custom (any other grant or update) and withdraw. The opt-in rate is the
share of those decisions, withdrawals left out, that allow analytics.

Decisions nobody was asked for are counted apart, under ``automatic``, and never enter the rate: a
browser signal taken as a refusal (``gpc``, ``dnt``) and a site's opt-out defaults (``regime``).
They say what browsers send, not what people chose, and a client that keeps no cookie would repeat
them on every request (each client writes only a few: gateway/consent/budget.py).

An ``undelivered`` row says the decision logged under the same id and time never took effect: a
grant answered 503, or a decision answered to a page cross-site with the gateway, whose cookie the
browser does not keep (gateway/consent/record.py), so that such a page asks, and would be counted,
on every page view. Every row with that id and time is left out, the ``undelivered`` one included,
as ``gateway/rights/sync.py`` does. Matched by id and time rather than counted against
its grant, a grant stored twice or a twin whose grant was never stored changes nothing. The log
holds no per-person data to filter by, so only the range applies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from gateway.config.consent import ANALYTICS
from gateway.config.sites import Site
from gateway.stats.engine import DT, Params, Span
from gateway.stats.query import StatsQuery
from gateway.stats.timeseries import Key, bucket_sql, buckets, series

KINDS = ("accept_all", "reject_all", "custom", "withdraw")
AUTOMATIC = ("gpc", "dnt", "regime")  # sources that decide without asking
ASKED = ("banner", "api")  # sources of the decisions the opt-in rate is over


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
    """``{"unit", "labels", "series": {kind: [...]}, "totals": {kind: n}, "opt_in_rate", "rate_of",
    "automatic": {source: n}, "previous": {"totals", "opt_in_rate", "automatic"}}``; rates in
    percent, None without decisions; ``rate_of``: the sources of the decisions the rate is over."""
    every = site.consent.category_ids
    required = frozenset(c.id for c in site.consent.categories if c.required)
    p = Params()
    span = Span.of(q, with_previous=True)
    where = (f"site_id = {p.bind(site.id, 'UInt32')} "
             f"AND ts >= {p.bind(span.start, DT)} AND ts < {p.bind(span.end, DT)}")
    sql = (f"SELECT {bucket_sql(q.range, p)} AS b, ts >= {p.bind(span.current, DT)} AS cur, "
           "toString(action), arraySort(arrayDistinct(categories)) AS cats, toString(source), count() "
           f"FROM consent_log WHERE {where} AND (consent_id, ts) NOT IN "
           f"(SELECT consent_id, ts FROM consent_log WHERE {where} AND action = 'undelivered') "
           "GROUP BY b, cur, action, cats, source")
    per_bucket: dict[str, Counter[Key]] = {kind: Counter() for kind in KINDS}
    totals = {True: Counter[str](), False: Counter[str]()}
    automatic = {True: Counter[str](), False: Counter[str]()}
    analytics = Counter[bool]()
    for bucket, current, action, categories, source, count in db.query(sql, p.values):
        now = bool(current)
        if source in AUTOMATIC:
            automatic[now][source] += count
            continue
        kind = classify(action, categories, every, required)
        per_bucket[kind][bucket] += count
        totals[now][kind] += count
        if action in ("grant", "update") and ANALYTICS in categories:
            analytics[now] += count
    keys = buckets(q.range)
    return {
        "unit": "hour" if q.range.hourly else "day",
        "labels": [label for _, label in keys],
        "series": {kind: series(dict(per_bucket[kind]), keys, len(keys)) for kind in KINDS},
        "totals": {kind: totals[True][kind] for kind in KINDS},
        "opt_in_rate": _rate(analytics[True], totals[True]),
        "rate_of": list(ASKED),
        "automatic": {source: automatic[True][source] for source in AUTOMATIC},
        "previous": {"totals": {kind: totals[False][kind] for kind in KINDS},
                     "opt_in_rate": _rate(analytics[False], totals[False]),
                     "automatic": {source: automatic[False][source] for source in AUTOMATIC}},
    }


def _rate(allowing: int, totals: Counter[str]) -> float | None:
    decisions = sum(n for kind, n in totals.items() if kind != "withdraw")
    return round(allowing / decisions * 100, 1) if decisions > 0 else None
