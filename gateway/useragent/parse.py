"""User agents: browser, OS, device and bot verdict of a hit, from the UA string and client hints.

``parse_agent`` runs ua-parser, the bot rules of ``gateway.useragent.bots`` (~10 µs) and the client-hint
corrections below once per distinct (UA, hints) pair; a cache hit costs ~0.15 µs. A miss is nearly
all ua-parser: ~0.5-1 ms with its pure-Python resolver (up to ~4 ms for 512 characters that match
nothing), ~15 µs with ``ua-parser-rs`` installed, which ``_resolver`` then picks up by itself
(``python -m benchmarks.useragent``). The hint parsers are cached on their input too, so a visitor's
hints come back as the same object, whose hash is computed once: the cache key stays cheap.

Decisions:
- Names are what Matomo and Plausible users read: "Mobile Safari" is "Safari", "Chrome Mobile" and
  "Chrome Mobile iOS" are "Chrome" (``device_type`` carries the mobile-ness); "Mac OS X" is "macOS".
- Versions from the UA are "major.minor" ("124.0"); from hints, the full version ("124.0.6367.91").
  OS versions drop a ".0" minor, so the UA's "Android 14" and the hints' "14.0.0" agree.
- Client hints are believed only when the UA claims a Chromium browser: only those send them, so
  hints beside a Firefox or Safari UA come from a spoofing client or an extension, and the UA (what
  the client shows everyone) wins. For a Chromium UA the hints win, even when they disagree: they
  are the newer and more precise source (the reduced UA freezes Windows at "NT 10.0", macOS at
  10_15_7, Android at "10; K"). Without hints those frozen values are reported as the UA says.
- Windows platformVersion: major >= 13 is Windows 11, 1-12 is Windows 10, 0.x is 7/8/8.1, where
  the UA's "NT 6.x" is still accurate and is kept.
- iPadOS Safari asks for desktop pages with a macOS UA: such an iPad is "desktop"/"macOS" here, as in
  every UA-only parser (only JavaScript's ``navigator.maxTouchPoints`` could tell).
- Android: a browser UA without "Mobile" is a tablet (as Chrome and Firefox send it), hints'
  ``mobile`` decide when sent; ``Dalvik/`` (an app, e.g. Matomo's SDK) counts as a phone.
- Consoles (Xbox, PlayStation, Nintendo) are "other"; bots have device_type "bot", whatever else.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import ua_parser
from ua_parser import OS, Device, Domain, Resolver, UserAgent, load_builtins, load_lazy_builtins

from gateway.useragent.bots import bot_reason

log = logging.getLogger(__name__)

MAX_UA = 512  # longer strings are cut before parsing: no browser needs more, and parsing is costly
MAX_UADATA = 2048
MAX_BRANDS = 10
MAX_NAME, MAX_VERSION = 64, 32
CACHE_SIZE = 8192  # entries of at most ~2 KB: a bounded ~16 MB
DEVICE_TYPES = ("desktop", "mobile", "tablet", "tv", "bot", "other")

# Names as Matomo and Plausible users read them; device_type carries the mobile-ness.
_BROWSER_NAMES = {
    "Mobile Safari": "Safari", "Mobile Safari UI/WKWebView": "Safari WebView", "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome", "Chrome Mobile WebView": "Chrome WebView", "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox", "Edge Mobile": "Edge", "Opera Mobile": "Opera", "WeChat Browser": "WeChat",
    "Other": "",
}
_APPS = (  # in-app browsers ua-parser misses (WeChat on Android) or calls a WebView: (name, version regex)
    ("WeChat", re.compile(r"MicroMessenger/(\d+)(?:\.(\d+))?")),
    ("QQ", re.compile(r"QQ/(?<![A-Za-z]QQ/)(\d+)(?:\.(\d+))?")),  # "QQ/", not "MQQ/"
    ("Quark", re.compile(r"Quark/(\d+)(?:\.(\d+))?")),
)
_HINT_BRAND_NAMES = {"Google Chrome": "Chrome", "Microsoft Edge": "Edge", "Android WebView": "Chrome WebView",
                     "YaBrowser": "Yandex Browser", "Yandex": "Yandex Browser"}
_GENERIC_BRANDS = {"Google Chrome": 0, "Android WebView": 1, "Chromium": 2}  # the UA may know better
_CHROMIUM_NAMES = frozenset({"", "Chrome", "Chromium", "Chrome WebView"})  # hints may know better
_OS_NAMES = {"Mac OS X": "macOS", "Web0S": "webOS", "ATV OS X": "tvOS", "Chromium OS": "Chrome OS",
             "Other": ""}
_HINT_PLATFORMS = frozenset({"Windows", "macOS", "Android", "Chrome OS", "Chromium OS", "Linux", "Fuchsia"})
_LINUX = frozenset({"Linux", "Ubuntu", "Fedora", "Debian", "Mint", "Arch Linux", "openSUSE", "Red Hat",
                    "CentOS"})
_DESKTOP_OS = _LINUX | {"Windows", "macOS", "Chrome OS", "FreeBSD", "OpenBSD", "NetBSD", "Solaris"}
_MOBILE_OS = frozenset({"iOS", "Windows Phone", "KaiOS", "BlackBerry OS", "Symbian OS", "Firefox OS",
                        "Tizen"})
_DEVICE_BRANDS = {"XiaoMi": "Xiaomi"}
_PLACEHOLDER_MODELS = frozenset({"K", "Smartphone", "Tablet", "Feature Phone", "Desktop", "Browser"})
_TABLET_FAMILIES = frozenset({"iPad", "Kindle", "Kindle Fire", "Generic Tablet", "BlackBerry Playbook",
                              "Galaxy Tab"})
_MOBILE_FAMILIES = frozenset({"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone"})
_TV_TOKENS = ("SmartTV", "Smart-TV", "SMART-TV", "GoogleTV", "AndroidTV", "AppleTV", "tvOS", "Web0S",
              "webOS.TV", "HbbTV", "NetCast", "BRAVIA", "CrKey", "Roku", "VIDAA", "Chromecast")
# Regexes that open with a literal are fast: "TV" as a word ("Android TV", "TV Safari"), Fire TV's "AFTMM".
_TV_PATTERNS = (re.compile(r"TV\b(?<!\wTV)"), re.compile(r"; AFT[A-Z]{1,5}\b"))
_CONSOLES = ("Xbox", "PlayStation", "Nintendo")
_SYNTHETIC_ANDROID = ("Mozilla/5.0 (Linux; Android 14; {}) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/124.0.0.0 Mobile Safari/537.36")
_DOTTED = re.compile(r"(\d{1,6})(?:\.(\d{1,6}))?")


@dataclass(frozen=True, slots=True)
class ClientHints:
    """What UA Client Hints say; "" or None where they say nothing. GREASE brands are already dropped."""

    brands: tuple[tuple[str, str], ...] = ()  # (brand, version): fullVersionList if sent, else brands
    mobile: bool | None = None
    platform: str = ""
    platform_version: str = ""
    model: str = ""
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Hashed once: the pair (UA, hints) is the parse cache's key, hashed on every hit.
        object.__setattr__(self, "_hash", hash((self.brands, self.mobile, self.platform,
                                                self.platform_version, self.model)))

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True, slots=True)
class Agent:
    browser_name: str
    browser_version: str
    os_name: str
    os_version: str
    device_type: str  # one of DEVICE_TYPES
    device_brand: str
    device_model: str
    bot: str  # "" for a person's browser, else one of gateway.useragent.bots.BOT_REASONS


UNKNOWN = Agent("", "", "", "", "other", "", "", "")


def _printable(text: str) -> str:
    """Without control, format (e.g. bidi overrides) and other unprintable characters."""
    return text if text.isprintable() else "".join(c for c in text if c.isprintable())


def _clean(value: object, cap: int = MAX_NAME) -> str:
    return _printable(value).strip()[:cap] if isinstance(value, str) else ""


def _is_grease(brand: str) -> bool:  # "Not A;Brand", "Not/A)Brand", "Not_A Brand", ...
    return "Not" in brand and ("Brand" in brand or ";" in brand)


def _hints(brands: Sequence[tuple[object, object]], mobile: object, platform: object,
           platform_version: object, model: object) -> ClientHints | None:
    kept = tuple((_clean(b), _clean(v, MAX_VERSION)) for b, v in brands
                 if isinstance(b, str) and b.strip() and not _is_grease(b))[:MAX_BRANDS]
    hints = ClientHints(kept, mobile if isinstance(mobile, bool) else None, _clean(platform),
                        _clean(platform_version, MAX_VERSION), _clean(model))
    return None if hints == _NO_HINTS else hints


_NO_HINTS = ClientHints()


def hints_from_uadata(text: str) -> ClientHints | None:
    """Client hints from matomo.js's ``uadata`` parameter (JSON of getHighEntropyValues); None if unusable."""
    return _hints_from_uadata(text) if text and len(text) <= MAX_UADATA else None


