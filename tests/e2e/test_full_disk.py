"""Story: the spool's disk fills up under load; hits get 503, never 500, and come back by themselves.

The real ``consent-gateway serve`` runs with its data folder on a 2 MiB tmpfs and its ClickHouse
(the stand-in) elsewhere; a visitor who granted analytics keeps sending hits. First the spool
itself fills what a ballast file leaves free (issue 16: its one segment, all acknowledged, was
never deleted, and every hit got 503 until a restart); then the ballast takes every byte and keeps
taking what frees up, until it is deleted. Every hit answered 2xx must be in ClickHouse, once, and
none answered 503. The figures (recovery times, 503s) are printed; ``benchmarks/full_disk.py``
runs the same at a larger scale. Skipped, with the reason, where no tmpfs can be mounted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.full_disk import MountRefused, Setup, gateway_on_tmpfs, health, outage_round
from tests.support.load import HitLoad, stored_markers, tally

RECOVERY = 5.0  # seconds the gateway may take to answer 2xx again once the disk has room


@pytest.fixture
def setup(tmp_path: Path, city_db: Path) -> Iterator[Setup]:
    # No fixed ports, so that parallel or repeated runs never collide: the gateway gets a free one
    # (gateway_process.free_port), and the stand-in binds port 0 and reports the one it got.
    try:
        with gateway_on_tmpfs(tmp_path, city_db, size=2 * 2**20) as running:
            yield running
    except MountRefused as exc:
        pytest.skip(f"cannot mount a small disk for the spool: {exc}")


def test_a_full_spool_disk_answers_503_then_recovers_without_a_restart(setup: Setup) -> None:
    with HitLoad(setup.gateway.base, setup.cookies, tag="fulldisk", concurrency=4) as load:
        result = outage_round(setup, load, free=128 * 1024, refused=20, timeout=20)
    answers = load.result
    deadline = time.monotonic() + 10
    while (status := health(setup.gateway))[1]["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the writer's last flush (its interval is 0.2 s here)
    figures = tally(answers, stored_markers(setup.clickhouse_url, "fulldisk"))
    print(f"phase 1: {result.phase1_acknowledged} acknowledged past {result.free} bytes free, "
          f"{result.phase1_refused} 503s; phase 2: {result.phase2_refused} 503s, 2xx again "
          f"{result.recovery}s after the ballast went; {figures.line()}")
    # The spool freed its own acknowledged segments: three times what the free space holds went through.
    assert result.phase1_acknowledged >= result.phase1_target, result
    if result.phase1_refused:
        assert result.self_recovery is not None and result.self_recovery < RECOVERY, result
    # A full disk: 503 (never 500), and health says so: degraded, with the spool's reason for the
    # operator, and 503 so that a load balancer sends hits elsewhere.
    assert result.phase2_refused >= 20
    refusing = [(code, body) for code, body in result.health_seen if body.get("status") == "degraded"
                and body["checks"]["spool"]["status"] == "refusing"]
    assert refusing, result.health_seen
    code, body = refusing[0]
    assert code == 503 and body["checks"]["spool"]["reason"].startswith("spool disk full since ")
    # Room again: 2xx within seconds, no restart, and health back to ok.
    assert result.recovery is not None and result.recovery < RECOVERY, result
    assert result.after_recovery is not None
    assert status[0] == 200 and status[1]["status"] == "ok"
    assert set(answers.statuses) <= {204, 503} and not answers.errors, answers
    assert figures.lost == 0 and figures.duplicates == 0 and figures.unanswered_stored == 0, figures.line()
    assert "Traceback" not in setup.gateway.log
