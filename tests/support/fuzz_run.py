"""Sends the fuzzer's cases to a running gateway and tallies the answers; reads its log for trouble.

``warm_up`` does what a visitor and an admin would (grant consent, browse, log in) and returns the
values the cases' placeholders stand for. ``run`` sends cases with a few connections at once:
httpx for well-formed requests, a raw socket for the framing cases and for whatever httpx refuses to
send (a header holding a line break). A 5xx is a failure, kept with the case's description (its seed
and index: ``benchmarks/fuzz.py --replay`` sends it again). ``server_trouble`` finds what the client
cannot see: tracebacks, and requests the access log recorded as 5xx (a client that hung up early
never gets its 500).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from urllib.parse import urlsplit

import h11
import httpx2 as httpx

from gateway.app import create_app
from gateway.config.settings import load_settings
from gateway.dashboard.users import UserStore, users_path
from tests.support.fuzz import Case, Plan, plan_of
from tests.support.fuzz_inputs import ORIGIN, PASSWORD

TOKEN = "fuzz-site-token-0123456789abcdef"
SITES = f"""
[[sites]]
id = 1
name = "Parts"
origins = ["{ORIGIN.decode()}"]
policy_version = "1"
token = "{TOKEN}"

[[sites]]
id = 2
name = "Other"
origins = ["https://other.example"]
policy_version = "1"
token = "other-site-token-0123456789abcdef"
"""
ACCESS_5XX = re.compile(r"gateway\.access: .* 5\d\d [\d.]+ms$")
# /-/health's and /-/ready's 503 is their verdict, not a failure: "ClickHouse did not answer the ping in 2 s",
# which embedded ClickHouse busy with a long dashboard query can make it say (reported on issue 16).
HEALTH_503 = re.compile(r"gateway\.access: (GET|HEAD) /-/(health|ready) 503 ")
STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")
TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Secrets:
    values: dict[bytes, bytes]

    @classmethod
    def of(cls, **values: str) -> Secrets:
        filled = {}
        for name, value in values.items():
            real = value.encode()
            middle = len(real) // 2
            forged = real[:middle] + (b"B" if real[middle:middle + 1] == b"A" else b"A") + real[middle + 1:]
            filled[f"{{{name}~}}".encode()] = forged
            filled[f"{{{name}}}".encode()] = real
        return cls(filled)

    def fill(self, data: bytes) -> bytes:
        if b"{" in data:
            for placeholder, value in self.values.items():
                data = data.replace(placeholder, value)
        return data


def prepare(folder: Path, city_db: Path) -> tuple[dict[str, str], str, Plan]:
    """The gateway's environment (two sites, admin ``anna``, a share link), the link's key, and the
    fuzz plan read from the app those settings build."""
    (folder / "gateway.toml").write_text(SITES, encoding="utf-8")
    env = {"GATEWAY_DATA_DIR": str(folder / "data"), "GATEWAY_CONFIG": str(folder / "gateway.toml"),
           "GATEWAY_GEOIP_CITY_DB": str(city_db), "GATEWAY_SECRET_KEYS": "fuzz-" + "k" * 40}
    settings = load_settings(env)
    users = UserStore(users_path(settings))
    users.add("anna", PASSWORD.decode(), "admin", [])
    _, share_key = users.create_share(1, "fuzz")
    return env, share_key, plan_of(create_app(settings))


def warm_up(base: str, share_key: str) -> Secrets:
    """A visitor grants consent and browses, an admin logs in: the values the placeholders stand for."""
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        granted = client.post("/consent?site=1", headers={"Origin": ORIGIN.decode()},
                              json={"categories": ["necessary", "analytics"], "policy_version": "1"})
        assert granted.status_code == 200, granted.text
        for page in ("/", "/brakes", "/brakes/pads"):
            hit = client.get("/matomo.php", params={"idsite": 1, "rec": 1, "url": f"https://parts.example{page}",
                                                    "action_name": page, "res": "1920x1080"})
            assert hit.status_code == 200, hit.text
        login = client.get("/dashboard/login").text
        csrf = login.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        answer = client.post("/dashboard/login", data={"username": "anna", "password": PASSWORD.decode(),
                                                       "csrf": csrf})
        assert answer.status_code in (200, 303), answer.text[:300]
        # A session has its own CSRF secret: the token of the page it opens, not the login form's.
        page = client.get("/dashboard/1/requests").text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        return Secrets.of(CONSENT=client.cookies["cg_consent_1"], CID=granted.json()["consent_id"],
                          SESSION=client.cookies["cg_session"], CSRF_COOKIE=client.cookies["cg_csrf"],
                          CSRF=csrf, TOKEN=TOKEN, SHARE=share_key)


@dataclass(slots=True)
class Tally:
    sent: int = 0
    elapsed: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)  # "200", ..., "no answer", "timeout"
    routes: Counter[str] = field(default_factory=Counter)
    framings: Counter[str] = field(default_factory=Counter)  # "body-cut no answer": raw cases' outcomes
    slowest: list[tuple[float, str]] = field(default_factory=list)  # the five slowest answers
    failures: list[str] = field(default_factory=list)

    @property
    def by_class(self) -> dict[str, int]:
        classes: Counter[str] = Counter()
        for status, n in self.statuses.items():
            classes[f"{status[0]}xx" if status.isdigit() else status] += n
        return dict(sorted(classes.items()))

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("5"))

    def add(self, other: Tally) -> None:
        self.sent += other.sent
        self.elapsed += other.elapsed
        self.statuses.update(other.statuses)
        self.routes.update(other.routes)
        self.framings.update(other.framings)
        self.slowest = sorted([*self.slowest, *other.slowest], reverse=True)[:5]
        self.failures += other.failures

    def summary(self) -> str:
        rate = self.sent / self.elapsed if self.elapsed else 0.0
        return (f"{self.sent} requests in {self.elapsed:.1f} s ({rate:.0f}/s); by class {self.by_class}; "
                f"5xx: {self.server_errors}")


def _raw_request(case: Case, secrets: Secrets, host: bytes) -> tuple[bytes, bool]:
    """The bytes of a raw case, and whether to hang up right after sending them."""
    target, body = secrets.fill(case.target), secrets.fill(case.body)
    headers = [(k, secrets.fill(v)) for k, v in case.headers]
    version, hang_up, tail = b"HTTP/1.1", False, body
    extra: list[tuple[bytes, bytes]] = [(b"Host", host), (b"Connection", b"close")]
    kind = case.raw
    if kind == "chunked-bad-size":
        extra.append((b"Transfer-Encoding", b"chunked"))
        tail = b"zz\r\n" + body[:10] + b"\r\n0\r\n\r\n"
    elif kind == "chunked-cut":
        extra.append((b"Transfer-Encoding", b"chunked"))
        tail, hang_up = b"100\r\n" + body[:10], True
    elif kind == "body-cut":
        extra.append((b"Content-Length", str(len(body) + 1000).encode()))
        hang_up = True
    elif kind == "hang-up":
        extra.append((b"Content-Length", b"50"))
        tail, hang_up = b"", True
    elif kind == "huge-header":
        extra.append((b"X-Fill", b"a" * 200_000))
    elif kind == "huge-header-bad-chunk":  # refused for its head while the rest is still being parsed
        extra += [(b"X-Fill", b"a" * 40_000), (b"Transfer-Encoding", b"chunked")]
        tail = b"zz\r\n" + body[:10] + b"\r\n0\r\n\r\n"
    elif kind == "many-headers":
        extra += [(f"X-H{i}".encode(), b"v") for i in range(3000)]
    elif kind == "raw-target":
        target = target.replace(b"/", b"/\xff\x01", 1) + b"&\xfe\xc0=\x7f"
    elif kind == "cl-and-te":
        extra += [(b"Content-Length", b"5"), (b"Transfer-Encoding", b"chunked")]
        tail = b"0\r\n\r\n"
    elif kind == "bad-content-length":
        extra += [(b"Content-Length", b"-1"), (b"Content-Length", b"99999999999999999999")]
    elif kind == "http10-no-host":
        version, extra = b"HTTP/1.0", [(b"Content-Length", str(len(body)).encode())]
    elif kind == "leave-early":  # the whole request, then gone before the answer
        extra.append((b"Content-Length", str(len(body)).encode()))
        hang_up = True
    elif kind == "line-cut":
        return case.method.encode() + b" " + target[:20], True
    else:  # "plain" and "pipelined": well framed
        extra.append((b"Content-Length", str(len(body)).encode()))
    if kind == "pipelined":
        extra = [(k, v) for k, v in extra if k != b"Connection"]
    head = b"\r\n".join([case.method.encode() + b" " + target + b" " + version,
                         *(k + b": " + v for k, v in [*extra, *headers])])
    data = head + b"\r\n\r\n" + tail
    if kind == "pipelined":
        data += b"GET /t.js HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
    return data, hang_up


async def _send_raw(host: str, port: int, case: Case, secrets: Secrets) -> str:
    data, hang_up = _raw_request(case, secrets, f"{host}:{port}".encode())
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
    except (OSError, TimeoutError):
        return "no answer"
    answer = b""
    try:
        writer.write(data)
        await writer.drain()
        if not hang_up:
            while chunk := await asyncio.wait_for(reader.read(65536), TIMEOUT):
                answer += chunk
    except TimeoutError:
        return "timeout"
    except OSError:
        pass  # the server hung up first: an oversized request, typically
    finally:
        writer.close()
    statuses = [int(m) for m in STATUS.findall(answer)]
    return str(max(statuses)) if statuses else "no answer"


async def _send(client: httpx.AsyncClient, host: str, port: int, case: Case, secrets: Secrets) -> str:
    if case.raw:
        return await _send_raw(host, port, case, secrets)
    headers = [(k, secrets.fill(v)) for k, v in case.headers]
    try:
        request = client.build_request(case.method, secrets.fill(case.target).decode("latin-1"),
                                       headers=headers, content=secrets.fill(case.body))
        response = await client.send(request)
        await response.aread()
        await response.aclose()
        return str(response.status_code)
    except httpx.TimeoutException:
        return "timeout"
    except (httpx.LocalProtocolError, httpx.UnsupportedProtocol, h11.LocalProtocolError, httpx.InvalidURL,
            ValueError):
        # What httpx will not send (a line break in a header, a body longer than its declared length;
        # h11's own error escapes httpx unwrapped): the same bytes over a raw socket.
        return await _send_raw(host, port, replace(case, raw="plain"), secrets)
    except httpx.TransportError:
        return "no answer"


async def run(base: str, cases: Iterable[Case], secrets: Secrets, *, concurrency: int = 4,
              deadline: float | None = None) -> Tally:
    """Send ``cases`` (consumed lazily: some carry a megabyte) until done or past ``deadline``."""
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    tally = Tally()
    source: Iterator[Case] = iter(cases)
    jar = CookieJar(DefaultCookiePolicy(allowed_domains=[]))  # each case brings its own cookies
    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT, cookies=jar, limits=limits) as client:

        async def worker() -> None:
            for case in source:
                if deadline is not None and time.monotonic() > deadline:
                    return
                began = time.monotonic()
                status = await _send(client, host, port, case, secrets)
                took = time.monotonic() - began
                if len(tally.slowest) < 5 or took > tally.slowest[-1][0]:
                    tally.slowest = sorted([*tally.slowest, (took, f"{status} {case.describe()[:300]}")],
                                           reverse=True)[:5]
                tally.sent += 1
                tally.statuses[status] += 1
                tally.routes[case.route] += 1
                tally.framings[f"{case.raw or 'httpx'} {status}"] += 1
                failed = status.startswith("5") and not _health_verdict(case, status)
                if failed and len(tally.failures) < 1000:
                    tally.failures.append(f"{status} for {case.describe()}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    tally.elapsed = time.monotonic() - started
    return tally


def _health_verdict(case: Case, status: str) -> bool:
    return status == "503" and case.target.split(b"?")[0] in (b"/-/health", b"/-/ready")


def server_trouble(log: str) -> list[str]:
    """What in the log shows a failure: a 5xx in the access log, an unhandled exception, and each
    traceback, by the exception it ends with."""
    lines = log.splitlines()
    trouble = []
    for at, line in enumerate(lines):
        failed = ACCESS_5XX.search(line) and not HEALTH_503.search(line)
        if failed or "Exception in ASGI application" in line:
            trouble.append(line)
        elif line.startswith("Traceback"):
            ending = (rest for rest in lines[at + 1:] if rest and not rest.startswith((" ", "Traceback")))
            trouble.append(f"Traceback ending in {next(ending, '?')}")
    return trouble


def first_traceback(log: str, lines: int = 40) -> str:
    at = log.find("Traceback")
    return "" if at < 0 else "\n".join(log[at:].splitlines()[:lines])
