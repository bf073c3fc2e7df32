"""Realtime: the last 30 minutes, per minute, top pages; nothing older, nothing from the future."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.stats.realtime import realtime
from gateway.storage.clickhouse import Database
from tests.stats.data import KEPT, A, B, C, D, hit, load
from tests.support.clock import MOMENT

pytestmark = pytest.mark.dated  # placed around the run's moment: run at the hard ones too


def test_the_last_30_minutes(db: Database) -> None:
    now = MOMENT.instant  # whatever the hour: the window may span midnight, or a summer-time change

    def ago(minutes: float) -> dt.datetime:
        return now - dt.timedelta(minutes=minutes)

    load(db, [
        hit(A, ago(15), path="/x"),
        hit(B, ago(0.5), path="/y"),
        hit(B, ago(0.2), path="/x"),
        hit(C, ago(29), "ping"),
        hit(D, ago(31), path="/old"),
        hit(D, ago(-1), path="/future"),  # a clock ahead
        hit(D, ago(10), path="/x", site=2),
    ])
    result = realtime(db, 1, now, kept_from=KEPT)
    assert result["visitors"] == 3 and result["pageviews"] == 3
    assert result["since"] == ago(30).isoformat().replace("+00:00", "Z")
    assert result["pages"] == [{"page": "/x", "visitors": 2}, {"page": "/y", "visitors": 1}]
    assert len(result["minutes"]) == 30
    assert {m: n for m, n in enumerate(result["minutes"]) if n} == {15: 1, 29: 2}
    # ``now`` in another zone is the same instant.
    assert realtime(db, 1, now.astimezone(dt.timezone(dt.timedelta(hours=8))), kept_from=KEPT) == result