@lru_cache(maxsize=2048)
def _hints_from_uadata(text: str) -> ClientHints | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None

    def brand_list(key: str) -> Sequence[tuple[object, object]]:
        entries = data.get(key)
        if not isinstance(entries, list):
            return []
        return [(e.get("brand"), e.get("version")) for e in entries[:2 * MAX_BRANDS] if isinstance(e, dict)]

    return _hints(brand_list("fullVersionList") or brand_list("brands"), data.get("mobile"),
                  data.get("platform"), data.get("platformVersion"), data.get("model"))


_HEADERS = ("sec-ch-ua-full-version-list", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform",
            "sec-ch-ua-platform-version", "sec-ch-ua-model")
_SF_STRING = r'"((?:[^"\\]|\\.)*)"'  # an RFC 8941 sf-string
_SF_BRAND = re.compile(_SF_STRING + r'\s*(?:;\s*v\s*=\s*' + _SF_STRING + r')?')
_SF_ESCAPE = re.compile(r"\\(.)")


def hints_from_headers(headers: Mapping[str, str]) -> ClientHints | None:
    """Client hints from the Sec-CH-UA* request headers (lower-case keys, as Starlette's Headers)."""
    values = tuple(headers.get(name, "")[:1024] for name in _HEADERS)
    return _hints_from_header_values(values) if any(values) else None


