"""Several gateway processes on one ClickHouse server: N ``serve`` on N ports, or one ``serve --workers N``.

The server is the ClickHouse stand-in (tests/support/clickhouse_standin.py: a TEST STAND-IN for
clickhouse-server, chDB behind the slice of ClickHouse's HTTP interface the client uses), since no
ClickHouse server installs here. Every process has a data folder of its own (its own spool, control
socket and metrics files) and the same signing keys, sites and operator token, as separate hosts
behind one load balancer would. The N processes start at the same moment, so their migrations race
against a fresh database as several hosts' would (``serve --workers N`` migrates once, before its
workers start).

Shared by tests/e2e/test_multi_process.py and benchmarks/multi_process.py. Two sites with stats API
tokens: site 1 is the one tests/support/two_gateways.py uses (same origin, policy ``v1``), so its
``withdraw_while_replaying`` runs on any two gateways of a fleet.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import string
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx2 as httpx

from gateway.storage.clickhouse import Database, connect
from tests.e2e.gateway_process import Gateway, free_port, running_gateway
from tests.support.clickhouse_standin import StandIn, running_standin
from tests.support.load import BROWSER, HitLoad, Tally, grant, stored_markers, tally
from tests.support.operator import METRICS_TOKEN, OPERATOR_JSON

ORIGINS = {1: "https://shop.example.com", 2: "https://other.example"}
TOKENS = {1: "fleet-site-one-token-0123456789", 2: "fleet-site-two-token-0123456789"}
CONFIG = "".join(f"""
[[sites]]
id = {site}
name = "Site {site}"
origins = ["{origin}"]
policy_version = "v1"
token = "{TOKENS[site]}"
""" for site, origin in ORIGINS.items())
SECRET = "m" * 40


@dataclass
class Fleet:
    """The running processes (``gateways[i]`` listens on ``ports[i]``), the stand-in and its database."""

    folder: Path
    standin: StandIn
    url: str  # the ClickHouse URL every process writes to
    envs: list[dict[str, str]]
    ports: tuple[int, ...]
    workers: int
    db: Database = field(init=False)
    gateways: list[Gateway] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # how often each instance was started
    _stack: ExitStack = field(default_factory=ExitStack)

    def restart(self, index: int) -> Gateway:
        """Start instance ``index`` again on its port and data folder (after ``gateways[index].kill()``):
        its spool replays what ClickHouse had not acknowledged."""
        self.starts[index] += 1
        gateway = self._stack.enter_context(self._process(index))
        self.gateways[index] = gateway
        return gateway

    def _process(self, index: int) -> AbstractContextManager[Gateway]:
        log = self.folder / f"gw{index}-{self.starts[index]}.log"
        return running_gateway(self.envs[index], log, port=self.ports[index], workers=self.workers)


def fleet_env(data_dir: Path, name: str, clickhouse_url: str, city_db: Path, config: Path,
              secret: str = SECRET) -> dict[str, str]:
    """One process's settings: its own data folder and name; everything else as the others'."""
    return {"GATEWAY_DATA_DIR": str(data_dir), "GATEWAY_CLICKHOUSE_URL": clickhouse_url,
            "GATEWAY_GEOIP_CITY_DB": str(city_db), "GATEWAY_CONFIG": str(config),
            "GATEWAY_SECRET_KEYS": secret, "GATEWAY_INSTANCE_NAME": name,
            # Flushed 5 times a second (default: once), so that tests need not wait for the rows.
            "GATEWAY_WRITER_FLUSH_INTERVAL": "0.2", "GATEWAY_LOG_LEVEL": "WARNING",
            "GATEWAY_METRICS_TOKEN": METRICS_TOKEN}


@contextmanager
def running_fleet(folder: Path, city_db: Path, ports: Sequence[int], *, workers: int = 1,
                  database: str = "fleet", config: str = CONFIG, secret: str = SECRET,
                  standin: StandIn | None = None, warm_up: int = 20,
                  settings: dict[str, str] | None = None) -> Iterator[Fleet]:
    """``len(ports)`` ``serve --workers WORKERS`` processes on ``database`` of ``standin`` (one started
    under ``folder`` when none is given), stopped with SIGTERM at the end. ``warm_up`` requests per
    process load its parsers and caches before the first measured one; ``settings``: GATEWAY_*
    variables over :func:`fleet_env`'s."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gateway.toml").write_text(config)
    with ExitStack() as outer:
        if standin is None:
            standin = outer.enter_context(running_standin(folder / "clickhouse"))
        url = f"http://default:@{standin.host}:{standin.port}/{database}"
        envs = [fleet_env(folder / f"gw{n}", f"gw-{n}", url, city_db, folder / "gateway.toml", secret)
                | (settings or {}) for n in range(len(ports))]
        fleet = Fleet(folder, standin, url, envs=envs, ports=tuple(ports), workers=workers,
                      starts=[0] * len(ports))
        with fleet._stack:
            fleet.gateways = _start_together(fleet)  # they create the database and migrate it
            fleet.db = connect(url, create_database=False)
            fleet._stack.callback(fleet.db.close)
            for gateway in fleet.gateways:
                warm(gateway, warm_up)
            yield fleet


