"""Benchmark: every dashboard JSON endpoint on a seeded site, against the target p95 < 300 ms.

Seeds ``--events`` realistic events (default 10,000,000 by ~1,000,000 visitors over 90 days, see
``benchmarks.seed_events``) into an embedded ClickHouse folder under /tmp, in a subprocess (chDB
runs one engine path per process, and the app opens its own), or reuses it with ``--reuse``. Then
times the overview (``/dashboard/1.json``), every report of ``gateway.stats.reports.REPORTS``,
realtime, consent and the visits log's first page, for the last 7, 30 and 90 days, each without a
filter, with a city filter (hit level) and with a source filter (visit level), through the real app
(``create_app``, lifespan, the site token as ``Authorization: Bearer``) in-process with Starlette's
TestClient. ``--direct`` times the stats functions the views call instead, without HTTP: the
difference is the web layer's share. The dashboard's clock (``app.state.clock``) is pinned to the
end of the seeded data, so a reused folder gives the same ranges and a realtime window with
visitors, whenever it runs. Before timing, the visit summary of the closed days is built as the
gateway would at that moment (its time printed; a reused folder only rebuilds the days whose hits
changed), so the gateway's own builder, started with the app, finds nothing left to do.
``--no-summary`` times cutting every visit at query time.

Each case runs ``--runs`` times back to back; the first ``--warmup`` are discarded. Printed: p50,
p95 (nearest rank: with 6 runs, the slowest) and max in ms, OK or OVER, then a summary. Not a
test: run it by hand on a quiet machine (this VM's speed drifts by ~30 % between minutes).
    python -m benchmarks.dashboard [--quick] [--reuse] [--direct [--no-summary]] [--runs 7]
        [--path /tmp/bench_dashboard]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.testclient import TestClient

from benchmarks.seed_data import SITE_TIMEZONE
from gateway.app import create_app
from gateway.config.settings import load_settings
from gateway.config.sites import Site
from gateway.rights.retention import oldest_kept
from gateway.stats.annotations import list_annotations
from gateway.stats.consent import consent_stats
from gateway.stats.overview import figures
from gateway.stats.query import parse_query
from gateway.stats.realtime import realtime
from gateway.stats.reports import REPORTS, breakdown
from gateway.stats.summary import current_builds
from gateway.stats.summary_build import build_all
from gateway.stats.timeseries import timeseries
from gateway.stats.visit_log import visit_log
from gateway.stats.visits import DEFAULT_TIMEOUT
from gateway.storage.clickhouse import connect
from gateway.storage.migrations import migrate

SITE_ID = 1
TARGET_MS = 300.0
PERIODS = ("7d", "30d", "90d")
QUICK_EVENTS = 200_000


@dataclass(frozen=True, slots=True)
class Case:
    endpoint: str  # "overview", "reports/<name>", "realtime", "consent", "visits"
    period: str
    filter: tuple[str, str] | None

    @property
    def path(self) -> str:
        base = f"/dashboard/{SITE_ID}"
        return f"{base}.json" if self.endpoint == "overview" else f"{base}/{self.endpoint}.json"

    @property
    def params(self) -> list[tuple[str, str]]:
        return [("period", self.period), *([self.filter] if self.filter else [])]

    @property
    def filter_label(self) -> str:
        return f"{self.filter[0]}={self.filter[1]}" if self.filter else "-"


@dataclass(frozen=True, slots=True)
class Timing:
    case: Case
    ms: tuple[float, ...]

    @property
    def p50(self) -> float:
        return statistics.median(self.ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    @property
    def over(self) -> bool:
        return self.p95 >= TARGET_MS


def cases(filters: list[tuple[str, str] | None]) -> list[Case]:
    endpoints = ["overview", *(f"reports/{name}" for name in REPORTS), "realtime", "consent", "visits"]
    return [Case(endpoint, period, f) for endpoint in endpoints for period in PERIODS for f in filters]


def ensure_seeded(path: Path, events: int, visitors: int, reuse: bool) -> None:
    """A folder holding the seeded site: reused, or made afresh in a subprocess."""
    if reuse and path.exists():
        print(f"reusing {path}")
        return
    if path.exists():
        if not path.resolve().is_relative_to(Path(tempfile.gettempdir()).resolve()):
            raise SystemExit(f"{path} exists outside {tempfile.gettempdir()}: remove it, or --reuse it")
        shutil.rmtree(path)
    print(f"seeding {events:,} events by ~{visitors:,} visitors into {path} ...", flush=True)
    subprocess.run([sys.executable, "-m", "benchmarks.seed_events", "--path", str(path), "--events",
                    str(events), "--visitors", str(visitors), "--profile"], check=True)


def environment(path: Path, token: str) -> dict[str, str]:
    """The gateway's settings for the benchmark: one site, its token, the seeded folder."""
    data_dir = path.with_name(path.name + "_gateway")
    data_dir.mkdir(exist_ok=True)
    config = data_dir / "gateway.toml"
    config.write_text(f'[[sites]]\nid = {SITE_ID}\nname = "Parts Example"\norigins = ["https://parts.example"]\n'
                      f'timezone = "{SITE_TIMEZONE}"\ntoken = "{token}"\n', encoding="utf-8")
    return {"GATEWAY_DATA_DIR": str(data_dir), "GATEWAY_CLICKHOUSE_URL": f"chdb://{path}",
            "GATEWAY_CONFIG": str(config), "GATEWAY_SECRET_KEYS": secrets.token_urlsafe(48)}


