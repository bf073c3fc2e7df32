"""Load for fault tests: consented tracking hits with unique markers, and the markers ClickHouse kept.

A visitor grants analytics (:func:`grant`); :class:`HitLoad` then sends that visitor's hits from
``concurrency`` tasks on a thread of its own, each hit's page path a unique marker
(``/m/<tag>/<n>``), and records the marker of every hit answered 2xx: the hits the gateway
acknowledged, which must all be stored. Everything else is counted (statuses, transport errors
such as a refused connection while the gateway is down), never retried: a retry would blur which
attempt was acknowledged. :func:`stored_markers` reads back how many rows each marker has in the
``events`` table, and :func:`tally` compares the two.

The hits are shaped to be kept (browser user agent, a configured origin, the grant cookie), since
a dropped hit is answered 2xx too (the answer never tells why): any acknowledged marker missing
from ClickHouse is a loss. Used by tests/e2e/test_faults.py, benchmarks/faults.py and the full-disk
test; ``python -m tests.support.load stored URL TAG`` is the child process that reads an embedded
(chDB) database, which binds one path per process.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx2 as httpx

from gateway.storage.clickhouse import Target, connect

ROOT = Path(__file__).resolve().parents[2]
DEMO_ORIGIN = "http://localhost:8080"  # an origin of the demo site (id 1), served without a config file
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def grant(base: str, *, origin: str = DEMO_ORIGIN, site: int = 1) -> dict[str, str]:
    """A visitor accepts analytics on ``site``; returns the cookies the hits carry."""
    headers = {"Origin": origin, "User-Agent": BROWSER}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        policy = client.get(f"/consent?site={site}").json()["policy_version"]
        answer = client.post(f"/consent?site={site}",
                             json={"categories": ["analytics"], "policy_version": policy})
        answer.raise_for_status()
        return dict(client.cookies)


def marker(tag: str, n: int) -> str:
    # Few digits per run and letters around them: no scrubbing rule takes it for a number to hide.
    return f"/m/{tag}/{n}"


@dataclass(slots=True)
class LoadResult:
    acknowledged: list[str] = field(default_factory=list)  # markers answered 2xx, in answer order
    statuses: Counter[int] = field(default_factory=Counter)  # every answer's status, 2xx included
    errors: Counter[str] = field(default_factory=Counter)  # no answer, by exception class
    sent: int = 0


class HitLoad:
    """Hits to ``base`` until :meth:`stop`; ``with HitLoad(...) as load:`` starts and stops it.

    ``tag`` (letters) makes this load's markers unique within a database; ``pause_on_error``
    is how long a task waits after a transport error (the gateway is down) before its next hit.
    """

    def __init__(self, base: str, cookies: dict[str, str], *, tag: str, concurrency: int = 8,
                 origin: str = DEMO_ORIGIN, site: int = 1, timeout: float = 15.0,
                 pause_on_error: float = 0.05) -> None:
        if not tag.isalpha():
            raise ValueError("a tag is letters only")
        self.base, self.tag, self.concurrency = base, tag, concurrency
        self._cookies, self._origin, self._site = cookies, origin, site
        self._timeout, self._pause = timeout, pause_on_error
        self.result = LoadResult()
        self._next = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"hit-load-{tag}", daemon=True)

    @property
    def acknowledged(self) -> int:
        return len(self.result.acknowledged)

    def start(self) -> HitLoad:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self, timeout: float = 60.0) -> LoadResult:
        """Let hits in flight finish (or time out), then return what was recorded. Idempotent."""
        if self._thread.is_alive() and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("the hit load did not stop")
        return self.result

    def wait_for(self, acknowledged: int, timeout: float = 60.0) -> None:
        """Block until at least ``acknowledged`` hits were answered 2xx (AssertionError at ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self.acknowledged < acknowledged:
            assert time.monotonic() < deadline, f"{self.acknowledged} of {acknowledged} hits acknowledged " \
                f"in {timeout} s: {self.result}"
            assert self._thread.is_alive(), "the hit load stopped"
            time.sleep(0.02)

    def __enter__(self) -> HitLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        headers = {"Origin": self._origin, "User-Agent": BROWSER, "Accept-Language": "de-DE,de;q=0.9"}
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.base, headers=headers, cookies=self._cookies,
                                     timeout=self._timeout, limits=limits) as client:
            await asyncio.gather(*(self._sender(client) for _ in range(self.concurrency)))

    async def _sender(self, client: httpx.AsyncClient) -> None:
        assert self._stop is not None
        result = self.result
        while not self._stop.is_set():
            path = marker(self.tag, self._next)
            self._next += 1
            query = urlencode({"idsite": self._site, "rec": 1, "url": self._origin + path, "send_image": 0,
                               "action_name": "fault test"})
            result.sent += 1
            try:
                answer = await client.post(f"/matomo.php?{query}", content=b"")
            except httpx.TransportError as exc:
                result.errors[type(exc).__name__] += 1
                await asyncio.sleep(self._pause)
                continue
            result.statuses[answer.status_code] += 1
            if 200 <= answer.status_code < 300:
                result.acknowledged.append(path)
            elif answer.status_code >= 500:
                await asyncio.sleep(self._pause)


