"""Benchmark: several gateway processes on one ClickHouse server (tests/e2e/test_multi_process.py, long).

The server is the ClickHouse stand-in (tests/support/clickhouse_standin.py), a TEST STAND-IN for
clickhouse-server: chDB behind ClickHouse's HTTP interface, in one process of its own. Each
configuration gets a fresh database on it; the processes and the visitors are tests/support/gateways.py.
  1. Throughput: consented hits acknowledged per second by 1, 2 and 3 separate ``serve`` processes
     and by one ``serve --workers 2`` and ``--workers 3`` (``--workers 1`` is the single process),
     ``--rounds`` rounds of ``--hits`` hits each, best and median; acknowledged vs stored, where the
     CPU went, what ``/-/metrics`` summed and how often each migration was recorded. Six visitors,
     spread evenly over the processes, each accepted analytics on another process; ``--unconsented``
     adds a visitor without consent to each (no cookie, another site's cookie, a refusal).
  2. The story at scale: 3 processes, a visitor with and one without consent in each of six lanes,
     one process ``kill -9``'d mid-load and restarted on its port and data folder: acknowledged vs
     stored; the dashboard's figures on every process; a withdrawal on one process while its cookie is
     replayed on another, ``--rounds`` times (tests/support/two_gateways.py): best, median, worst.
The load generator is tests/support/load.py's, sending over raw asyncio sockets (``RawLoad``) in a
thread of this process: httpx would take more CPU per hit than the gateway it measures.
    .venv/bin/python -m benchmarks.multi_process [--hits 4000] [--rounds 3] [--connections 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from tests.geoip_fixture import build_city_db
from tests.support.clickhouse_standin import StandIn, running_standin
from tests.support.gateways import (
    TOKENS,
    Fleet,
    MixedTally,
    kill_and_restart,
    metrics,
    overview,
    running_fleet,
    start_mixed_load,
    stats_range,
    stop_and_tally,
)
from tests.support.load import BROWSER, HitLoad, marker
from tests.support.two_gateways import withdraw_while_replaying

PORTS = (18310, 18311, 18312)  # this benchmark's own, apart from the tests' (tests/e2e/test_multi_process.py)
LANES = 6  # divisible by 1, 2 and 3: every process gets as many visitors as the others
BOUND = 2.0  # seconds: the rights issue's propagation bound (docs/privacy.md)
TICK = os.sysconf("SC_CLK_TCK")
# The throughput rounds flush as a deployment does by default, once a second (the tests' fleets 5
# times): each process's writer sends one insert per table and flush, and small inserts cost the server.
DEFAULTS = {"GATEWAY_WRITER_FLUSH_INTERVAL": "1.0"}


class RawLoad(HitLoad):
    """tests/support/load.py's hits, markers and bookkeeping, sent over plain asyncio sockets: HTTP/1.1
    keep-alive, each request written whole, each answer read up to its Content-Length. httpx costs
    about 1.5 ms of CPU per hit here, more than a gateway and the stand-in together: on 2 cores it
    would measure itself. Overrides ``HitLoad._run``, the one method that talks HTTP."""

    async def _run(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await asyncio.gather(*(self._send() for _ in range(self.concurrency)))

    async def _send(self) -> None:
        assert self._stop is not None
        address = urlsplit(self.base)
        cookie = "; ".join(f"{name}={value}" for name, value in self._cookies.items())
        head = (f"Host: {address.netloc}\r\nOrigin: {self._origin}\r\nUser-Agent: {BROWSER}\r\n"
                "Accept-Language: de-DE,de;q=0.9\r\nContent-Length: 0\r\n"
                + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n")
        result, connection = self.result, None
        while not self._stop.is_set():
            path = marker(self.tag, self._next)
            self._next += 1
            query = urlencode({"idsite": self._site, "rec": 1, "url": self._origin + path, "send_image": 0,
                               "action_name": "multi-process"})
            result.sent += 1
            try:
                if connection is None:
                    connection = await asyncio.open_connection(address.hostname, address.port)
                connection[1].write(f"POST /matomo.php?{query} HTTP/1.1\r\n{head}".encode())
                status, close = await asyncio.wait_for(_answer(connection[0]), self._timeout)
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                result.errors[type(exc).__name__] += 1
                if connection is not None:
                    connection[1].close()
                    connection = None
                await asyncio.sleep(self._pause)
                continue
            result.statuses[status] += 1
            if 200 <= status < 300:
                result.acknowledged.append(path)
            elif status >= 500:
                await asyncio.sleep(self._pause)
            if close:
                connection[1].close()
                connection = None
        if connection is not None:
            connection[1].close()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """An answer's status, and whether the server closes the connection after it."""
    lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"connection":
            close = value.strip().lower() == b"close"
    if length:
        await reader.readexactly(length)
    return int(lines[0].split()[1]), close