def run_cases(todo: list[Case], call: Callable[[Case], None], runs: int, warmup: int) -> Iterator[Timing]:
    for case in todo:
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            call(case)
            samples.append((time.perf_counter() - started) * 1000)
        yield Timing(case, tuple(samples[warmup:]))


def data_end(path: Path) -> dt.datetime:
    """Just after the last seeded hit: the moment the benchmark's dashboard lives in. The pinned clock
    keeps a reused folder's ranges, but ClickHouse's TTL runs on the real clock: a folder seeded
    long enough ago has lost its oldest rows, and its figures no longer compare."""
    db = connect(f"chdb://{path}", create_database=False)
    try:
        [(count, first, last, retention)] = db.query(
            "SELECT count(), min(ts), max(ts), min(retention_days) FROM events WHERE site_id = {site:UInt32}",
            {"site": SITE_ID})
    finally:
        db.close()  # before the app opens the same folder: one engine path per process
    if not count:
        raise SystemExit(f"{path} holds no events of site {SITE_ID}: seed it (run without --reuse)")
    assert isinstance(first, dt.datetime) and isinstance(last, dt.datetime)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=int(retention))
    if first.replace(tzinfo=dt.UTC) < cutoff:
        print(f"warning: the events before {cutoff:%Y-%m-%d} are past their {retention}-day retention and "
              "being deleted; seed again (without --reuse) for figures that compare")
    return last.replace(tzinfo=dt.UTC) + dt.timedelta(seconds=1)


def build_summary(path: Path, now: dt.datetime) -> None:
    """Build the visit summary of the closed days, as the gateway's builder would at ``now``."""
    db = connect(f"chdb://{path}", create_database=False)
    site = Site(id=SITE_ID, name="Parts Example", origins=(), timezone=SITE_TIMEZONE)
    try:
        migrate(db)  # a folder seeded before the summary existed
        started = time.perf_counter()
        done = build_all(db, [site], now, DEFAULT_TIMEOUT, oldest_kept)
        summary = current_builds(db, SITE_ID, SITE_TIMEZONE, DEFAULT_TIMEOUT)
        [(visits,)] = db.query("SELECT count() FROM visits WHERE site_id = {s:UInt32} AND "
                               "build IN {b:Array(UInt64)}",
                               {"s": SITE_ID, "b": list(summary.builds) if summary else []})
    finally:
        db.close()  # before the app opens the same folder: one engine path per process
    span = f"{summary.first} to {summary.last}" if summary else "no day"
    print(f"visit summary: {done['built']} day(s) built in {time.perf_counter() - started:.1f} s "
          f"({done['raced']} raced); it holds {span}, {visits:,} visits")


@contextmanager
def over_http(path: Path, now: dt.datetime) -> Iterator[Callable[[Case], None]]:
    """Requests through the real app, with the site token."""
    token = secrets.token_urlsafe(32)
    app = create_app(load_settings(environment(path, token)))
    app.state.clock = lambda: now
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    with TestClient(app) as client:
        def call(case: Case) -> None:
            response = client.get(f"{case.path}?{urlencode(case.params)}", headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"{case.path}?{case.params}: {response.status_code} {response.text[:300]}")
            response.json()
        yield call