def stored_markers(clickhouse_url: str, tag: str) -> Counter[str]:
    """Rows per marker of ``tag`` in ``events``. A chdb:// URL is read in a child process (stop the
    gateway first: it holds the folder); a server URL is read here."""
    if Target.parse(clickhouse_url).embedded:
        child = subprocess.run([sys.executable, "-m", "tests.support.load", "stored", clickhouse_url, tag],
                               capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
        if child.returncode:
            raise RuntimeError(f"reading {clickhouse_url} failed: {child.stderr[-2000:]}")
        return Counter(json.loads(child.stdout))
    return _read_markers(clickhouse_url, tag)


def _read_markers(clickhouse_url: str, tag: str) -> Counter[str]:
    db = connect(clickhouse_url, create_database=False, connect_timeout=5, send_receive_timeout=60)
    try:
        rows = db.query("SELECT url_path, count() FROM events WHERE startsWith(url_path, {p:String}) "
                        "GROUP BY url_path", {"p": f"/m/{tag}/"})
    finally:
        db.close()
    return Counter({str(path): int(count) for path, count in rows})


@dataclass(frozen=True, slots=True)
class Tally:
    acknowledged: int  # hits answered 2xx
    stored: int  # of those, stored at least once
    lost: int  # acknowledged, not stored: must be 0
    duplicates: int  # rows beyond the first of any marker (at-least-once: see the spool's docstring)
    unanswered_stored: int  # markers stored whose answer never arrived (in flight at the fault): fine
    most_copies: int  # rows of the marker stored most often (1 when nothing is duplicated)

    def line(self) -> str:
        return (f"acknowledged {self.acknowledged}, stored {self.stored}, lost {self.lost}, duplicates "
                f"{self.duplicates}, stored without an answer {self.unanswered_stored}")


def tally(result: LoadResult, stored: Counter[str]) -> Tally:
    acknowledged = set(result.acknowledged)
    assert len(acknowledged) == len(result.acknowledged), "a marker was acknowledged twice"
    kept = sum(1 for m in acknowledged if stored[m] > 0)
    return Tally(acknowledged=len(acknowledged), stored=kept, lost=len(acknowledged) - kept,
                 duplicates=sum(count - 1 for count in stored.values() if count > 1),
                 unanswered_stored=sum(1 for m in stored if m not in acknowledged),
                 most_copies=max(stored.values(), default=0))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "stored":
        sys.exit("usage: python -m tests.support.load stored CLICKHOUSE_URL TAG")
    print(json.dumps(_read_markers(sys.argv[2], sys.argv[3])))
