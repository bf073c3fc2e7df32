"""A seeded fuzzer over every route and method of the gateway: crafted cases, then random mutations.

The plan is read from the app's own routes (``plan_of(app)``), so a new route is fuzzed without
anyone adding it here: its path parameters are filled by name or convertor, its methods are those
it declares plus one it does not. Routes with a recipe (``tests.support.fuzz_inputs``) start from
a request that passes the first checks (a site id, the visitor's consent cookie, a logged-in session
and its CSRF token, the site token), so that mutations reach the code behind the parsing.

``crafted_cases(plan, seed)``: each kind of bad input once per route and method (invalid UTF-8,
lone surrogates, huge values, deep JSON, odd content types, forged cookies; over a raw socket:
oversized headers, bad chunking, bodies cut short, a client hanging up before its answer, raw bytes
in the request line, ambiguous lengths). ``random_cases(plan, seed, count)``: plausible requests
with zero to three random mutations. Both are deterministic for their seed. What is known only once
the gateway runs (the session, the consent cookie and its id) are placeholders (``{SESSION}``...)
filled in when sent, so a case prints the same on every run and ``benchmarks/fuzz.py --replay``
sends it again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes

from starlette.routing import Route

from tests.support.fuzz_inputs import NASTY, Draft, Endpoint, base_request

EXTRA_METHODS = ("PUT", "PATCH", "DELETE", "POST", "TRACE", "PROPFIND", "get")
# Sent over a raw socket: what an HTTP client library will not send.
FRAMINGS = ("chunked-bad-size", "chunked-cut", "body-cut", "hang-up", "leave-early", "huge-header",
            "huge-header-bad-chunk", "many-headers", "raw-target", "cl-and-te", "bad-content-length",
            "http10-no-host", "pipelined", "line-cut")
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# For methods with a body only.
BODY_FRAMINGS = {"chunked-bad-size", "chunked-cut", "body-cut", "cl-and-te", "huge-header-bad-chunk"}


@dataclass(frozen=True, slots=True)
class Plan:
    endpoints: tuple[Endpoint, ...]
    assets: tuple[str, ...]  # the dashboard's versioned static names, so some requests find them


@dataclass(frozen=True, slots=True)
class Case:
    seed: int
    crafted: bool  # from crafted_cases, else from random_cases
    index: int
    route: str  # "GET /dashboard/{site:int}": the endpoint and method this case was made for
    method: str
    target: bytes  # path and query, quoted (raw-target cases excepted)
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    raw: str
    why: str

    def describe(self) -> str:
        head = ", ".join(f"{k.decode('latin-1')}: {v[:60]!r}" for k, v in self.headers)
        kind = "crafted" if self.crafted else "random"
        return (f"seed {self.seed} {kind} case {self.index} [{self.why}] {self.method} {self.target[:200]!r} "
                f"headers {{{head[:400]}}} body {self.body[:200]!r} ({len(self.body)} bytes)"
                + (f" over a raw socket: {self.raw}" if self.raw else ""))


def plan_of(app: Any) -> Plan:
    endpoints = tuple(Endpoint(route.path, tuple(sorted(route.methods or ("GET",))))
                      for route in app.routes if isinstance(route, Route))
    assert len(endpoints) == len(app.routes), "a route that is not a Route: teach the fuzzer about it"
    return Plan(endpoints, tuple(sorted(app.state.dashboard_assets)))


def _target(draft: Draft) -> bytes:
    path = draft.endpoint.path.encode()
    for name, value in draft.params.items():
        start = path.index(b"{" + name.encode())
        end = path.index(b"}", start) + 1
        path = path[:start] + quote_from_bytes(value, safe="{}~").encode() + path[end:]
    # Values keep their "%": "%FF" goes out as sent, an invalid escape the server must take apart.
    query = b"&".join(quote_from_bytes(k, safe="{}~").encode() + b"="
                      + quote_from_bytes(v, safe="%{}~").encode() for k, v in draft.query)
    return path + (b"?" + query if query else b"")


def _finish(draft: Draft, seed: int, crafted: bool, index: int) -> Case:
    headers = list(draft.headers)
    if draft.cookies:
        headers.append((b"Cookie", b"; ".join(k + b"=" + v for k, v in draft.cookies)))
    return Case(seed, crafted, index, f"{draft.made_for} {draft.endpoint.path}", draft.method, _target(draft),
                tuple(headers), draft.body, draft.raw, " + ".join(draft.why) or "plain")


def _nasty(rng: random.Random) -> bytes:
    return rng.choice(NASTY)


# Crafted kinds: each applied once to every route and method.
def _invalid_utf8(d: Draft, rng: random.Random) -> None:
    d.query.append((b"q\xff", b"%FF%FE%C0%AF"))
    d.query = [(k, v + b"%ED%A0%80") for k, v in d.query]  # a UTF-8-encoded surrogate on every value


def _surrogates(d: Draft, rng: random.Random) -> None:
    d.body = (b'{"categories": ["\\ud800"], "policy_version": "\\udfff", '
              b'"requests": ["?idsite=1&url=\\udc00"]}')
    d.headers.append((b"Content-Type", b"application/json"))
    d.query.append((b"lang", "\udcff".encode("utf-8", "surrogatepass")))


def _huge(d: Draft, rng: random.Random) -> None:
    d.query = [(k, b"9" * 6000) for k, _ in d.query] or [(b"x", b"A" * 6000)]
    d.body = b"A" * (1 << 20 | 1) if d.method in BODY_METHODS else d.body


def _deep_json(d: Draft, rng: random.Random) -> None:
    depth = rng.choice((1500, 100_000))
    d.body = b'{"requests": ' + b"[" * depth + b"]" * depth + b"}"
    d.headers.append((b"Content-Type", b"application/json"))
    d.query.append((b"_cvar", b"[" * 2000))


def _content_type(d: Draft, rng: random.Random) -> None:
    d.headers = [(k, v) for k, v in d.headers if k.lower() != b"content-type"]
    d.headers.append((b"Content-Type", rng.choice((
        b"multipart/form-data", b"multipart/form-data; boundary=",
        b"application/x-www-form-urlencoded; charset=bogus", b"text/plain; charset=utf-16",
        b"application/json; charset=latin-1", b";;;==", b"\xff/\xfe", b"*/*"))))
    d.body = d.body or b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff\r\n--x--"


def _forged_cookies(d: Draft, rng: random.Random) -> None:
    forged = [b"{CONSENT~}", b"{SESSION~}", b"{CONSENT}", b"eyJ" + b"A" * 300, b"\xff\xfe", b"x" * 5000,
              b'"quoted"', b"a=b=c", b"\\u0000"]
    d.cookies = [(name, rng.choice(forged)) for name in (b"cg_consent_1", b"cg_consent_2", b"cg_session",
                                                          b"cg_csrf", b"cg_share", b"cg_consent_99999999999")]


CRAFTED: dict[str, Callable[[Draft, random.Random], None]] = {
    "invalid-utf8": _invalid_utf8, "lone-surrogates": _surrogates, "huge-values": _huge,
    "deep-json": _deep_json, "odd-content-type": _content_type, "forged-cookies": _forged_cookies,
}


def _mutate(d: Draft, rng: random.Random) -> None:
    kind = rng.randrange(12)
    d.why.append(f"m{kind}")
    if kind == 0 and d.query:
        i = rng.randrange(len(d.query))
        d.query[i] = (d.query[i][0], _nasty(rng))
    elif kind == 1:
        d.query.append((rng.choice((b"site", b"idsite", b"period", b"from", b"limit", b"consent", b"format",
                                    b"lang", b"uid", b"next", b"search", b"page", b"country")), _nasty(rng)))
    elif kind == 2 and d.query:
        d.query.append(rng.choice(d.query))  # a parameter given twice
    elif kind == 3 and d.params:
        param = rng.choice(sorted(d.params))
        d.params[param] = _nasty(rng) or b"0"
    elif kind == 4:
        d.body = rng.choice((b"", _nasty(rng), d.body[: rng.randrange(len(d.body) + 1)],
                             bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))))
    elif kind == 5:
        _content_type(d, rng)
    elif kind == 6 and d.cookies:
        i = rng.randrange(len(d.cookies))
        cookie, value = d.cookies[i]
        if value.startswith(b"{") and value.endswith(b"}"):  # the real one, one character changed
            d.cookies[i] = (cookie, value[:-1] + b"~}")
        elif value:
            flipped = bytearray(value)
            flipped[rng.randrange(len(value))] ^= 1 << rng.randrange(7)
            d.cookies[i] = (cookie, bytes(flipped))
    elif kind == 7:
        header = rng.choice((b"Accept", b"Accept-Language", b"Origin", b"X-Forwarded-For", b"Forwarded",
                           b"Authorization", b"Range", b"If-None-Match", b"Sec-GPC", b"DNT",
                           b"Content-Encoding", b"User-Agent", b"Referer", b"Host", b"Content-Length",
                           b"Transfer-Encoding"))
        value = rng.choice((*NASTY[:12], b"Bearer {TOKEN}", b"bytes=5-1", b"application/json"))
        d.headers.append((header, value))
    elif kind == 8:
        d.method = rng.choice((*EXTRA_METHODS, *d.endpoint.methods))
    elif kind == 9:
        _forged_cookies(d, rng)
    elif kind == 10:
        rng.choice(list(CRAFTED.values()))(d, rng)
    else:
        d.raw = rng.choice(FRAMINGS)


def crafted_cases(plan: Plan, seed: int) -> Iterator[Case]:
    """Each crafted kind once for every route and method (and one method it does not declare)."""
    rng = random.Random(f"crafted {seed}")
    index = 0
    for endpoint in plan.endpoints:
        for method in (*endpoint.methods, rng.choice(EXTRA_METHODS)):
            for kind in (*CRAFTED, *FRAMINGS):
                if kind in BODY_FRAMINGS and method not in BODY_METHODS:
                    continue
                draft = base_request(endpoint, method, plan.assets, rng)
                if kind in CRAFTED:
                    CRAFTED[kind](draft, rng)
                else:
                    draft.raw = kind
                draft.why.append(kind)
                yield _finish(draft, seed, True, index)
                index += 1


def random_cases(plan: Plan, seed: int, count: int) -> Iterator[Case]:
    """``count`` plausible requests to random routes, each with zero to three random mutations."""
    rng = random.Random(seed)
    for index in range(count):
        endpoint = rng.choice(plan.endpoints)
        draft = base_request(endpoint, rng.choice(endpoint.methods), plan.assets, rng)
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            _mutate(draft, rng)
        yield _finish(draft, seed, False, index)


def replay(plan: Plan, seed: int, index: int, *, crafted: bool) -> Case:
    """The case a failure message names, made again."""
    made = crafted_cases(plan, seed) if crafted else random_cases(plan, seed, index + 1)
    for case in made:
        if case.index == index:
            return case
    raise IndexError(f"no {'crafted' if crafted else 'random'} case {index} for seed {seed}")
