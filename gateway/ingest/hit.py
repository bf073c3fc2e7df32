"""One tracking request's parameters, parsed once at the edge into a frozen ``Hit``.

Everything after ``parse_hit`` trusts the types: strings are capped, control characters and invalid
UTF-8 are gone, numbers are numbers, the time is settled. What the Matomo Tracking API defines but
we do not keep (``_id``, ``rand``, plugin flags, ``h``/``m``/``s``, ``pf_*``, ``lat``/``long``...) is
accepted and ignored. A malformed documented parameter raises ``InvalidHit`` (a 400 naming it).

Identity: the visitor id comes from the consent, never from the request. ``_id`` (matomo.js's
``_pk_id`` cookie) and ``cid`` are accepted and ignored: they are set by the page, so trusting them
would let a page link a visitor across a withdrawal, which the consent's visitor id never does.
``uid`` (the site's own user id) is kept only as a keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.config.sites import Site

# Caps, in characters. Generous for real pages, small enough that one hit stays a few KB.
MAX_URL = 2048
MAX_TITLE = 512
MAX_TEXT = 256  # event fields, search keyword, dimension values
MAX_UA = 512
MAX_UADATA = 2048
MAX_DIMENSIONS = 50
MAX_PAST = 24 * 3600  # older custom timestamps need the site token (as in Matomo)
TOKEN_ONLY = ("cip", "country", "region", "city", "lat", "long")

_CONTROL = dict.fromkeys([*range(32), *range(127, 160)], " ")  # C0, DEL and C1 controls
_DIGITS = re.compile(r"[0-9]{1,10}")
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
_PV_ID = re.compile(r"[0-9A-Za-z]{1,16}")
_LANG = re.compile(r"([A-Za-z]{2,3})(?:[-_]([A-Za-z0-9]{2,8}))?")
_DIMENSION = re.compile(r"dimension([1-9][0-9]{0,2})")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}")


class InvalidHit(ValueError):
    """A documented parameter is malformed; the message names it and goes back as a 400."""


@dataclass(frozen=True, slots=True)
class Hit:
    site: Site
    kind: str  # one of schema.EVENT_TYPES; "" for a custom action we do not store
    ts: float  # Unix seconds, settled: clamped or checked against the token
    authenticated: bool  # carried the site's token
    recorded: bool  # rec=1
    url: str
    title: str
    referrer: str
    link_url: str  # outlink or download target
    screen: tuple[int, int]
    language: str  # "de-DE"; "" unknown
    user_agent: str  # the ua parameter, else the header
    uadata: str  # client hints JSON from matomo.js, unparsed (the user-agent step parses it)
    user_id: str  # keyed hash of uid; "" without one
    new_visit: bool
    pageview_id: str
    event_category: str = ""
    event_action: str = ""
    event_name: str = ""
    event_value: float | None = None
    search_keyword: str = ""
    search_category: str = ""
    search_count: int | None = None
    goal_id: int = 0
    revenue: float = 0.0
    dimensions: tuple[tuple[str, str], ...] = ()
    keep_bots: bool = False  # bots=1 with the token
    ip_override: str = ""  # cip, token only: looked up, then dropped like any IP
    geo_override: tuple[str, str, str] | None = None  # country, region, city; token only


def text(value: str | None, cap: int) -> str:
    """Capped, stripped of control characters (invalid UTF-8 was replaced while decoding)."""
    if not value:
        return ""
    value = value[:cap]
    if not value.isprintable():
        value = value.translate(_CONTROL)
        if not value.isascii():  # a lone surrogate (JSON "\ud800") cannot be stored: replace it
            value = value.encode("utf-8", "replace").decode("utf-8")
    return value.strip()


def _int(params: Mapping[str, str], name: str, default: int = 0, high: int = 2**32 - 1) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not _DIGITS.fullmatch(raw) or int(raw) > high:
        raise InvalidHit(f"{name} must be a whole number")
    return int(raw)


def _float(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw[:32])
    except ValueError:
        raise InvalidHit(f"{name} must be a number") from None
    if not math.isfinite(value):
        raise InvalidHit(f"{name} must be a finite number")
    return value


def site_of(params: Mapping[str, str], sites: Mapping[int, Site]) -> Site:
    raw = params.get("idsite", "")
    if not raw:
        raise InvalidHit("idsite is required")
    if not _DIGITS.fullmatch(raw):
        raise InvalidHit("idsite must be a site id")
    site = sites.get(int(raw))
    if site is None:
        raise InvalidHit(f"unknown idsite {int(raw)}")
    return site


def token_valid(site: Site, token: str) -> bool:
    return bool(site.token) and bool(token) and hmac.compare_digest(
        site.token.encode(), token.encode("utf-8", "replace"))


def language(value: str) -> str:
    """The first language of a ``lang`` value or an Accept-Language header, as ``de-DE``."""
    first = value.split(",", 1)[0].split(";", 1)[0].strip()
    match = _LANG.fullmatch(first)
    if match is None:
        return ""
    primary, region = match.groups()
    return primary.lower() + (f"-{region.upper() if len(region) == 2 else region}" if region else "")


def _timestamp(params: Mapping[str, str], now: float, authenticated: bool) -> float:
    raw_cdt, raw_cdo = params.get("cdt", ""), params.get("cdo", "")
    if raw_cdt:
        if _DATETIME.fullmatch(raw_cdt):
            try:
                ts = datetime.fromisoformat(raw_cdt.replace(" ", "T")).replace(tzinfo=UTC).timestamp()
            except ValueError:
                raise InvalidHit("cdt is not a real date and time") from None
        else:
            try:
                ts = float(raw_cdt[:32])
            except ValueError:
                raise InvalidHit("cdt must be a Unix timestamp or YYYY-MM-DD HH:MM:SS (UTC)") from None
            if not math.isfinite(ts) or ts < 0:
                raise InvalidHit("cdt must be a Unix timestamp or YYYY-MM-DD HH:MM:SS (UTC)")
            if ts > 1e11:  # milliseconds
                ts /= 1000
    elif raw_cdo:
        ts = now - _int(params, "cdo")
    else:
        return now
    if ts < now - MAX_PAST and not authenticated:
        raise InvalidHit("a timestamp older than 24 hours requires token_auth")
    if ts > now:  # a visitor's clock running fast: no hit happens after it arrives, and a withdrawal
        return now  # must find every hit it supersedes at or after its own time
    return ts


def _screen(raw: str) -> tuple[int, int]:
    width, sep, height = raw.lower().replace("×", "x").partition("x")
    if sep and width.isascii() and height.isascii() and width.isdigit() and height.isdigit() \
            and len(width) <= 5 and len(height) <= 5:
        w, h = int(width), int(height)
        if w <= 65535 and h <= 65535:
            return w, h
    return 0, 0


def _dimensions(params: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for name, value in params.items():
        if name.startswith("dimension") and _DIMENSION.fullmatch(name) and value:
            found.append((name, text(value, MAX_TEXT)))
    for key in ("_cvar", "cvar"):  # {"1": ["name", "value"], ...}; malformed ones are ignored, as Matomo does
        raw = params.get(key)
        if not raw or len(raw) > 4096:
            continue
        try:
            cvars = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if isinstance(cvars, dict):
            for pair in cvars.values():
                if isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair):
                    found.append((f"cvar:{text(pair[0], 64)}", text(pair[1], MAX_TEXT)))
    return tuple(found[:MAX_DIMENSIONS])


def _kind(params: Mapping[str, str]) -> str:
    """What the hit records; "" for a custom action (ca=1) of a kind we do not store (media, forms)."""
    if params.get("ping") == "1":
        return "ping"
    if params.get("idgoal", "") != "":
        return "goal"
    if params.get("download"):
        return "download"
    if params.get("link"):
        return "outlink"
    if params.get("search"):
        return "site_search"
    if params.get("e_c") or params.get("e_a"):
        if not (params.get("e_c") and params.get("e_a")):
            raise InvalidHit("events need both e_c (category) and e_a (action)")
        return "event"
    if params.get("c_n"):
        return "content"
    return "" if params.get("ca") == "1" else "pageview"


def _search_count(raw: str) -> int | None:
    """matomo.js sends ``search_count=false`` for "unknown"; so is anything else that is not a count."""
    return int(raw) if _DIGITS.fullmatch(raw) else None


def user_id_hash(key: bytes, site_id: int, uid: str) -> str:
    """Keyed, so a list of e-mail addresses cannot be hashed and matched against the column."""
    data = f"{site_id}:{uid}".encode("utf-8", "replace")
    return hashlib.blake2b(data, key=key, digest_size=16).hexdigest()


def parse_hit(params: Mapping[str, str], *, sites: Mapping[int, Site], now: float, user_agent: str,
              accept_language: str, uid_key: bytes, token: str = "") -> Hit:
    """The hit these parameters describe, or ``InvalidHit``."""
    site = site_of(params, sites)
    authenticated = token_valid(site, token or params.get("token_auth", ""))
    if not authenticated:
        for name in TOKEN_ONLY:
            if params.get(name):
                raise InvalidHit(f"{name} requires token_auth")
    if (cid := params.get("cid")) and not _HEX16.fullmatch(cid):
        raise InvalidHit("cid must be 16 hexadecimal characters")
    kind = _kind(params)
    pv_id = params.get("pv_id", "")
    uid = text(params.get("uid"), 256)
    category, action, name = params.get("e_c", ""), params.get("e_a", ""), params.get("e_n", "")
    if kind == "content":  # content tracking shares the event columns: name, interaction, piece
        category, action = params.get("c_n", ""), params.get("c_i") or "impression"
        name = params.get("c_p", "")
    geo_override = None
    if authenticated and any(params.get(k) for k in ("country", "region", "city")):
        geo_override = (text(params.get("country"), 2).upper(), text(params.get("region"), 8).upper(),
                        text(params.get("city"), 128))
    return Hit(
        site=site, kind=kind, ts=_timestamp(params, now, authenticated), authenticated=authenticated,
        recorded=params.get("rec") == "1",
        url=text(params.get("url"), MAX_URL), title=text(params.get("action_name"), MAX_TITLE),
        referrer=text(params.get("urlref"), MAX_URL),
        link_url=text(params.get("download") or params.get("link") or params.get("c_t"), MAX_URL),
        screen=_screen(params.get("res", "")),
        # A lang the pattern cannot read ("zh-Hans-CN") falls back to the header, as a missing one does.
        language=language(params.get("lang", "")) or language(accept_language),
        user_agent=text(params.get("ua") or user_agent, MAX_UA),
        uadata=(params.get("uadata") or "")[:MAX_UADATA],
        user_id=user_id_hash(uid_key, site.id, uid) if uid else "",
        new_visit=params.get("new_visit") == "1",
        pageview_id=pv_id if _PV_ID.fullmatch(pv_id) else "",
        event_category=text(category, MAX_TEXT), event_action=text(action, MAX_TEXT),
        event_name=text(name, MAX_TEXT), event_value=_float(params, "e_v"),
        search_keyword=text(params.get("search"), MAX_TEXT),
        search_category=text(params.get("search_cat"), MAX_TEXT),
        search_count=_search_count(params.get("search_count", "")),
        goal_id=_int(params, "idgoal"), revenue=_float(params, "revenue") or 0.0,
        dimensions=_dimensions(params),
        keep_bots=authenticated and params.get("bots") == "1",
        ip_override=text(params.get("cip"), 64) if authenticated else "",
        geo_override=geo_override,
    )