@dataclass(frozen=True, slots=True)
class Round:
    rate: float  # consented hits acknowledged per second
    elapsed: float  # seconds until the round's hits were acknowledged
    tally: MixedTally
    cpu: dict[str, float]  # CPU seconds in the round: gateways, stand-in, load (this process)


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU of ``pids`` and of their live children (``--workers``' worker processes)."""
    parents = set(pids)
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if int(entry.name) in parents or int(fields[1]) in parents:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return total


def pids(fleet: Fleet) -> list[int]:
    return [g.process.pid for g in fleet.gateways if g.process is not None]


def one_round(fleet: Fleet, tag: str, args: argparse.Namespace) -> Round:
    streams = start_mixed_load(fleet, tag, lanes=LANES, concurrency=args.connections,
                               unconsented_concurrency=args.unconsented, load=RawLoad)
    started, load_cpu = time.monotonic(), time.process_time()
    gateways_cpu, standin_cpu = cpu_seconds(pids(fleet)), cpu_seconds([fleet.standin.pid])
    deadline = started + 600  # a gateway that died would otherwise hold the run for ever
    while (done := sum(s.load.acknowledged for s in streams if s.consented)) < args.hits:
        if time.monotonic() > deadline:
            for stream in streams:
                stream.load.stop(timeout=10)
            raise SystemExit(f"{tag}: {done} of {args.hits} hits acknowledged in 600 s; a gateway stopped?")
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    cpu = {"gateways": cpu_seconds(pids(fleet)) - gateways_cpu,
           "stand-in": cpu_seconds([fleet.standin.pid]) - standin_cpu,
           "load": time.process_time() - load_cpu}
    return Round(done / elapsed, elapsed, stop_and_tally(fleet, streams), cpu)


def throughput(folder: Path, city: Path, standin: StandIn, label: str, processes: int, workers: int,
               args: argparse.Namespace) -> list[Round]:
    rounds = []
    with running_fleet(folder / label, city, PORTS[:processes], workers=workers, database=label,
                       standin=standin, settings=DEFAULTS) as fleet:
        for n in range(args.rounds):
            result = one_round(fleet, "round" + "abcdefghij"[n % 10], args)
            cpu = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.cpu.items())
            print(f"  {label}, round {n + 1}: {result.rate:5.0f} consented hits/s; {result.tally.line()}; "
                  f"CPU {cpu}", flush=True)
            rounds.append(result)
        stored = sum(metrics(g)["counters"].get("hits", {}).get("stored", 0) for g in fleet.gateways)
        (rows,) = fleet.db.query("SELECT count() FROM events")[0]
        recorded = fleet.db.query("SELECT version, count() FROM schema_migrations GROUP BY version "
                                  "ORDER BY version")
        print(f"  {label}: /-/metrics hits stored (summed over the processes) {stored}, events rows {rows}; "
              f"migrations recorded (version: times) {dict(recorded)}", flush=True)
    return rounds


def cell(rounds: list[Round] | None) -> str:
    if not rounds:
        return f"{'(as N = 1)':>22}"
    rates = [r.rate for r in rounds]
    return f"{max(rates):>10.0f} {statistics.median(rates):>11.0f}"


def summary(table: dict[str, dict[int, list[Round]]], cores: int) -> None:
    print(f"\nconsented hits/s, {len(table['processes'][1])} rounds each{'':7}N processes{'':11}"
          "serve --workers N")
    print(f"{'':34}{'best':>10} {'median':>11}{'best':>10} {'median':>11}")
    for count in (1, 2, 3):
        print(f"  N = {count}{'':27}{cell(table['processes'][count])}{cell(table['workers'].get(count))}")
    print("CPU per hit answered, over a configuration's rounds, and the cores its processes kept busy:")
    for kind, counts in table.items():
        for count, rounds in counts.items():
            print(f"  {count} {kind:<10}{cpu_line(rounds)}")
    every = [r for kind in table.values() for rounds in kind.values() for r in rounds]
    consented = [r.tally.consented for r in every]
    print(f"all rounds: consented {sum(t.acknowledged for t in consented)} acknowledged, "
          f"{sum(t.stored for t in consented)} stored, {sum(t.lost for t in consented)} lost, "
          f"{sum(t.duplicates for t in consented)} duplicates; without consent "
          f"{sum(r.tally.unconsented_acknowledged for r in every)} acknowledged, "
          f"{sum(r.tally.unconsented_stored for r in every)} stored")
    one = table["processes"][1]
    alone = sum(r.cpu["gateways"] for r in one) / sum(r.elapsed for r in one)
    print(f"What {cores} cores mean: one process kept {alone:.2f} of a core busy, of a ceiling of one "
          "(Python's lock runs its code on one core at a time). More processes can use the other cores, "
          "but the stand-in, the load generator and any other work on the machine take from the same "
          f"cores, so N processes give at most {cores}x one process here, less what those take; past "
          f"{cores} processes only switching is added.")


