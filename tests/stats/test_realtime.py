"""Realtime: the last 30 minutes, per minute, top pages; nothing older, nothing from the future."""

from __future__ import annotations

import datetime as dt

from gateway.stats.realtime import realtime
from gateway.storage.clickhouse import Database
from tests.stats.data import TODAY, A, B, C, D, at, hit, load


def test_the_last_30_minutes(db: Database) -> None:
    load(db, [
        hit(A, at(TODAY, 11, 45), path="/x"),
        hit(B, at(TODAY, 11, 59.5), path="/y"),
        hit(B, at(TODAY, 11, 59.8), path="/x"),
        hit(C, at(TODAY, 11, 31), "ping"),
        hit(D, at(TODAY, 11, 29), path="/old"),  # 31 minutes ago
        hit(D, at(TODAY, 12, 1), path="/future"),  # a clock ahead
        hit(D, at(TODAY, 11, 50), path="/x", site=2),
    ])
    now = at(TODAY, 12, 0)
    result = realtime(db, 1, now)
    assert result["visitors"] == 3 and result["pageviews"] == 3
    assert result["since"] == "2026-11-02T11:30:00Z"
    assert result["pages"] == [{"page": "/x", "visitors": 2}, {"page": "/y", "visitors": 1}]
    assert len(result["minutes"]) == 30
    assert {m: n for m, n in enumerate(result["minutes"]) if n} == {15: 1, 29: 2}
    # ``now`` in another zone is the same instant.
    assert realtime(db, 1, now.astimezone(dt.timezone(dt.timedelta(hours=8)))) == result