@lru_cache(maxsize=2048)
def _hints_from_header_values(values: tuple[str, ...]) -> ClientHints | None:
    full, brands, mobile, platform, platform_version, model = values

    def brand_list(header: str) -> Sequence[tuple[object, object]]:
        return [(_SF_ESCAPE.sub(r"\1", m[1]), _SF_ESCAPE.sub(r"\1", m[2] or ""))
                for m in _SF_BRAND.finditer(header)][:2 * MAX_BRANDS]

    def sf_string(header: str) -> str:
        match = _SF_BRAND.match(header.strip())
        return _SF_ESCAPE.sub(r"\1", match[1]) if match else ""

    flag = {"?1": True, "?0": False}.get(mobile.strip())
    return _hints(brand_list(full) or brand_list(brands), flag, sf_string(platform),
                  sf_string(platform_version), sf_string(model))


def parse_agent(user_agent: str, hints: ClientHints | None = None) -> Agent:
    """Browser, OS, device and bot verdict of a hit; cached on (UA cut to 512 characters, hints)."""
    return _parse_agent(user_agent[:MAX_UA], hints)


def browser_family(user_agent: str) -> str:
    """ua-parser's browser family ("Chrome Mobile", not normalised) or "": what the consent log keeps."""
    # Cut before the cache, so its keys are bounded too (8192 x 512 bytes at most).
    return _browser_family(user_agent[:MAX_UA]) if user_agent else ""


@lru_cache(maxsize=8192)
def _browser_family(user_agent: str) -> str:
    found = _resolver()(user_agent, Domain.USER_AGENT).user_agent
    return "" if found is None or found.family == "Other" else found.family[:64]


def warm_up() -> None:
    """Build the resolver now: the Rust one compiles every rule when made (~0.1 s of CPU), which at a
    worker's first hit would stall every request in flight."""
    _resolver()


@lru_cache(maxsize=1)
def _resolver() -> Resolver:
    """ua-parser's fastest installed resolver, without its own cache (ours sit in front of it)."""
    if ua_parser.BestAvailableResolver is ua_parser.BasicResolver:
        return ua_parser.BasicResolver(load_builtins())  # eager: pure-Python matching compiles every regex
    return ua_parser.BestAvailableResolver(load_lazy_builtins())


@lru_cache(maxsize=CACHE_SIZE)
def _parse_agent(user_agent: str, hints: ClientHints | None) -> Agent:
    try:
        return _agent(user_agent, hints)
    except Exception:  # a parser bug must not lose the hit; cached, so logged once per distinct UA
        log.exception("could not parse user agent %r", user_agent[:100])
        return UNKNOWN


def _version(major: Any, minor: Any, *, drop_zero: bool = False) -> str:
    if not major:
        return ""
    return f"{major}" if not minor or (drop_zero and minor == "0") else f"{major}.{minor}"


def _dotted(version: str) -> str:  # "14.4.1" -> "14.4", "14.0.0" -> "14"
    match = _DOTTED.match(version)
    return _version(match[1], match[2], drop_zero=True) if match else ""