@contextmanager
def direct(path: Path, now: dt.datetime, use_summary: bool) -> Iterator[Callable[[Case], None]]:
    """The stats functions the views call, on one connection, without HTTP."""
    db = connect(f"chdb://{path}", create_database=False)
    site = Site(id=SITE_ID, name="Parts Example", origins=(), timezone=SITE_TIMEZONE)
    try:
        def call(case: Case) -> None:
            today = now.astimezone(ZoneInfo(SITE_TIMEZONE)).date()
            q = parse_query(case.params, SITE_ID, SITE_TIMEZONE, today, kept_from=oldest_kept(site, now))
            if use_summary and case.endpoint not in ("realtime", "consent", "visits"):  # as the views do
                q = replace(q, summary=current_builds(db, SITE_ID, SITE_TIMEZONE, q.visit_timeout))
            if case.endpoint == "overview":  # what the overview view gathers (its cards load apart)
                figures(db, q)
                timeseries(db, q)
                realtime(db, SITE_ID, now, kept_from=q.kept_from)
                list_annotations(db, SITE_ID, q.range.start, q.range.end)
            elif case.endpoint == "visits":  # its first page, as /visits.json answers it
                visit_log(db, q, b"benchmark key", limit=20)
            elif case.endpoint == "realtime":
                realtime(db, SITE_ID, now, kept_from=q.kept_from)
            elif case.endpoint == "consent":
                consent_stats(db, q, site)
            else:
                breakdown(db, q, case.endpoint.removeprefix("reports/"), limit=50)
        yield call
    finally:
        db.close()


def print_table(timings: list[Timing], mode: str) -> None:
    print(f"\n{'endpoint (' + mode + ')':<32} {'period':<6} {'filter':<14} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'max ms':>8}  verdict")
    for t in timings:
        print(f"{t.case.endpoint:<32} {t.case.period:<6} {t.case.filter_label:<14} {t.p50:8.1f} {t.p95:8.1f} "
              f"{max(t.ms):8.1f}  {'OVER' if t.over else 'OK'}")


def print_summary(timings: list[Timing], mode: str, elapsed: float) -> None:
    over = [t for t in timings if t.over]
    worst = max(timings, key=lambda t: t.p95)
    print(f"\n{mode}: {len(timings)} cases, {len(over)} over {TARGET_MS:.0f} ms at p95; worst: "
          f"{worst.case.endpoint} {worst.case.period} {worst.case.filter_label} p95 {worst.p95:.0f} ms; "
          f"median of p50s {statistics.median(t.p50 for t in timings):.0f} ms; {elapsed:.0f} s in all")
    for t in sorted(over, key=lambda t: -t.p95):
        print(f"  OVER {t.case.endpoint} {t.case.period} {t.case.filter_label}: p95 {t.p95:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--path", type=Path, default=None, help="default /tmp/bench_dashboard[_quick]")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--visitors", type=int, default=0, help="default: events / 10")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events, to try the harness")
    parser.add_argument("--reuse", action="store_true", help="use the folder as seeded before")
    parser.add_argument("--direct", action="store_true", help="time the stats functions, not HTTP")
    parser.add_argument("--no-summary", action="store_true",
                        help="with --direct: cut every visit at query time")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1, help="first runs of each case not counted")
    parser.add_argument("--city", default="Berlin")
    parser.add_argument("--source", default="Google")
    parser.add_argument("--only", default="", help="endpoints containing this text")
    args = parser.parse_args()
    if args.runs <= args.warmup:
        parser.error("--runs must be more than --warmup")
    events = QUICK_EVENTS if args.quick else args.events
    default = Path(tempfile.gettempdir()) / ("bench_dashboard" + ("_quick" if args.quick else ""))
    path = (args.path or default).absolute()
    ensure_seeded(path, events, args.visitors or max(1, events // 10), args.reuse)
    todo = [c for c in cases([None, ("city", args.city), ("source", args.source)]) if args.only in c.endpoint]
    mode = ("direct, no summary" if args.no_summary else "direct") if args.direct else "HTTP"
    now = data_end(path)
    print(f"dashboard clock pinned to {now:%Y-%m-%d %H:%M:%S} UTC (the end of the seeded data)")
    if args.no_summary and not args.direct:
        parser.error("--no-summary needs --direct (the app always reads the summary)")
    build_summary(path, now)
    started = time.perf_counter()
    with (direct(path, now, not args.no_summary) if args.direct else over_http(path, now)) as call:
        timings = []
        for timing in run_cases(todo, call, args.runs, args.warmup):
            timings.append(timing)
            print(".", end="", flush=True)
    elapsed = time.perf_counter() - started
    print_table(timings, mode)
    print_summary(timings, mode, elapsed)


if __name__ == "__main__":
    main()
