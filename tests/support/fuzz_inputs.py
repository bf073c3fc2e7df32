"""What the fuzzer sends: hostile values, and for each route a request that passes its first checks.

A recipe builds a plausible request (a ``Draft``) for one route and method: the tracking endpoints
in each transport (GET, form POST, the beacon's empty POST, bulk JSON, the preflight), the consent
and rights APIs with the visitor's cookie or the site token, the dashboard's pages with a session,
filters and ranges, its forms with their CSRF token. A route without a recipe gets a generic one,
which is how a new route is fuzzed before anyone writes its recipe. ``tests.support.fuzz`` mutates
the drafts; placeholders (``{CONSENT}``, ``{SESSION}``, ``{CSRF}``, ``{CID}``, ``{TOKEN}``...) are
filled when sent (``tests.support.fuzz_run.Secrets``); a ``~`` in one (``{SESSION~}``) stands for the
real value with one character changed: a forgery that differs from the real thing by one byte.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.stats.query import FILTERS, PERIODS
from gateway.stats.reports import REPORTS

ORIGIN = b"https://parts.example"
PASSWORD = b"correct horse battery"
NASTY: tuple[bytes, ...] = (
    b"", b"0", b"-1", b"1.5", b"1e309", b"NaN", b"99999999999999999999999", b"\x00", b"\xff\xfe",
    b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", "🙂".encode() * 40, b"A" * 5000,
    b"../../../etc/passwd", b"<script>alert(1)</script>", b"' OR '1'='1", b"{{7*7}}", b"%s%n",
    b"\r\nSet-Cookie: x=1", b" ", b"\t", b"null", b"[]", b"{}", b"true", b"2026-02-30", b"0000-00-00",
    b"9999-12-31", "１２３".encode(), "²".encode(), b"%", b"%zz", b"+", b"&", b"=", b"\\", b'"',
    b"javascript:alert(1)", b"//evil.example", "\u202e".encode(), b"a\x7fb", b"\x1b[31m",
)
HEX = "0123456789abcdef"


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str  # the route's template: /dashboard/{site:int}/reports/{report}
    methods: tuple[str, ...]  # as declared (HEAD with GET)


@dataclass(slots=True)
class Draft:
    """A request being built; ``raw`` names its framing when it goes over a raw socket."""

    endpoint: Endpoint
    method: str
    made_for: str  # the declared method this draft started as, for the coverage count
    params: dict[str, bytes]  # path parameters, not yet quoted
    query: list[tuple[bytes, bytes]] = field(default_factory=list)
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    cookies: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    raw: str = ""
    why: list[str] = field(default_factory=list)

    def form(self, fields: list[tuple[bytes, bytes]]) -> None:
        self.body = b"&".join(k + b"=" + v for k, v in fields)
        self.headers.append((b"Content-Type", b"application/x-www-form-urlencoded"))

    def json(self, value: object, content_type: bytes = b"application/json") -> None:
        self.body = json.dumps(value).encode()
        self.headers.append((b"Content-Type", content_type))


def _uuid(rng: random.Random) -> bytes:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)).encode()


def _hex(rng: random.Random, n: int) -> bytes:
    return "".join(rng.choice(HEX) for _ in range(n)).encode()


def path_value(name: str, convertor: str, rng: random.Random, assets: tuple[str, ...]) -> bytes:
    """A value for a path parameter: mostly one that exists, sometimes one that does not."""
    if name == "site":
        return rng.choice((b"1", b"1", b"1", b"1", b"1", b"1", b"2", b"2", b"3", b"0", b"4294967296"))
    if name == "consent_id":
        return rng.choice((b"{CID}", b"{CID}", _uuid(rng), b"not-a-uuid", b"{CID~}"))
    if name == "report":
        return rng.choice(list(REPORTS)).encode() + rng.choice((b"", b"", b".json", b".csv", b".xml"))
    if name == "name":
        return rng.choice((*assets, "dashboard.css", "nope.js")).encode()
    if name == "file":
        return rng.choice((b"index.html", b"demo.js", b"demo.css", b"gated.js", b"nope"))
    if name == "digest":
        return _hex(rng, 12)
    return {"int": str(rng.randrange(10**6)).encode(), "uuid": _uuid(rng)}.get(convertor, rng.choice(NASTY))


def _hit(rng: random.Random) -> list[tuple[bytes, bytes]]:
    site = rng.choice((b"1", b"1", b"2"))
    hit = [(b"idsite", site), (b"rec", b"1"), (b"url", b"https://parts.example/p/" + _hex(rng, 4)),
           (b"action_name", b"Parts"), (b"_id", _hex(rng, 16)), (b"rand", _hex(rng, 6))]
    extras = [
        [(b"res", b"1920x1080")], [(b"urlref", b"https://www.google.com/search?q=x")], [(b"uid", b"user-7")],
        [(b"e_c", b"Video"), (b"e_a", b"Play"), (b"e_n", b"intro"), (b"e_v", b"3.5")],
        [(b"search", b"brake pads"), (b"search_count", b"4")], [(b"link", b"https://out.example/")],
        [(b"download", b"https://parts.example/c.pdf")], [(b"_cvar", b'{"1":["tier","gold"]}')],
        [(b"dimension1", b"blue")], [(b"lang", b"de-DE")], [(b"pv_id", b"abc123")], [(b"send_image", b"0")],
        [(b"ping", b"1")], [(b"h", b"12"), (b"m", b"5"), (b"s", b"9")], [(b"new_visit", b"1")],
        [(b"cdt", b"1700000000"), (b"token_auth", b"{TOKEN}")],
        [(b"cip", b"81.2.69.160"), (b"token_auth", b"{TOKEN}")],
        [(b"idgoal", b"1"), (b"revenue", b"9.99")], [(b"ca", b"1")], [(b"bots", b"1")],
    ]
    for extra in rng.sample(extras, rng.randrange(4)):
        hit += extra
    return hit


def _tracking(d: Draft, rng: random.Random) -> None:
    hit = _hit(rng)
    if rng.random() < 0.7:
        d.cookies.append((b"cg_consent_" + hit[0][1], b"{CONSENT}"))
    d.headers.append((b"Origin", ORIGIN))
    if d.method == "OPTIONS":
        d.headers.append((b"Access-Control-Request-Method", b"POST"))
        d.query = hit[:1] if rng.random() < 0.5 else []
        return
    transport = rng.randrange(3) if d.method == "POST" else 0
    if transport == 0:  # everything in the query string (GET; matomo.js's sendBeacon POST)
        d.query = hit
    elif transport == 1:
        d.form(hit)
    else:
        entries = ["?" + "&".join(f"{k.decode()}={v.decode()}" for k, v in _hit(rng)) for _ in range(3)]
        d.json({"requests": [*entries, dict((k.decode(), v.decode()) for k, v in _hit(rng))],
                "token_auth": "{TOKEN}", "send_image": rng.choice((0, 1))},
               rng.choice((b"application/json", b"application/x-www-form-urlencoded; charset=UTF-8")))


def _consent(d: Draft, rng: random.Random) -> None:
    d.query = [(b"site", b"1")]
    if rng.random() < 0.3:
        d.query.append((b"lang", rng.choice((b"de", b"zh-CN", b"xx"))))
    d.headers.append((b"Origin", ORIGIN))
    if rng.random() < 0.6:
        d.cookies.append((b"cg_consent_1", rng.choice((b"{CONSENT}", b"{CONSENT~}"))))
    if rng.random() < 0.2:
        d.headers.append(rng.choice(((b"Sec-GPC", b"1"), (b"DNT", b"1"))))
    if d.method == "OPTIONS":
        d.headers.append((b"Access-Control-Request-Method", rng.choice((b"POST", b"DELETE", b"GET"))))
    elif d.method == "POST":
        d.json({"categories": rng.sample(["necessary", "analytics", "marketing"], rng.randrange(3)),
                "policy_version": "1", "source": rng.choice(("banner", "api")), "language": "en",
                "banner_version": "1.0"}, rng.choice((b"application/json", b"text/plain;charset=UTF-8")))


def _visitor_data(d: Draft, rng: random.Random) -> None:
    _consent(d, rng)
    d.body = b""


def _token(d: Draft, rng: random.Random) -> None:
    if rng.random() < 0.8:
        credentials = rng.choice((b"Bearer {TOKEN}", b"Bearer {TOKEN~}", b"Basic Og=="))
        d.headers.append((b"Authorization", credentials))
    if d.endpoint.path == "/api/user-data":
        d.query = [(b"site", b"1"), (b"uid", rng.choice((b"user-7", b"nobody")))]


def _session(d: Draft, rng: random.Random) -> None:
    roll = rng.random()
    if roll < 0.75:
        d.cookies += [(b"cg_session", b"{SESSION}"), (b"cg_csrf", b"{CSRF_COOKIE}")]
    elif roll < 0.85:
        d.headers.append((b"Authorization", b"Bearer {TOKEN}"))
    elif roll < 0.9:
        d.cookies.append((b"cg_session", b"{SESSION~}"))


def _dashboard(d: Draft, rng: random.Random) -> None:
    _session(d, rng)
    period = rng.choice([p for p, _ in PERIODS] + ["custom"])
    d.query = [(b"period", period.encode())]
    if period == "custom":
        end = rng.choice((b"2026-01-31", b"2025-01-01", b"2030-12-31"))
        d.query += [(b"from", b"2026-01-01"), (b"to", end)]
    for key in rng.sample(sorted(FILTERS), rng.randrange(3)):
        d.query.append((key.encode(), rng.choice((b"DE", b"/brakes", b"Chrome", b"Berlin", b"search", b"x"))))
    extras = [(b"limit", b"5"), (b"offset", b"10"), (b"search", b"bra"), (b"fragment", b"card"),
              (b"consent", b"{CID}"), (b"done", b"erase")]
    d.query += rng.sample(extras, rng.randrange(3))
    if rng.random() < 0.2:
        d.headers.append((b"Accept", b"application/json"))
    if d.method == "POST":  # the data requests page's forms
        d.query = []
        d.form([(b"csrf", b"{CSRF}"), (b"consent", rng.choice((b"{CID}", _uuid(rng))))]
               + ([(b"confirm", b"yes")] if rng.random() < 0.3 else []))


def _login(d: Draft, rng: random.Random) -> None:
    d.cookies.append((b"cg_csrf", b"{CSRF_COOKIE}"))
    d.query = [(b"next", rng.choice((b"/dashboard/1", b"//evil.example/", b"https://evil.example/")))]
    if d.method == "POST":
        d.form([(b"username", rng.choice((b"anna", b"ANNA", b"nobody"))),
                (b"password", rng.choice((PASSWORD, b"wrong", b""))),
                (b"csrf", rng.choice((b"{CSRF}", b"x")))])


def _logout(d: Draft, rng: random.Random) -> None:
    # Never the real session: ending it would leave the rest of the run logged out.
    d.cookies += [(b"cg_session", b"{SESSION~}"), (b"cg_csrf", b"{CSRF_COOKIE}")]
    d.form([(b"csrf", b"{CSRF}")])


def _other(d: Draft, rng: random.Random) -> None:
    path = d.endpoint.path
    if path == "/privacy":
        d.query = [(b"site", b"1"), (b"lang", rng.choice((b"de", b"zh-CN", b"xx"))),
                   (b"format", rng.choice((b"html", b"md", b"json", b"pdf")))]
        d.headers.append((b"Origin", ORIGIN))
    elif path == "/dashboard/shared":
        d.query = [(b"key", rng.choice((b"{SHARE}", b"{SHARE~}", b"nope")))]
    elif path.startswith("/-/"):
        d.headers.append((b"Authorization", rng.choice((b"Bearer nope", b"Bearer {TOKEN}", b""))))
        d.headers.append((b"Accept", rng.choice((b"text/plain", b"application/json", b"*/*"))))
    elif path.startswith("/dashboard"):
        _session(d, rng)
    else:  # scripts, the demo, and any route without a recipe yet
        d.headers.append(rng.choice(((b"If-None-Match", b'"abc"'), (b"Accept-Encoding", b"gzip, br"),
                                     (b"Range", b"bytes=0-10"), (b"Accept", b"*/*"))))
        d.query = [(b"v", _hex(rng, 4))] if rng.random() < 0.3 else []


TRACKING = {"/matomo.php", "/piwik.php", "/js/", "/js/index.php", "/t"}
RECIPES: dict[str, Callable[[Draft, random.Random], None]] = {
    "/consent": _consent, "/consent/data": _visitor_data, "/api/consents/{consent_id}": _token,
    "/api/consents/{consent_id}/data": _token, "/api/user-data": _token, "/dashboard/login": _login,
    "/dashboard/logout": _logout,
}
PARAM = re.compile(r"{(\w+)(?::(\w+))?}")


def base_request(endpoint: Endpoint, method: str, assets: tuple[str, ...], rng: random.Random) -> Draft:
    params = {m[1]: path_value(m[1], m[2] or "str", rng, assets) for m in PARAM.finditer(endpoint.path)}
    draft = Draft(endpoint, method, method, params)
    path = endpoint.path
    recipe = RECIPES.get(path) or (_tracking if path in TRACKING else None)
    if recipe is None:
        recipe = _dashboard if path.startswith("/dashboard/{site") else _other
    recipe(draft, rng)
    return draft
