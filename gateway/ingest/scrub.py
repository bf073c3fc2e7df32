"""Privacy scrubbing: personal data out of free text and URLs before anything is stored.

Owns the redaction rules (``RULES``, a table of named patterns with validators, compiled once per
``Scrubber``), the query parameters whose values are always secret, and the URL rewriting around
them: userinfo dropped, path and query decoded, scrubbed and re-encoded, fragment dropped unless kept.

For privacy we prefer over-redacting: a rule fires on anything shaped like the data it hunts unless
a check proves it is not (a VIN or ID check digit, a card's Luhn sum and issuer). Known false
positives are named next to each rule. Tokens are at most one character longer than the shortest
text they replace (``a@b.co`` → ``[email]``), so ``text()`` grows its input by at most a sixth; in
URLs a secret value becomes ``[redacted]`` whatever its length (+9 characters per parameter at
worst) and raw non-ASCII is percent-encoded. Callers cap lengths before and after (``hit.MAX_*``).

Cost: clean text passes after one or two searches (~1 µs for a title), and is then remembered, so the
same title again costs a set lookup; text with personal data is scrubbed afresh every time and never
kept. ``python -m benchmarks.scrub`` prints the figures.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote, quote_plus, unquote, unquote_plus

EMAIL, PHONE, VIN, ID_NUMBER, CARD = "[email]", "[phone]", "[vin]", "[id-number]", "[card]"
IP = "[ip]"  # no raw IP at rest, not even one typed into a search box or carried in a referrer
REDACTED = "[redacted]"  # the value of a secret query parameter
REDACTIONS = (EMAIL, PHONE, VIN, ID_NUMBER, CARD, IP, REDACTED)

CAMPAIGN_PREFIXES = ("utm_", "mtm_", "pk_", "matomo_", "piwik_")  # kept as-is; values still text-scrubbed

# Names compared case-insensitively; a trailing "*" matches any suffix. A secret value is replaced
# whole, the name is kept (that a visitor arrived with a click id or a token is still worth counting).
DEFAULT_SECRET_PARAMS: tuple[str, ...] = (
    # credentials and one-time secrets: reset links, magic links, signed URLs, OAuth redirects
    # ("code" also hides promo codes; a site that wants those can rename them)
    "token", "access_token", "id_token", "refresh_token", "auth", "authorization", "password", "passwd",
    "pwd", "pass", "secret", "client_secret", "api_key", "apikey", "key", "otp", "pin", "code", "state",
    "nonce", "signature", "sig", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
    # session identifiers (URL rewriting by PHP, Java, ASP, ColdFusion)
    "session", "sessionid", "session_id", "sid", "phpsessid", "jsessionid", "aspsessionid*", "cfid",
    "cftoken",
    # direct identifiers typed into GET forms or put into links by mailing tools
    "email", "e-mail", "mail", "phone", "tel", "telephone", "mobile", "user", "username", "login", "uid",
    "userid", "user_id", "firstname", "first_name", "lastname", "last_name", "fullname", "full_name",
    # per-click and per-recipient ids: each points at one person in an ad or mail platform
    "gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "yclid", "ttclid", "twclid", "li_fat_id",
    "igshid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "_ga", "_gl",
)
assert not [p for p in DEFAULT_SECRET_PARAMS if p.startswith(CAMPAIGN_PREFIXES)], "campaign params are kept"

_B, _E = r"(?<![\dA-Za-z])", r"(?![\dA-Za-z])"  # digit/letter boundaries; CJK text around still counts
# Where a rule looks (see Scrubber.text): the whole text when it holds an "@"; windows around runs of
# at least 7 digits; the whole text when a run of 17 letters and digits holds a digit.
ADDRESS, NUMBER, TOKEN, NETWORK = "address", "number", "token", "network"


@dataclass(frozen=True, slots=True)
class Rule:
    """``check(match)`` says how many leading characters of a match are personal data (0: none);
    ``None`` means all. Only phone chains use a partial count (a number glued to the next one)."""

    name: str
    scope: str
    token: str
    pattern: str
    check: Callable[[str], int] | None = None
    flags: int = 0
    min_digits: int = 0  # fewer digits in a window: the rule is skipped there


def _whole(ok: Callable[[str], bool]) -> Callable[[str], int]:
    return lambda found: len(found) if ok(found) else 0


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # ISO 7064 MOD 11-2


def _id_ok(found: str) -> bool:
    digits = found.replace(" ", "")
    try:
        date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
    except ValueError:
        return False
    total = sum(int(d) * w for d, w in zip(digits, _ID_WEIGHTS, strict=False))  # the 17 before the check
    return "10X98765432"[total % 11] == digits[17].upper()


def _ip_ok(found: str) -> bool:
    try:
        ipaddress.ip_address(found)
    except ValueError:
        return False  # "10:00:00" or "300.1.2.3": shaped like one, but no address
    return True


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


# (first prefix, last prefix, lengths): compared on as many leading digits as the prefix has. Plain
# numbers starting with 1, 7, 8 or 9 (timestamps, order numbers, ISBNs) are never cards; 13-digit
# Visa is left out because 13-digit EAN barcodes starting with 4 would pass Luhn one time in ten.
CARD_ISSUERS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("4", "4", (16, 19)),  # Visa
    ("51", "55", (16,)), ("2221", "2720", (16,)),  # Mastercard
    ("34", "34", (15,)), ("37", "37", (15,)),  # American Express
    ("6011", "6011", (16, 17, 18, 19)), ("644", "649", (16, 17, 18, 19)), ("65", "65", (16, 17, 18, 19)),
    ("62", "62", (16, 17, 18, 19)),  # UnionPay
    ("3528", "3589", (16, 17, 18, 19)),  # JCB
    ("300", "305", (14, 15, 16, 17, 18, 19)), ("36", "36", (14, 15, 16, 17, 18, 19)), ("38", "38", (14, 16)),
)


def _card_ok(found: str) -> bool:
    digits = found.replace(" ", "").replace("-", "")
    return _luhn(digits) and any(len(digits) in lengths and first <= digits[:len(first)] <= last
                                 for first, last, lengths in CARD_ISSUERS)


_VIN_VALUE = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ",
                                                          (1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9,
                                                           2, 3, 4, 5, 6, 7, 8, 9), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit(vin: str) -> str:
    """Position 9 of a North-American or Chinese VIN (ISO 3779 transliteration, mod 11, 10 → X)."""
    total = sum(_VIN_VALUE[c] * w for c, w in zip(vin.upper(), _VIN_WEIGHTS, strict=True))
    return "X" if total % 11 == 10 else str(total % 11)


def _vin_ok(found: str) -> bool:
    # Letters and digits both: 17-letter words and 17-digit numbers are not VINs. The check digit is
    # binding only in North America (WMI 1-5) and China (L); elsewhere any such token counts, so a
    # random 17-character id without I, O, Q is redacted too (over-redacting by choice).
    if found.isdigit() or found.isalpha():
        return False
    upper = found.upper()
    return upper[0] not in "12345L" or upper[8] == vin_check_digit(upper)


def _digit_count_end(found: str, low: int, high: int, skip: int = 0) -> int:
    """End of the longest prefix of a phone chain with ``low``..``high`` digits, ending after a
    digit run (0: none). A number glued to the phone by one separator ("… 1234567 2026") is cut
    off instead of making the whole chain too long to count."""
    count = -skip  # a "00" international prefix or a "(0)" trunk digit is not part of the number
    end = 0
    for run in _RUN.finditer(found):
        count += len(run[0])
        if count > high:
            break
        if count >= low:
            end = run.end()
    return end


def _intl_end(found: str) -> int:
    skip = (2 if found.startswith("00") else 0) + (1 if "(0)" in found else 0)
    return _digit_count_end(found, 7, 15, skip)


# Order matters: longer, checked shapes first, so an ID or a card is replaced whole before a phone
# rule could take part of it; the tokens hold no digits, so later rules never fire inside them.
# Phone and card numbers have at most two characters between digits ("+1 (415) 555-0132"): the
# windows around digit runs (_CHAIN) rely on it.
RULES: tuple[Rule, ...] = (
    # Addresses, also %40-encoded. Lookbehind: a match starts only where a run of address characters
    # starts (linear time on long runs). "@2x.png" (retina image names) is not an address.
    Rule("email", ADDRESS, EMAIL, r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+(?:@|%40)(?![1-4]x\.)"
                                  r"[A-Za-z0-9\-]++(?:\.[A-Za-z0-9\-]++)*\.[A-Za-z0-9\-]{2,}+"),
    # PRC resident identity number: region, birth date (a real date), sequence, MOD 11-2 check;
    # also written 6-8-4 with spaces. Clock-free: birth years up to 2099 pass (a future date with a
    # valid check character is nothing else anyway).
    Rule("prc-id-number", NUMBER, ID_NUMBER, _B + r"[1-9]\d{5} ?(?:19|20)\d\d(?:0[1-9]|1[0-2])"
                                                 r"(?:0[1-9]|[12]\d|3[01]) ?\d{3}[\dXx]" + _E,
         _whole(_id_ok), min_digits=17),
    # Cards: plain 13-19 digits, or 4-4-4-4(-3) / 4-6-5 / 4-6-4 groups with one consistent separator.
    Rule("card", NUMBER, CARD, _B + r"(?:\d{13,19}|\d{4}(?P<s>[ \-])\d{4}(?P=s)\d{4}(?P=s)\d{1,4}"
                                    r"(?:(?P=s)\d{3})?|\d{4}(?P<t>[ \-])\d{6}(?P=t)\d{4,5})" + _E,
         _whole(_card_ok), min_digits=13),
    # PRC mobile: 1[3-9] + 9 digits, whole or 3-4-4, optionally +86 / 0086 in front.
    Rule("phone-prc", NUMBER, PHONE, r"(?<![\dA-Za-z+])(?:(?:\+|00)86[ \-]?)?"
                                     r"1[3-9]\d(?P<s>[ \-]?)\d{4}(?P=s)\d{4}" + _E, min_digits=11),
    # International: + or 00, 7-15 digits (E.164) in groups split by one space, dot or dash, with an
    # optional "(415)" or "(0)" group. Possessive, so a longer digit run never matches in part.
    # False positives: "+15.000.000", "00" + 7 digits written as one number.
    Rule("phone-intl", NUMBER, PHONE, r"(?<![\dA-Za-z+])(?:\+|(?<![.,])00)[1-9]\d{0,14}+"
                                      r"(?:(?:[ .\-]|\ ?\(\d{1,4}\)\ ?)\d{1,14}+)*+" + _E, _intl_end,
         min_digits=7),
    # North American: (415) 555-0132, 415-555-0132, 1-415-555-0132. False positive: "300 500 1000".
    Rule("phone-nanp", NUMBER, PHONE, _B + r"(?:1[ .\-])?(?:\([2-9]\d\d\)\ ?|[2-9]\d\d[ .\-])"
                                           r"[2-9]\d\d[ .\-]\d{4}" + _E, min_digits=10),
    # National with trunk 0: 030 1234567, (030) 1234567, 030/1234567, 06 12 34 56 78, 010-12345678;
    # a separator is required (a bare 0-number is more often an id) and dd.mm.yyyy dates are not phones.
    Rule("phone-national", NUMBER, PHONE, _B + r"(?!\d\d[./\-]\d\d[./\-](?:19|20)\d\d)"
                                          r"(?:\(0\d{1,4}\)\ ?|0[1-9]\d{0,3}[ /.\-])"
                                          r"\d{1,8}+(?:[ .\-]\d{1,8}+)*+" + _E,
         lambda found: _digit_count_end(found, 9, 12), min_digits=9),
    Rule("vin", TOKEN, VIN, _B + r"[A-HJ-NPR-Z0-9]{17}" + _E, _whole(_vin_ok), re.IGNORECASE),
    # IP addresses, checked by ipaddress; "v1.2.3.4" (a version) is not taken, a bare "1.2.3.4" is.
    Rule("ipv4", NETWORK, IP, _B + r"(?:\d{1,3}\.){3}\d{1,3}" + _E, _whole(_ip_ok)),
    Rule("ipv6", NETWORK, IP, r"(?<![0-9A-Za-z:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}"
                              r"(?![0-9A-Za-z:])", _whole(_ip_ok)),
)
RULE_NAMES = tuple(rule.name for rule in RULES)
assert len(set(RULE_NAMES)) == len(RULES) and {rule.token for rule in RULES} <= set(REDACTIONS)

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
_RUN = re.compile(r"\d+")
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
        self._address, self._token, self._network = (
            [(regex, self._replacer(regex, rule)) for rule, regex in compiled if rule.scope == scope]
            for scope in (ADDRESS, TOKEN, NETWORK))
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
            value = _apply(self._address, value)
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
                if host[:1] in _IP_START and _ip_ok(host.strip("[]")):
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