def cpu_line(rounds: list[Round]) -> str:
    hits = sum(r.tally.consented.acknowledged + r.tally.unconsented_acknowledged for r in rounds)
    cpu = {name: sum(r.cpu[name] for r in rounds) for name in rounds[0].cpu}
    busy = sum(cpu.values()) / sum(r.elapsed for r in rounds)
    return ", ".join(f"{name} {seconds / hits * 1e6:4.0f} µs" for name, seconds in cpu.items()) + \
        f"; {busy:.2f} cores"


def story(folder: Path, city: Path, standin: StandIn, args: argparse.Namespace) -> None:
    print("\nthe story at scale, 3 processes:", flush=True)
    with running_fleet(folder / "story", city, PORTS, database="story", standin=standin) as fleet:
        streams = start_mixed_load(fleet, "story", lanes=LANES, concurrency=args.connections, load=RawLoad)
        share = args.hits // LANES  # of gw-1's first consented visitor, before the kill and after it
        killed = kill_and_restart(fleet, streams, 1, before=share, after=share)
        result = stop_and_tally(fleet, streams, killed)
        print(f"  gw-1 killed with SIGKILL mid-load and restarted: {result.line()}", flush=True)
        figures = [metrics(g)["counters"].get("hits", {}) for g in fleet.gateways]
        print(f"  /-/metrics hits per process (gw-1's from its restart): {figures}")
        query = stats_range()
        for site in TOKENS:
            answers = [overview(g, site, query) for g in fleet.gateways]
            same = "the same on all 3" if all(a == answers[0] for a in answers) else "DIFFERENT"
            print(f"  site {site} overview: {same}; pageviews {answers[0]['figures']['pageviews']['value']}")
        propagation(fleet, args.rounds)


def propagation(fleet: Fleet, rounds: int) -> None:
    times = []
    for n in range(rounds):
        a, b = n % 3, (n + 1) % 3
        result = withdraw_while_replaying(fleet.gateways[a], fleet.gateways[b], fleet.db, after=2.5)
        times.append(result.propagation)
        print(f"  withdrawal on gw-{a}, replays on gw-{b}: {result.propagation * 1000:5.0f} ms; events kept "
              f"from before it {result.stored_before}, after it {result.stored_after}", flush=True)
    print(f"propagation over {rounds} withdrawals: best {min(times) * 1000:.0f} ms, median "
          f"{statistics.median(times) * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms (bound {BOUND:.0f} s; "
          "the ledger polls every 0.5 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hits", type=int, default=4000, help="consented hits acknowledged per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per configuration, and withdrawals")
    parser.add_argument("--connections", type=int, default=4, help="connections per consented visitor")
    parser.add_argument("--unconsented", type=int, default=0, help="connections per visitor without "
                        "consent in the throughput rounds (0: none; the story always has one each)")
    parser.add_argument("--only", choices=("throughput", "story"), help="run one part only")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"{cores} CPU cores; ClickHouse: the chDB-backed TEST STAND-IN for clickhouse-server (one "
          f"process); load: {LANES} consented visitors x {args.connections} connections, raw asyncio, "
          f"in this process; load average before the start {os.getloadavg()[0]:.2f} (other work on the "
          "machine takes cores from the figures)", flush=True)
    with tempfile.TemporaryDirectory(prefix="multi-process-") as scratch:
        folder = Path(scratch)
        city = build_city_db(folder / "city.mmdb")
        with running_standin(folder / "clickhouse") as standin:
            if args.only != "story":
                table: dict[str, dict[int, list[Round]]] = {"processes": {}, "workers": {}}
                for count in (1, 2, 3):
                    table["processes"][count] = throughput(folder, city, standin, f"processes{count}",
                                                           count, 1, args)
                for count in (2, 3):
                    table["workers"][count] = throughput(folder, city, standin, f"workers{count}", 1,
                                                         count, args)
                summary(table, cores)
            if args.only != "throughput":
                story(folder, city, standin, args)


if __name__ == "__main__":
    main()