def _start_together(fleet: Fleet) -> list[Gateway]:
    """Start every process at once (their migrations race); each enters the fleet's stack once up."""
    contexts = [fleet._process(n) for n in range(len(fleet.ports))]
    with ThreadPoolExecutor(len(contexts)) as pool:
        futures = [pool.submit(context.__enter__) for context in contexts]
    started: list[Gateway] = []
    failure: BaseException | None = None
    for context, future in zip(contexts, futures, strict=True):
        try:
            started.append(future.result())
            fleet._stack.push(context.__exit__)
        except Exception as exc:  # the others are stopped by the stack; the first failure is raised
            failure = failure or exc
    if failure is not None:
        raise failure
    return started


def warm(gateway: Gateway, requests: int) -> None:
    """The first requests of a process load parsers and fill caches; these store nothing (no consent)."""
    with httpx.Client(base_url=gateway.base, timeout=10) as client:
        for _ in range(requests):
            client.get("/consent?site=1")
            client.get(f"/matomo.php?idsite=1&rec=1&url={ORIGINS[1]}/")


def metrics(gateway: Gateway) -> dict[str, Any]:
    """``/-/metrics`` as JSON, with the operator token (with ``--workers``: summed over the workers)."""
    answer = httpx.get(f"{gateway.base}/-/metrics", headers=OPERATOR_JSON, timeout=10)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def stats_range(today: dt.date | None = None) -> str:
    """A custom range around today that holds every hit of a run in any site's zone, the same on every
    instance (a preset like ``7d`` could change between two instances' answers at midnight)."""
    today = today or dt.datetime.now(dt.UTC).date()
    return f"period=custom&from={today - dt.timedelta(days=2)}&to={today + dt.timedelta(days=2)}"


def overview(gateway: Gateway, site: int, query: str) -> dict[str, Any]:
    """The dashboard overview's JSON twin, read with the site's stats API token."""
    answer = httpx.get(f"{gateway.base}/dashboard/{site}.json?{query}", timeout=30,
                       headers={"Authorization": f"Bearer {TOKENS[site]}"})
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


# --- A mixed load spread over the fleet ----------------------------------------------------------

UNCONSENTED = ("no cookie", "another site's cookie", "refused")


@dataclass(frozen=True, slots=True)
class Stream:
    """One visitor's hits to one process: ``load``'s acknowledged markers are the hits answered 2xx."""

    load: HitLoad
    gateway: int  # index in the fleet
    consented: bool


def refuse(base: str, site: int) -> dict[str, str]:
    """A visitor refuses analytics on ``site``; returns the cookies the hits carry (a refusal's)."""
    with httpx.Client(base_url=base, headers={"Origin": ORIGINS[site], "User-Agent": BROWSER},
                      timeout=30) as client:
        policy = client.get(f"/consent?site={site}").json()["policy_version"]
        answer = client.post(f"/consent?site={site}", json={"categories": [], "policy_version": policy})
        answer.raise_for_status()
        return dict(client.cookies)


def start_mixed_load(fleet: Fleet, tag: str, *, lanes: int = 3, concurrency: int = 3,
                     unconsented_concurrency: int = 1, load: type[HitLoad] = HitLoad) -> list[Stream]:
    """Up to two visitors per lane, lane ``k`` on process ``k % N`` and site 1 or 2 in turn: one who
    accepted analytics on the next process (the signed cookie counts on every instance), and one who
    did not (no cookie, a cookie of the other site, or a refusal: ``UNCONSENTED`` in turn), left out
    when ``unconsented_concurrency`` is 0. ``load``: the client sending each visitor's hits (a
    benchmark brings a cheaper one)."""
    streams = []
    count = len(fleet.gateways)
    for lane in range(lanes):
        index, site, letter = lane % count, 1 + lane % 2, string.ascii_lowercase[lane]
        base, other = fleet.gateways[index].base, fleet.gateways[(lane + 1) % count].base
        yes = load(base, grant(other, origin=ORIGINS[site], site=site), tag=f"{tag}yes{letter}",
                   concurrency=concurrency, origin=ORIGINS[site], site=site)
        streams.append(Stream(yes, index, True))
        if unconsented_concurrency:
            kind = UNCONSENTED[lane % len(UNCONSENTED)]
            no = load(base, _unconsented(kind, other, site), tag=f"{tag}no{letter}",
                      concurrency=unconsented_concurrency, origin=ORIGINS[site], site=site)
            streams.append(Stream(no, index, False))
    for stream in streams:
        stream.load.start()
    return streams


