"""Privacy scrubbing: personal data out of free text and URLs before anything is stored.

Owns ``Scrubber``, which compiles the rule table of ``scrub_rules`` once and walks text and URLs with
it, and the URL rewriting around the rules: userinfo dropped, path and query decoded, scrubbed and
re-encoded, secret query parameters replaced, fragment dropped unless kept. What is redacted, and
which false positives are accepted, is said next to each rule in ``scrub_rules``.

A scrubbed text grows by at most a sixth (see ``scrub_rules``); in URLs a secret value becomes
``[redacted]`` whatever its length (+9 characters per parameter at worst) and raw non-ASCII is
percent-encoded. Callers cap lengths before and after (``hit.MAX_*``).

Cost: clean text passes after one or two searches (~1 µs for a title), and is then remembered, so the
same title again costs a set lookup; text with personal data is scrubbed afresh every time and never
kept. ``python -m benchmarks.scrub`` prints the figures.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from gateway.ingest.scrub_rules import (
    ADDRESS,
    DEFAULT_SECRET_PARAMS,
    IP,
    NETWORK,
    NUMBER,
    REDACTED,
    RULES,
    TOKEN,
    Rule,
    is_ip,
)

__all__ = ["DEFAULT_SECRET_PARAMS", "ScrubbedUrl", "Scrubber"]  # the default list: handed to Scrubber

# Both other scopes at once, so that clean text (nearly all of it) passes with one search: 7 digits
# with at most two other characters between neighbours, or a digit in a run of 17 letters and digits
# (9 from the digit on, or 9 up to it: either holds for any digit of a VIN). Anchored on a digit,
# which the regex engine finds fast.
_MAYBE = re.compile(r"\d(?:(?:[^\dA-Za-z]{0,2}\d){6}|[0-9A-Za-z]{8}|(?<=[0-9A-Za-z]{9}))")
_CHAIN = re.compile(r"\d++(?:[^\dA-Za-z]{1,2}+\d++)*+")  # a digit run, whole; numbers look only there
_TOKEN_HINT = re.compile(r"[0-9A-Za-z]{17}")  # alone, cheaper than the digit-anchored form
_IP_START = frozenset("0123456789[:")
_IP_HINT = re.compile(r"\d\.\d{1,3}\.\d|[0-9A-Fa-f]?:[0-9A-Fa-f]{0,4}:")  # dotted quads, two colons
_BEFORE, _AFTER = 3, 2  # context around a digit run: "+" or "(" and a lookbehind; an ID's X and a lookahead
# Full-width digits and signs, as Chinese and Japanese input methods type them.
_WIDE = re.compile(r"[０-９＠＋－（）]")
_NARROW = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)},
                         "＠": "@", "＋": "+", "－": "-", "（": "(", "）": ")"})

# RFC 3986, appendix B: scheme, authority, path, query, fragment. It matches any string.
_URL = re.compile(r"(?:([A-Za-z][A-Za-z0-9+.\-]*):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.S)
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|\[ip\]|[^:\[\]\s]*)(?::(\d{0,5}))?")  # [ip]: ours, scrubbed
_PLAIN = re.compile(r"[\w.\-~]*", re.ASCII)  # needs no percent-encoding anywhere
_PLAIN_PATH = re.compile(r"[\w.\-~/]*", re.ASCII)
_PATH_SAFE = "/!$&'()*+,;=:@[]~"  # what browsers leave unencoded in a path (tokens stay readable)
_SEGMENT_SAFE = _PATH_SAFE.replace("/", "")  # a decoded "/" inside a segment stays %2F
_MATRIX_SAFE = _SEGMENT_SAFE.replace(";", "").replace("=", "")
_QUERY_SAFE = "!$'()*,;:@/?[]~"  # & = + # % stay encoded inside names and values
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21"}
_MAX_NESTING = 2  # a URL in a parameter of a URL in a parameter: enough for redirect chains
_CLEAN_CACHE, _CLEAN_LENGTH = 4096, 512  # clean texts remembered: a few MB per site at most


Replacer = Callable[[re.Match[str]], str]


def _apply(rules: Iterable[tuple[re.Pattern[str], Replacer]], value: str) -> str:
    for pattern, replace in rules:
        value = pattern.sub(replace, value)
    return value


def _windows(value: str) -> list[tuple[int, int, int]]:
    """Spans around runs of 7+ digits with some context, overlapping ones merged, and their digit count."""
    spans: list[tuple[int, int, int]] = []
    for run in _CHAIN.finditer(value):
        digits = sum(map(str.isdigit, run[0])) if len(run[0]) >= 7 else 0
        if digits < 7:
            continue
        start, end = max(run.start() - _BEFORE, 0), run.end() + _AFTER
        if spans and start <= spans[-1][1]:
            start, _, before = spans.pop()
            digits += before
        spans.append((start, end, digits))
    return spans


def _quote(value: str, safe: str) -> str:
    return quote(value, safe, errors="replace")  # a lone surrogate from JSON becomes "?", never an error


def _quote_query(value: str) -> str:
    return value if _PLAIN.fullmatch(value) else quote_plus(value, _QUERY_SAFE, errors="replace")


@dataclass(frozen=True, slots=True)
class ScrubbedUrl:
    """A URL with personal data removed. ``host`` is lower case and keeps its port only when it is not
    the scheme's default; ``path`` and ``query`` are percent-encoded again (one canonical form);
    ``params`` are the decoded, scrubbed query parameters in order."""

    scheme: str
    host: str
    path: str
    query: str = ""
    fragment: str = ""
    params: tuple[tuple[str, str], ...] = ()

    def unsplit(self) -> str:
        start = f"{self.scheme}://{self.host}" if self.host else f"{self.scheme}:" if self.scheme else ""
        return (start + self.path + (f"?{self.query}" if self.query else "")
                + (f"#{self.fragment}" if self.fragment else ""))


class Scrubber:
    """The rules compiled once; ``text()`` and ``url()`` never raise."""

    def __init__(self, secret_params: Iterable[str] = DEFAULT_SECRET_PARAMS) -> None:
        names = {p.strip().lower() for p in secret_params if p.strip()}
        self._secret = frozenset(n for n in names if not n.endswith("*"))
        self._secret_prefixes = tuple(sorted(n[:-1] for n in names if n.endswith("*")))
        compiled = [(rule, re.compile(rule.pattern, rule.flags)) for rule in RULES]
        ascii_only = [(rule, re.compile(rule.ascii_pattern or rule.pattern, rule.flags)) for rule in RULES
                      if rule.scope == ADDRESS]
        self._address_ascii = [(regex, self._replacer(regex, rule)) for rule, regex in ascii_only]
        self._address, self._network, self._token = (
            [(regex, self._replacer(regex, rule)) for rule, regex in compiled if rule.scope == scope]
            for scope in (ADDRESS, NETWORK, TOKEN))
        self._number = [(regex, self._replacer(regex, rule), rule.min_digits) for rule, regex in compiled
                        if rule.scope == NUMBER]
        self._clean: set[str] = set()

    @staticmethod
    def _replacer(pattern: re.Pattern[str], rule: Rule) -> Replacer:
        check = rule.check

        def replace(match: re.Match[str]) -> str:
            found = match[0]
            end = len(found) if check is None else check(found)
            if end == len(found):
                return rule.token
            # Not personal data, or only its head: what follows goes through this rule again.
            return found if end == 0 else rule.token + pattern.sub(replace, found[end:])

        return replace

    def text(self, value: str) -> str:
        """Free text (title, search keyword, event fields, dimension values) with personal data replaced."""
        if value in self._clean:
            return value
        # Full-width forms are matched as ASCII, but a text without personal data comes back as it was.
        narrow = value.translate(_NARROW) if not value.isascii() and _WIDE.search(value) else value
        scrubbed = self._text(narrow)
        if scrubbed == narrow:
            scrubbed = value
        # Texts found clean are remembered (the same titles and event names come with hit after hit);
        # those with personal data are not, so no raw personal data is kept in memory.
        if scrubbed == value and len(value) <= _CLEAN_LENGTH:
            if len(self._clean) >= _CLEAN_CACHE:
                self._clean.clear()
            self._clean.add(value)
        return scrubbed

    def _text(self, value: str) -> str:
        if "@" in value or "%40" in value:
            value = _apply(self._address_ascii if value.isascii() else self._address, value)
        if _IP_HINT.search(value):
            value = _apply(self._network, value)
        if not _MAYBE.search(value):
            return value
        # Number rules run only on windows around long digit runs: a title with a year range or a
        # price costs one search per rule over a few characters, not over the whole title.
        pieces: list[str] = []
        done = 0
        for start, end, digits in _windows(value):
            rules = ((pattern, replace) for pattern, replace, least in self._number if digits >= least)
            pieces += (value[done:start], _apply(rules, value[start:end]))
            done = end
        if pieces:
            value = "".join(pieces) + value[done:]
        return _apply(self._token, value) if _TOKEN_HINT.search(value) else value

    def is_secret(self, name: str) -> bool:
        lower = name.lower()
        if lower in self._secret:
            return True
        return bool(self._secret_prefixes) and lower.startswith(self._secret_prefixes)

    def url(self, url: str, *, keep_fragment: bool = False) -> ScrubbedUrl:
        """A page URL or referrer, scrubbed. Userinfo is always dropped, the fragment unless kept. An
        authority that does not parse is dropped whole (it may hold a password): no scheme and host
        then; a string that is no URL at all comes back as its scrubbed, percent-encoded ``path``."""
        return self._url(url, keep_fragment, 0)

    def _url(self, url: str, keep_fragment: bool, depth: int) -> ScrubbedUrl:
        parts = _URL.match(url)
        assert parts is not None  # every group is optional
        scheme, authority, path, query, fragment = parts.groups("")
        scheme, host = scheme.lower(), ""
        if authority:
            host_port = _HOST_PORT.fullmatch(authority.rpartition("@")[2])
            if host_port is not None:
                host = host_port[1].lower().rstrip(".")
                if host[:1] in _IP_START and is_ip(host.strip("[]")):
                    host = IP  # a server's address, but an address all the same: none is stored
                port = host_port[2]
                if host and port and port != _DEFAULT_PORTS.get(scheme) and int(port) < 65536:
                    host = f"{host}:{port}"
            else:
                scheme = ""
        if not host and path.startswith("//"):
            path = "/" + path.lstrip("/")  # else it would read as an authority when put back together
        path = self._path(path) or ("/" if host else "")
        query, params = self._query(query, depth)
        fragment = self._fragment(fragment, depth) if keep_fragment and fragment else ""
        return ScrubbedUrl(scheme, host, path, query, fragment, params)

    def _path(self, raw: str) -> str:
        if ";" in raw or "%2f" in raw or "%2F" in raw:
            # Per segment: an encoded "/" stays inside its segment; ";jsessionid=..." matrix params.
            return "/".join(self._segment(segment) for segment in raw.split("/"))
        path = self.text(unquote(raw) if "%" in raw else raw)
        return path if _PLAIN_PATH.fullmatch(path) else _quote(path, _PATH_SAFE)

    def _segment(self, raw: str) -> str:
        head, *matrix = raw.split(";")
        out = [_quote(self.text(unquote(head)), _SEGMENT_SAFE)]
        for item in matrix:
            name, eq, value = item.partition("=")
            name = self.text(unquote(name))
            value = REDACTED if value and self.is_secret(name) else self.text(unquote(value))
            out.append(_quote(name, _MATRIX_SAFE) + eq + _quote(value, _MATRIX_SAFE))
        return ";".join(out)

    def _query(self, raw: str, depth: int) -> tuple[str, tuple[tuple[str, str], ...]]:
        if not raw:
            return "", ()
        encoded, params = [], []
        for piece in raw.split("&"):
            if not piece:
                continue
            name, eq, value = piece.partition("=")
            name = self.text(unquote_plus(name) if "%" in name or "+" in name else name)
            value = unquote_plus(value) if "%" in value or "+" in value else value
            if self.is_secret(name):
                value = REDACTED if value else ""
            elif depth < _MAX_NESTING and value.startswith(("http://", "https://", "/")) and "?" in value:
                value = self._url(value, False, depth + 1).unsplit()  # a return URL's own tokens
            else:
                value = self.text(value)
            params.append((name, value))
            encoded.append(f"{_quote_query(name)}={_quote_query(value)}" if eq else _quote_query(name))
        return "&".join(encoded), tuple(params)

    def _fragment(self, raw: str, depth: int) -> str:
        # Hash routes ("#/orders/42?tab=1") and OAuth implicit-flow answers ("#access_token=...")
        # are a path and/or a query: scrubbed as such, so secret parameters go there too.
        route, question, rest = raw.partition("?")
        if not question and "=" in route and "/" not in route:
            route, rest = "", route
        out = self._path(route)
        if rest:
            query, _ = self._query(rest, depth)
            out += f"?{query}" if route or question else query
        return out