def _agent(ua: str, hints: ClientHints | None) -> Agent:
    ua = _printable(ua)
    found = _resolver()(ua, Domain.ALL)
    device = found.device
    bot = bot_reason(ua, [b for b, _ in hints.brands] if hints else ()) or (
        "crawler" if device and device.family == "Spider" else "")
    if "Chrome/" not in ua:
        hints = None  # hints only for a Chromium UA (see the module's docstring)
    browser_name, browser_version = _browser(ua, found.user_agent, hints)
    os_name, os_version = _os(found.os, hints)
    device_brand, device_model = _device(device, hints, os_name)
    device_type = "bot" if bot else _device_type(ua, os_name, device.family if device else "",
                                                 (device.brand or "") if device else "",
                                                 hints.mobile if hints else None)
    return Agent(_clean(browser_name), _clean(browser_version, MAX_VERSION), _clean(os_name),
                 _clean(os_version, MAX_VERSION), device_type, _clean(device_brand), _clean(device_model),
                 bot)


def _browser(ua: str, browser: UserAgent | None, hints: ClientHints | None) -> tuple[str, str]:
    name = _BROWSER_NAMES.get(browser.family, browser.family) if browser else ""
    version = _version(browser.major, browser.minor) if browser else ""
    for app, pattern in _APPS:
        if match := pattern.search(ua):
            name, version = app, _version(match[1], match[2])
            break
    if hints and hints.brands:
        # Browsers shuffle their brands: choose by name, not by place. The longest specific brand
        # ("Opera GX" over "Opera"), else Google Chrome, Android WebView, Chromium in that order.
        brand, full = min(hints.brands, key=lambda b: (_GENERIC_BRANDS.get(b[0], -1), -len(b[0]), b))
        if brand not in _GENERIC_BRANDS or name in _CHROMIUM_NAMES:
            name, version = _HINT_BRAND_NAMES.get(brand, brand), full
    return name, version


def _os(os: OS | None, hints: ClientHints | None) -> tuple[str, str]:
    name = _OS_NAMES.get(os.family, os.family) if os else ""
    version = _version(os.major, os.minor, drop_zero=True) if os else ""
    if not hints or hints.platform not in _HINT_PLATFORMS:
        return name, version
    platform = _OS_NAMES.get(hints.platform, hints.platform)
    major = hints.platform_version.split(".")[0]
    if platform == "Windows" and major.isdigit() and int(major) >= 1:
        return platform, "11" if int(major) >= 13 else "10"
    if platform == "Linux":  # its platformVersion is empty; the UA may name the distribution
        return (name, version) if name in _LINUX else ("Linux", "")
    if platform != "Windows" and hints.platform_version:
        return platform, _dotted(hints.platform_version)
    # Windows 0.x (7, 8, 8.1, where the UA's "NT 6.x" is right) or no platformVersion: the UA's version
    return platform, version if platform == name else ""


def _device(device: Device | None, hints: ClientHints | None, os_name: str) -> tuple[str, str]:
    if hints and hints.model and os_name == "Android":
        # ua-parser knows brands by model: ask it about a synthetic UA naming the hints' model.
        device = _resolver()(_SYNTHETIC_ANDROID.format(hints.model.replace(";", " ")), Domain.DEVICE).device
        model = hints.model
    else:
        model = (device.model or "") if device else ""
    brand = (device.brand or "") if device else ""
    if brand == "Spider":
        return "", ""
    return ("" if brand.startswith("Generic") else _DEVICE_BRANDS.get(brand, brand),
            "" if model in _PLACEHOLDER_MODELS else model)


def _device_type(ua: str, os_name: str, family: str, brand_raw: str, mobile_hint: bool | None) -> str:
    if "TV" in family or any(t in ua for t in _TV_TOKENS) or any(p.search(ua) for p in _TV_PATTERNS):
        return "tv"
    if any(console in ua for console in _CONSOLES):
        return "other"
    if family in _TABLET_FAMILIES or "; Tablet;" in ua:
        return "tablet"
    if mobile_hint:  # hints say phone: believed unless the UA said tablet above
        return "mobile"
    if os_name == "Android" or brand_raw == "Generic_Android_Tablet":
        # Android tablets' browsers leave "Mobile" out; "Dalvik/" is an app (Matomo's SDK), phones mostly
        return "mobile" if ("Mobile" in ua or "Dalvik/" in ua) and mobile_hint is None else "tablet"
    if family in _MOBILE_FAMILIES or os_name in _MOBILE_OS or "Mobile" in ua or "Opera Mini" in ua:
        return "mobile"
    if os_name in _DESKTOP_OS or "X11" in ua:
        return "desktop"
    return "other"
