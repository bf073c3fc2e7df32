"""Benchmark: a full spool disk under load, and how fast the gateway recovers by itself.

The real ``consent-gateway serve`` with its data folder (and so its spool) on a tmpfs of ``--size``
MiB, its ClickHouse the stand-in on the ordinary disk, and ``--concurrency`` senders of consented
hits that record every answer (``tests/support/load.py``). Each of ``--rounds`` rounds:
  1. a ballast file leaves ``--free`` KiB free and the spool fills them itself (the audit's outage in
     issue 16: before the fix the spool's one segment, fully acknowledged, was never deleted and
     every hit got 503 until a restart); the round waits until three times what fits was answered;
  2. the ballast takes all the free space and keeps taking what frees up, until ``--refused`` hits
     got 503; then it is deleted, and the time to the next hit answered 2xx is the recovery time.
At the end: hits answered 2xx, 503s, other answers, stored, lost (must be 0), duplicates, and the
recovery times (best/median over the rounds). Needs root (it mounts a tmpfs). Not a test:
    .venv/bin/python -m benchmarks.full_disk [--rounds 5] [--size 8] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from tests.geoip_fixture import build_city_db
from tests.support.full_disk import MountRefused, Round, gateway_on_tmpfs, outage_round
from tests.support.load import HitLoad, stored_markers, tally


def seconds(values: list[float | None]) -> str:
    done = [v for v in values if v is not None]
    if not done:
        return "never (within the timeout)"
    stuck = len(values) - len(done)
    text = f"best {min(done) * 1000:.0f} ms, median {statistics.median(done) * 1000:.0f} ms"
    return text + (f", {stuck} round(s) never recovered" if stuck else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=8, help="MiB of the tmpfs under the data folder")
    parser.add_argument("--free", type=int, default=512, help="KiB the ballast leaves free in phase 1")
    parser.add_argument("--refused", type=int, default=200, help="503s to see while the disk is full")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--flush-interval", type=float, default=1.0, help="the writer's (the default)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for each wait")
    parser.add_argument("--port", type=int, default=0, help="the gateway's (default: a free one)")
    args = parser.parse_args()
    rounds: list[Round] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="full-disk-")))
        try:
            setup = stack.enter_context(gateway_on_tmpfs(
                tmp, build_city_db(tmp / "city.mmdb"), size=args.size * 2**20, port=args.port or None,
                flush_interval=args.flush_interval))
        except MountRefused as exc:
            sys.exit(f"cannot run: {exc}")
        started = time.monotonic()
        load = HitLoad(setup.gateway.base, setup.cookies, tag="fulldisk", concurrency=args.concurrency)
        load.start()
        try:
            for number in range(1, args.rounds + 1):
                result = outage_round(setup, load, free=args.free * 1024, refused=args.refused,
                                      timeout=args.timeout)
                rounds.append(result)
                print(f"round {number}: phase 1 {result.phase1_acknowledged}/{result.phase1_target} "
                      f"acknowledged past {result.free // 1024} KiB free, {result.phase1_refused} 503s, "
                      f"back after the first 503 in {fmt(result.self_recovery)}; phase 2 "
                      f"{result.phase2_refused} 503s, back after the ballast went in {fmt(result.recovery)}",
                      flush=True)
                if result.recovery is None:
                    print("stuck: the spool did not recover", flush=True)
                    break
        finally:
            answers = load.stop()
        elapsed = time.monotonic() - started
        time.sleep(args.flush_interval + 1.0)  # the writer's last flush
        counts = stored_markers(setup.clickhouse_url, "fulldisk")
    figures = tally(answers, counts)
    other = {status: n for status, n in answers.statuses.items() if not 200 <= status < 300 and status != 503}
    print(f"\n{len(rounds)} round(s) in {elapsed:.0f} s, {args.concurrency} senders, tmpfs {args.size} MiB")
    print(f"hits answered 2xx: {figures.acknowledged}; 503: {answers.statuses[503]}; other answers: "
          f"{other or 'none'}; no answer: {dict(answers.errors) or 'none'}")
    print(f"stored: {figures.stored}; lost: {figures.lost}; duplicates: {figures.duplicates}; stored "
          f"though answered 503 or not at all: {figures.unanswered_stored}")
    print(f"recovery after the spool filled the disk itself (phase 1, from the first 503): "
          f"{seconds([r.self_recovery for r in rounds if r.phase1_refused])}")
    print(f"recovery after the ballast's deletion (phase 2): {seconds([r.recovery for r in rounds])}")


def fmt(value: float | None) -> str:
    return "never" if value is None else f"{value * 1000:.0f} ms"


if __name__ == "__main__":
    main()
