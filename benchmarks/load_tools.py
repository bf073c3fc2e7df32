"""The parts of benchmarks/tracking_load.py that are not the benchmark's story: the hits wrk sends (as
a Lua script), wrk's figures, the processes (start, stop, resident memory), the gateway's ``/-/metrics``
and the events it stored, and consent cookies minted offline for the soak.

Nothing here is product code; it imports the gateway only to mint cookies (``ConsentCodec``) and, in a
subprocess, to count the stored rows.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "http://localhost:8080"  # the demo site's (site 1)
SITE = 1
METRICS_TOKEN = "benchmark-operator-token-0123456789"  # noqa: S105 (for its own gateway's /-/metrics)
SECRET_KEY = "b" * 48  # the benchmark gateway's GATEWAY_SECRET_KEYS: cookies can be minted offline
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; V2183A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 "
    "MicroMessenger/8.0.47.2560(0x28002F30) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
)
PAGES = ("/", "/catalogue", "/catalogue/brakes", "/catalogue/brakes/pads", "/catalogue/filters/oil",
         "/search?q=brake+pads", "/cart", "/about", "/contact", "/catalogue/lights/h7")
REFERRERS = ("", "", "https://www.google.com/", "https://www.baidu.com/s?wd=brake", "https://www.bing.com/",
             "https://t.co/abc", "https://forum.example.org/thread/42")


def public_ip(rnd: random.Random) -> str:
    first = rnd.choice((2, 5, 31, 46, 62, 77, 81, 85, 91, 109, 175, 183, 213, 217, 223))
    return f"{first}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hits(cookies: list[str], count: int, seed: int = 7) -> list[dict[str, str]]:
    """``count`` matomo.js-shaped beacon hits: varied pages, referrers, IPs, user agents, visitors."""
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        page = rnd.choice(PAGES)
        params = {"idsite": str(SITE), "rec": "1", "apiv": "1", "r": str(rnd.randrange(10**6)),
                  "action_name": f"Parts catalogue - {page}", "url": f"{ORIGIN}{page}",
                  "urlref": rnd.choice(REFERRERS), "_id": f"{rnd.getrandbits(64):016x}", "h": "10", "m": "4",
                  "s": "31", "res": rnd.choice(("1920x1080", "1366x768", "390x844", "1536x864")),
                  "pv_id": f"{i % 10**6:06d}", "send_image": "0"}
        cookie = rnd.choice(cookies) if cookies else ""  # none: the soak's script sends its own
        out.append({"path": "/matomo.php?" + urlencode(params), "cookie": cookie, "ip": public_ip(rnd),
                    "ua": rnd.choice(USER_AGENTS)})
    return out


def lua_script(requests: list[dict[str, str]], cookie_file: Path | None = None) -> str:
    """wrk's script: the hits in turn; with ``cookie_file``, each request takes the file's next line as
    its visitor's cookie value (streamed, so a million visitors cost wrk no memory), wrapping around."""

    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    entries = ",\n".join("{" + ", ".join(quote(r[k]) for k in ("path", "cookie", "ip", "ua")) + "}"
                         for r in requests)
    if cookie_file is None:
        cookie = "h[2]"
        opening = ""
    else:
        cookie = "next_cookie()"
        opening = f"""
local cookies = assert(io.open({quote(str(cookie_file))}, "r"))
local function next_cookie()
  local line = cookies:read("*l")
  if line == nil then
    cookies:seek("set")
    line = cookies:read("*l")
  end
  return "cg_consent_{SITE}=" .. line
end
"""
    return f"""{opening}
local hits = {{
{entries}
}}
local i = 0
request = function()
  i = i + 1
  local h = hits[(i % #hits) + 1]
  return wrk.format("POST", h[1], {{["Cookie"] = {cookie}, ["X-Forwarded-For"] = h[3], ["User-Agent"] = h[4],
    ["Origin"] = "{ORIGIN}", ["Accept-Language"] = "de-DE,de;q=0.9", ["Content-Length"] = "0"}}, "")
end
"""


@dataclass(frozen=True, slots=True)
class Wrk:
    """One wrk run's figures: requests per second, the 50th and 99th percentiles (ms), answers."""

    rps: float
    p50: float
    p99: float
    answered: int  # responses wrk read
    not_2xx: int  # of which not 2xx or 3xx

    @property
    def ok(self) -> int:
        return self.answered - self.not_2xx


def wrk_command(url: str, script: Path | None, duration: int, connections: int, threads: int) -> list[str]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    return [*command, *(["-s", str(script)] if script is not None else []), url]


def parse_wrk(output: str) -> Wrk:
    def number(pattern: str) -> float:
        found = re.search(pattern, output)
        if found is None:
            raise SystemExit(f"wrk's output lacks {pattern!r}:\n{output}")
        return float(found.group(1))

    def percentile(label: str) -> float:
        found = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", output)
        assert found is not None, output
        return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]

    not_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Wrk(rps=number(r"Requests/sec:\s+([\d.]+)"), p50=percentile("50%"), p99=percentile("99%"),
               answered=int(number(r"(\d+) requests in")), not_2xx=int(not_2xx.group(1)) if not_2xx else 0)