@contextmanager
def mixed_load(fleet: Fleet, tag: str, **options: Any) -> Iterator[list[Stream]]:
    """:func:`start_mixed_load`, its streams stopped however the block ends: a failed assertion must not
    leave them sending for the rest of the suite."""
    streams = start_mixed_load(fleet, tag, **options)
    try:
        yield streams
    finally:
        for stream in streams:
            with contextlib.suppress(RuntimeError):  # one that would not stop is a daemon thread
                stream.load.stop(timeout=10)


def distinct_ports(count: int) -> list[int]:
    """``count`` free ports, all different (a killed process comes back on its own)."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _unconsented(kind: str, base: str, site: int) -> dict[str, str]:
    """The cookies of a visitor without analytics consent on ``site``, of an ``UNCONSENTED`` kind."""
    if kind == "refused":
        return refuse(base, site)
    if kind == "another site's cookie":
        return grant(base, origin=ORIGINS[3 - site], site=3 - site)
    return {}


def kill_and_restart(fleet: Fleet, streams: Sequence[Stream], index: int, *, before: int,
                     after: int) -> dict[str, int]:
    """Once the consented visitor of process ``index`` has ``before`` hits acknowledged, SIGKILL that
    process, restart it on its port and data folder, and wait for ``after`` more. Returns the hits
    each of its streams had acknowledged at the kill (by tag): only those can be stored twice."""
    mine = [s for s in streams if s.gateway == index]
    watched = next(s.load for s in mine if s.consented)
    watched.wait_for(before)
    fleet.gateways[index].kill()
    # Answers already on their way when the process died still arrive; none after the restart can
    # come from the dead process, so the counts read now split each list (as tests/support/faults.py).
    time.sleep(0.3)
    acknowledged = {s.load.tag: s.load.acknowledged for s in mine}
    fleet.restart(index)
    watched.wait_for(acknowledged[watched.tag] + after)
    return acknowledged


@dataclass(frozen=True, slots=True)
class MixedTally:
    consented: Tally  # over every consented stream: lost must be 0
    late_duplicates: int  # consented rows stored twice though answered after their process's kill
    unconsented_acknowledged: int  # hits of visitors without consent answered 2xx (as every hit is)
    unconsented_stored: int  # must be 0

    def line(self) -> str:
        return (f"consented: {self.consented.line()} (answered after a kill and stored twice: "
                f"{self.late_duplicates}); without consent: acknowledged {self.unconsented_acknowledged}, "
                f"stored {self.unconsented_stored}")


def stop_and_tally(fleet: Fleet, streams: Sequence[Stream],
                   killed: dict[str, int] | None = None) -> MixedTally:
    """Stop the streams, let every process's writer empty (:func:`settle`), and compare what each
    stream had acknowledged with what ClickHouse stored."""
    results = [stream.load.stop() for stream in streams]
    settle(fleet)
    tallies, late, no_acknowledged, no_stored = [], 0, 0, 0
    for stream, result in zip(streams, results, strict=True):
        stored = stored_markers(fleet.url, stream.load.tag)
        if stream.consented:
            tallies.append(tally(result, stored))
            before = (killed or {}).get(stream.load.tag, 0)
            late += sum(1 for m in result.acknowledged[before:] if stored[m] > 1)
        else:
            no_acknowledged += len(result.acknowledged)
            no_stored += sum(stored.values())
    return MixedTally(_summed(tallies), late, no_acknowledged, no_stored)


def _summed(tallies: Sequence[Tally]) -> Tally:
    return Tally(**{f.name: (max if f.name == "most_copies" else sum)(getattr(t, f.name) for t in tallies)
                    for f in fields(Tally)})


def settle(fleet: Fleet, timeout: float = 30.0) -> None:
    """Wait until no process has rows pending for ClickHouse and the events table stopped growing.
    Polled a little slower than ``--workers`` publish their figures (every second), so a worker's
    stale "0 pending" is seen again with a fresh sample before it counts. At ``timeout`` it returns
    all the same: the caller's comparison then shows what is missing."""
    deadline, previous = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        pending = sum(metrics(gateway)["writer"]["pending_rows"] for gateway in fleet.gateways)
        rows = int(fleet.db.query("SELECT count() FROM events")[0][0])
        if pending == 0 and rows == previous:
            return
        previous = rows
        time.sleep(1.2)
