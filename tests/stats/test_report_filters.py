"""Every report runs with its own dimension filtered within whole visits: a query shape, whatever the
moment (so not marked ``dated``: tests/test_any_moment.py need not run it at each hard moment)."""

from __future__ import annotations

import pytest

from gateway.stats.query import parse_query
from gateway.stats.reports import REPORTS, breakdown
from gateway.storage.clickhouse import Database
from tests.stats.data import KEPT, TODAY, ZONE


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_a_report_filtered_on_its_own_dimension_within_whole_visits_runs(shop: Database, name: str) -> None:
    """Its dimension filtered on the hits and picked per visit in one query (found by the fuzz: the
    pick's alias shadowed the column the filter names)."""
    own = REPORTS[name].dims[-1]
    for other, value in (("event_name", "x"), ("source", "Google"), ("page", "/pricing")):
        if other != own:
            q = parse_query({"period": "today", own: "x", other: value}, 1, ZONE, TODAY, kept_from=KEPT)
            assert breakdown(shop, q, name)["rows"] == [], other