def run_wrk(url: str, script: Path | None, duration: int, connections: int, threads: int = 1) -> Wrk:
    command = wrk_command(url, script, duration, connections, threads)
    return parse_wrk(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path | None = None) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log else ""
            raise SystemExit(f"server exited with {process.returncode}; {log or ''}:\n{tail}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a service manager stops it (the gateway flushes its spool and writer), then SIGKILL."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (``serve --workers N``: the supervisor and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):  # exited meanwhile
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(current := todo.pop())
        todo.extend(children.get(current, ()))
    return tree


def rss_mib(pid: int) -> float:
    """Resident memory (VmRSS) of ``pid`` and its descendants, in MiB."""
    total_kib = 0
    for each in process_tree(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total_kib += int(found.group(1)) if found else 0
    return total_kib / 1024


def gateway_env(data: Path, city_db: Path, clickhouse_url: str) -> dict[str, str]:
    return ({k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
            | {"GATEWAY_DATA_DIR": str(data), "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
               "GATEWAY_SECRET_KEYS": SECRET_KEY, "GATEWAY_GEOIP_CITY_DB": str(city_db),
               "GATEWAY_LOG_LEVEL": "warning", "GATEWAY_METRICS_TOKEN": METRICS_TOKEN}
            | ({"GATEWAY_CLICKHOUSE_URL": clickhouse_url} if clickhouse_url else {}))


def start_gateway(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    log = (Path(env["GATEWAY_DATA_DIR"]) / "serve.log").open("wb")
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def start_trivial(port: int, workers: int) -> subprocess.Popen[bytes]:
    code = ("import uvicorn; uvicorn.run('benchmarks.trivial_app:app', host='127.0.0.1', "
            f"port={port}, workers={workers}, access_log=False, proxy_headers=False, server_header=False, "
            "log_config=None, log_level='warning', ws='none')")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)


def metrics(base: str) -> dict[str, Any]:
    """The gateway's ``/-/metrics`` as JSON (summed over its workers)."""
    answer = httpx.get(f"{base}/-/metrics", timeout=30,
                       headers={"Authorization": f"Bearer {METRICS_TOKEN}", "Accept": "application/json"})
    answer.raise_for_status()
    figures: dict[str, Any] = answer.json()
    return figures


def longest_stall_ms(figures: dict[str, Any]) -> float:
    return float(figures.get("loop", {}).get("max_lag_ms", float("nan")))


def worst_bucket(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The highest lag bucket (``le``, in ms) a tick fell in between two scrapes: a bound on the longest
    stall of that stretch (the longest-since-start gauge may come from earlier)."""
    old = before.get("loop", {}).get("lag", {}).get("buckets", {})
    new = after.get("loop", {}).get("lag", {}).get("buckets", {})
    grown = [le for le, count in new.items() if count > old.get(le, 0)]
    if not grown:
        return "-"
    top = max(grown, key=lambda le: float(le))
    return "> 1000" if top == "+Inf" else f"<= {float(top) * 1000:g}"


def stored_events(env: dict[str, str]) -> int:
    """Rows in ``events``, counted by a subprocess (embedded chDB binds one database per process) once
    the gateway has stopped and flushed."""
    code = ("from gateway.config.settings import load_settings; "
            "from gateway.storage.clickhouse import connect; "
            "db = connect(load_settings().clickhouse_target, create_database=False); "
            "print(db.query('SELECT count() FROM events')[0][0]); db.close()")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"counting the stored events failed:\n{done.stderr[-2000:]}")
    return int(done.stdout.split()[-1])


def mint_cookies(path: Path, count: int, seed: int = 11) -> None:
    """``count`` distinct visitors' analytics consent cookies for site 1, signed with ``SECRET_KEY`` as
    the gateway signs them, one value a line. No ``POST /consent`` (a million would take the run): the
    gateway takes a valid cookie without its consent-log row, as after another instance's decision."""
    from gateway.consent.cookie import Consent, ConsentCodec

    codec, rnd, now = ConsentCodec((SECRET_KEY,)), random.Random(seed), int(time.time())
    categories = frozenset({"necessary", "analytics"})
    with path.open("w", encoding="ascii") as out:
        for _ in range(count):
            consent = Consent(uuid.UUID(int=rnd.getrandbits(128), version=4), SITE, categories, "1", now - 60,
                              now + 180 * 86400, rnd.getrandbits(63) or 1, "banner")
            out.write(codec.dumps(consent) + "\n")


def city_database(scratch: Path) -> tuple[Path, str]:
    real = ROOT / "data" / "geoip" / "city.mmdb"
    if real.exists():
        return real, "real city database (data/geoip/city.mmdb)"
    from tests.geoip_fixture import build_city_db

    tiny = build_city_db(scratch / "city.mmdb")
    return tiny, "the tests' tiny city database (run ./scripts/serve once for the real one)"


def ready(base: str, gateway: subprocess.Popen[bytes], workers: int, log: Path) -> None:
    """Once every worker has started and published its figures (``/-/metrics`` says how many live)."""
    wait_ready(f"{base}/-/ready", gateway, log)
    deadline = time.monotonic() + 120
    while sum(1 for w in metrics(base)["workers"].values() if w.get("live")) < workers:
        if time.monotonic() > deadline:
            raise SystemExit(f"not all {workers} workers started")
        time.sleep(0.5)
    time.sleep(1)  # the start's stragglers (the password hash warm-up) settle before the idle RSS


def consented(base: str, visitors: int) -> list[str]:
    """Cookies of ``visitors`` who accepted analytics through ``POST /consent``."""
    cookies = []
    with httpx.Client(base_url=base, headers={"Origin": ORIGIN}) as web:
        for n in range(visitors):
            web.cookies.clear()
            answer = web.post(  # each visitor from its own address: one address has a budget of rows
                "/consent?site=1", json={"categories": ["analytics"], "policy_version": "1"},
                headers={"X-Forwarded-For": f"85.214.{n // 250}.{n % 250 + 1}"})
            answer.raise_for_status()
            cookies.append(f"cg_consent_1={web.cookies['cg_consent_1']}")
    return cookies
