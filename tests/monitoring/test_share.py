"""Workers' samples summed: every worker's counts, live workers' levels, sums that never go back."""

from __future__ import annotations

import asyncio
import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.monitoring import share as metrics_share
from gateway.monitoring.share import WorkerSamples


class Worker:
    """A worker's figures, changed by the test, and its slot in the shared folder."""

    def __init__(self, folder: Path | None) -> None:
        self.received = 0
        self.pending = 0
        self.samples = WorkerSamples(folder, self.sample)

    def sample(self) -> dict[str, Any]:
        return {"counters": {"hits": {"received": self.received}},
                "writer": {"pending_rows": self.pending, "rows_rejected": {"events": self.received}},
                "spool": {"refusing": 0}, "steps": {"consent": {"calls": self.received, "total_ms": 2.0}}}


def received(total: dict[str, Any]) -> int:
    value: int = total["counters"]["hits"]["received"]
    return value


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_share, "INTERVAL", 0.02)
    monkeypatch.setattr(metrics_share, "STALE_AFTER", 1.0)


async def published(folder: Path, *workers: Worker) -> None:
    """Once each worker has published after this call (a loaded machine may take a while)."""
    since, deadline = time.time(), time.monotonic() + 10
    for worker in workers:
        path = folder / f"{worker.samples.slot}.json"
        while not path.exists() or json.loads(path.read_bytes())["written"] <= since:
            assert time.monotonic() < deadline, f"worker {worker.samples.slot} did not publish"
            await asyncio.sleep(0.01)


def test_counts_of_all_workers_and_levels_of_the_live_ones_are_summed(tmp_path: Path) -> None:
    async def run() -> None:
        a, b = Worker(tmp_path), Worker(tmp_path)
        await a.samples.open()
        await b.samples.open()
        assert (a.samples.slot, b.samples.slot) == (0, 1)
        a.received, a.pending, b.received, b.pending = 3, 5, 4, 7
        await published(tmp_path, a, b)
        for asked in (a, b):  # whichever worker a scrape reaches
            total = await asked.samples.gather()
            assert received(total) == 7 and total["writer"]["pending_rows"] == 12
            assert total["writer"]["rows_rejected"] == {"events": 7}
            assert total["steps"]["consent"] == {"calls": 7, "total_ms": 4.0, "mean_us": round(4000 / 7, 2)}
            assert [w["live"] for w in total["workers"].values()] == [True, True]
            assert sorted(w["counters"]["hits"]["received"] for w in total["workers"].values()) == [3, 4]
        b.received = 6
        await b.samples.close()  # exits: its counts stay, its levels go
        total = await a.samples.gather()
        assert received(total) == 9 and total["writer"]["pending_rows"] == 5
        assert total["workers"]["1"]["live"] is False
        successor = Worker(tmp_path)  # uvicorn restarts the worker: it takes the free slot
        await successor.samples.open()
        assert successor.samples.slot == 1
        successor.received = 1
        await published(tmp_path, successor)
        assert received(await a.samples.gather()) == 10  # 3 + 6 + 1: no step back
        assert received(await successor.samples.gather()) == 10
        await successor.samples.close()
        await a.samples.close()

    asyncio.run(run())
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_killed_worker_keeps_its_counts_and_loses_its_levels(tmp_path: Path) -> None:
    async def run() -> None:
        a, killed = Worker(tmp_path), Worker(tmp_path)
        await a.samples.open()
        await killed.samples.open()
        killed.received, killed.pending = 2, 9
        await published(tmp_path, killed)
        assert killed.samples._task is not None
        killed.samples._task.cancel()  # stops publishing, as a SIGKILL would, without a last sample
        assert (await a.samples.gather())["writer"]["pending_rows"] == 9
        await asyncio.sleep(metrics_share.STALE_AFTER + 0.1)
        total = await a.samples.gather()
        assert received(total) == 2 and total["writer"]["pending_rows"] == 0
        await a.samples.close()

    asyncio.run(run())


def test_a_single_process_sums_itself_without_files(tmp_path: Path) -> None:
    async def run() -> None:
        alone = Worker(None)
        await alone.samples.open()
        alone.received = 5
        total = await alone.samples.gather()
        assert received(total) == 5 and list(total["workers"]) == ["0"]
        await alone.samples.close()

    asyncio.run(run())
    assert list(tmp_path.iterdir()) == []


def test_serve_starts_a_run_from_zero(tmp_path: Path) -> None:
    (tmp_path / "0.json").write_text("{}")
    (tmp_path / "0.lock").write_text("")
    metrics_share.clear(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["0.lock"]


def test_a_scrape_answered_by_another_worker_never_shows_less(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """What one worker's answer included stays in every later answer, whichever worker gives it and
    even if the first is killed before it publishes again (found in review: sums went back)."""
    monkeypatch.setattr(metrics_share, "INTERVAL", 3600.0)  # no periodic publishing in this test

    async def run() -> None:
        a, b = Worker(tmp_path), Worker(tmp_path)
        await a.samples.open()
        await b.samples.open()
        a.received = 10
        first = received(await a.samples.gather())
        a.received = 12  # counted after the answer, then the worker is killed: never published
        assert received(await b.samples.gather()) >= first == 10
        await b.samples.close()
        if a.samples._task is not None:
            a.samples._task.cancel()

    asyncio.run(run())


def test_an_older_sample_written_late_never_replaces_a_newer_one(tmp_path: Path) -> None:
    """The periodic publisher's thread may land after a scrape's answer was published: its older
    sample is dropped (found in the second review)."""

    async def run() -> None:
        a = Worker(tmp_path)
        await a.samples.open()
        a.received = 5
        late = a.samples._stamped()  # taken by the periodic publisher, its thread delayed
        a.received = 10
        assert received(await a.samples.gather()) == 10  # published first, then answered
        a.samples._write(*late, False)
        record = json.loads((tmp_path / f"{a.samples.slot}.json").read_bytes())
        assert received(record["sample"]) == 10
        await a.samples.close()

    asyncio.run(run())
