"""What the scrubber removes: redaction tokens, secret query parameters and the rule table.

Owns ``RULES`` (named patterns with validators, as data; ``scrub.Scrubber`` compiles them once and
walks text and URLs with them) and ``DEFAULT_SECRET_PARAMS``. Imports nothing from the gateway.

For privacy we prefer over-redacting: a rule fires on anything shaped like the data it hunts unless
a check proves it is not (an ID's birth date and check character, a card's Luhn sum and issuer).
Known false positives are named next to each rule. Tokens are at most one character longer than the
shortest text they replace (``a@b.co`` → ``[email]``), so a scrubbed text grows by at most a sixth.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

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
# Where a rule looks (see Scrubber.text), in this order: the whole text when it holds an "@"; the
# whole text when it holds a dotted quad or two colons; windows around runs of at least 7 digits; the
# whole text when a run of 17 letters and digits holds a digit.
ADDRESS, NETWORK, NUMBER, TOKEN = "address", "network", "number", "token"
SCOPES = (ADDRESS, NETWORK, NUMBER, TOKEN)


@dataclass(frozen=True, slots=True)
class Rule:
    """``check(match)`` says how many leading characters of a match are personal data (0: none);
    ``None`` means all. Phone chains and cards use a partial count (a number glued to the next one)."""

    name: str
    scope: str
    token: str
    pattern: str
    check: Callable[[str], int] | None = None
    flags: int = 0
    min_digits: int = 0  # fewer digits in a window: the rule is skipped there
    ascii_pattern: str | None = None  # the same rule for ASCII-only text, where it can be faster


def _whole(ok: Callable[[str], bool]) -> Callable[[str], int]:
    return lambda found: len(found) if ok(found) else 0


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # ISO 7064 MOD 11-2


def _id_ok(found: str) -> bool:
    digits = found.replace(" ", "").replace("-", "")
    try:
        date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
    except ValueError:
        return False
    total = sum(int(d) * w for d, w in zip(digits, _ID_WEIGHTS, strict=False))  # the 17 before the check
    return "10X98765432"[total % 11] == digits[17].upper()


_QUAD = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})", re.ASCII)


def is_ip(found: str) -> bool:
    """An IPv4 or IPv6 address; IPv4 also zero-padded ("192.168.001.010"), which ``ipaddress`` refuses
    but people type and browsers resolve."""
    quad = _QUAD.fullmatch(found)
    if quad is not None:
        return all(int(octet) <= 255 for octet in quad.groups())
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


_NO_SEPARATORS = str.maketrans("", "", " -.")


def _card_ok(found: str) -> bool:
    digits = found.translate(_NO_SEPARATORS)
    return _luhn(digits) and any(len(digits) in lengths and first <= digits[:len(first)] <= last
                                 for first, last, lengths in CARD_ISSUERS)


def _card_end(found: str) -> int:
    """A card whole, or a 4-4-4-4 card followed by a group of three (the code on its back, typed
    after it, reads like a 19-digit card's last group)."""
    if _card_ok(found):
        return len(found)
    return len(found) - 4 if len(found) == 23 and _card_ok(found[:-4]) else 0


_RUN = re.compile(r"\d+")


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


# E-mail addresses, internationalised too (RFC 6531: "jöhn@exämple.de", "用户@例子.中国"). Scripts
# written without spaces (CJK, kana, hangul, Thai) glue an address to the sentence around it, so a
# local part and each domain label are either all in such a script or have none of it:
# "联系我john@example.com谢谢" keeps its Chinese words, "用户@例子.中国" goes whole.
_UNSPACED = ("\u0e00-\u0e7f\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf"
             "\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\U00020000-\U0003ffff")
_SPACED_CHAR = rf"(?:[^\W{_UNSPACED}]|[.%+\-])"  # a letter, digit or _ of a spaced script, or . % + -
_UNSPACED_CHAR = rf"[{_UNSPACED}]"
_LABEL_CHAR = rf"(?:[^\W_{_UNSPACED}]|-)"
_LABEL = rf"(?:{_LABEL_CHAR}++|{_UNSPACED_CHAR}++)"
_TLD = rf"(?:{_LABEL_CHAR}{{2,}}+|{_UNSPACED_CHAR}{{2,}}+)"
# Lookbehinds: a match starts only where a run of address characters starts (linear time on long
# runs). "@2x.png" (retina image names) is not an address.
_EMAIL = r"{local}(?:@|%40)(?![1-4]x\.){label}(?:\.{label})*\.{tld}"
_EMAIL_ANY = _EMAIL.format(
    local=rf"(?:(?<!{_SPACED_CHAR}){_SPACED_CHAR}+|(?<!{_UNSPACED_CHAR}){_UNSPACED_CHAR}+)",
    label=_LABEL, tld=_TLD)
# The same on ASCII text (nearly all of it), with single character classes: four times as fast.
_EMAIL_ASCII = _EMAIL.format(
    local=r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+", label=r"[A-Za-z0-9\-]++", tld=r"[A-Za-z0-9\-]{2,}+")

# VIN (ISO 3779), whatever its check digit: one mistyped character leaves a VIN pointing at one car
# and its keeper (personal information under PIPL and GDPR alike), and the check digit binds only in
# North America and China anyway. A 17-character token is VIN-shaped when
#   - it uses the VIN alphabet only (no I, O, Q) and holds a letter (17 digits are an order number);
#   - position 1 is a WMI region code: a letter or 1-9, as 0 is assigned to no region;
#   - position 10 is a model-year code, so neither U nor Z; 0 passes too, because makers outside
#     North America and China need not code the year (Fiat writes ZFA31200000123456);
#   - positions 14-17 are digits: ISO 3779 wants the last four characters of every VIN numeric.
# The last condition spares most 17-character part numbers, hashes and random ids (a random base-36
# id passes about one time in 170). Known false positives: letter-prefixed order numbers such as
# WEB20261121000123 (shaped exactly like that Fiat VIN), 17-character hex ids ending in four digits.
_VIN_CHAR = "A-HJ-NPR-Za-hj-npr-z0-9"
_VIN_PATTERN = (rf"[A-HJ-NPR-Za-hj-npr-z1-9][{_VIN_CHAR}]{{8}}[A-HJ-NPR-TV-Ya-hj-npr-tv-y0-9]"
                rf"[{_VIN_CHAR}]{{3}}[0-9]{{4}}")


# Order matters within a scope (the scopes run in the order of SCOPES): longer, checked shapes first,
# so an ID or a card is replaced whole before a phone rule could take part of it; the tokens hold no
# digits, so later rules never fire inside them. Phone and card numbers have at most two characters
# between digits ("+1 (415) 555-0132"): the windows around digit runs rely on it.
RULES: tuple[Rule, ...] = (
    # Addresses, also %40-encoded, internationalised too (see _UNSPACED).
    Rule("email", ADDRESS, EMAIL, _EMAIL_ANY, ascii_pattern=_EMAIL_ASCII),
    # IP addresses; "v1.2.3.4" (a version) is not taken, a bare "1.2.3.4" or "010.000.000.001" is.
    Rule("ipv4", NETWORK, IP, _B + r"(?:\d{1,3}\.){3}\d{1,3}" + _E, _whole(is_ip)),
    Rule("ipv6", NETWORK, IP, r"(?<![0-9A-Za-z:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}"
                              r"(?![0-9A-Za-z:])", _whole(is_ip)),
    # PRC resident identity number: region, birth date (a real date), sequence, MOD 11-2 check;
    # also written 6-8-4 with spaces or dashes. Clock-free: birth years up to 2099 pass (a future
    # date with a valid check character is nothing else anyway).
    Rule("prc-id-number", NUMBER, ID_NUMBER, _B + r"[1-9]\d{5}[ \-]?(?:19|20)\d\d(?:0[1-9]|1[0-2])"
                                                 r"(?:0[1-9]|[12]\d|3[01])[ \-]?\d{3}[\dXx]" + _E,
         _whole(_id_ok), min_digits=17),
    # Cards: plain 13-19 digits, or 4-4-4-4(-3) / 4-6-5 / 4-6-4 groups with one consistent separator
    # (space, dash or dot).
    Rule("card", NUMBER, CARD, _B + r"(?:\d{13,19}|\d{4}(?P<s>[ .\-])\d{4}(?P=s)\d{4}(?P=s)\d{1,4}"
                                    r"(?:(?P=s)\d{3})?|\d{4}(?P<t>[ .\-])\d{6}(?P=t)\d{4,5})" + _E,
         _card_end, min_digits=13),
    # PRC mobile: 1[3-9] + 9 digits, whole or 3-4-4 split by spaces, dashes or dots, optionally with
    # +86, 0086 or a bare 86 in front (E.164 typed without its "+": 8613812345678). False positive: a
    # 13-digit number starting 8613-8619 (no EAN-13 starts so: GS1 has not given out 861).
    Rule("phone-prc", NUMBER, PHONE, r"(?<![\dA-Za-z+])(?:(?:\+|00)?86[ \-]?)?"
                                     r"1[3-9]\d(?P<s>[ .\-]?)\d{4}(?P=s)\d{4}" + _E, min_digits=11),
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
    Rule("vin", TOKEN, VIN, _B + _VIN_PATTERN + _E, _whole(lambda found: not found.isdigit())),
)
RULE_NAMES = tuple(rule.name for rule in RULES)
assert len(set(RULE_NAMES)) == len(RULES) and {rule.token for rule in RULES} <= set(REDACTIONS)
assert all(rule.scope == ADDRESS for rule in RULES if rule.ascii_pattern), "only addresses have two forms"
assert [rule.scope for rule in RULES] == sorted((rule.scope for rule in RULES), key=SCOPES.index)
