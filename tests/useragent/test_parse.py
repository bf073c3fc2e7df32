"""User agents: names, versions, devices, client hints and bot verdicts, on real UA strings and hints."""

from __future__ import annotations

import json
import random

import pytest
from starlette.datastructures import Headers

from gateway.useragent.bots import BOT_REASONS, RULES, bot_reason
from gateway.useragent.parse import (
    DEVICE_TYPES,
    MAX_NAME,
    MAX_VERSION,
    Agent,
    ClientHints,
    browser_family,
    hints_from_headers,
    hints_from_uadata,
    parse_agent,
)

CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")
CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")
CHROME_ANDROID_REDUCED = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Chrome/124.0.0.0 Mobile Safari/537.36")
SAMSUNG_REDUCED = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36")
EDGE_WIN = CHROME_WIN + " Edg/124.0.2478.80"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
SAFARI_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.4.1 Safari/605.1.15")


def uadata(platform: str, version: str, *brands: tuple[str, str], mobile: bool = False,
           model: str = "") -> str:
    """What matomo.js sends: getHighEntropyValues(...) with a GREASE brand, as Chrome lists it."""
    full = [{"brand": "Not-A.Brand", "version": "99.0.0.0"}, *({"brand": b, "version": v} for b, v in brands)]
    short = [{"brand": e["brand"], "version": e["version"].split(".")[0]} for e in full]
    return json.dumps({"brands": short, "fullVersionList": full, "mobile": mobile, "model": model,
                       "platform": platform, "platformVersion": version})


CHROME_124 = (("Chromium", "124.0.6367.91"), ("Google Chrome", "124.0.6367.91"))
WIN_11, WIN_10 = uadata("Windows", "15.0.0", *CHROME_124), uadata("Windows", "10.0.0", *CHROME_124)
PIXEL_8 = uadata("Android", "14.0.0", *CHROME_124, mobile=True, model="Pixel 8")
CHROME_WIN_7 = ("Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/109.0.0.0 Safari/537.36")
CHROME_TABLET_REDUCED = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/124.0.0.0 Safari/537.36")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
                 "like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1")
CHROME_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
                 "like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1")
SAFARI_IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "Version/17.4 Mobile/15E148 Safari/604.1")
SAMSUNG = ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
           "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36")
CHROME_UBUNTU = ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/124.0.0.0 Safari/537.36")
WECHAT_ANDROID = ("Mozilla/5.0 (Linux; Android 13; V2254A Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
                  "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 "
                  "MMWEBSDK/20231202 MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F30) WeChat/arm64 Weixin "
                  "NetType/WIFI Language/zh_CN ABI/arm64")
WECHAT_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
              "Gecko) "
              "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN")
XIAOMI = ("Mozilla/5.0 (Linux; Android 13; Redmi Note 12 Pro) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Mobile Safari/537.36")
HUAWEI_BAIDU = ("Mozilla/5.0 (Linux; Android 12; NOH-AN00 Build/HUAWEINOH-AN00; wv) AppleWebKit/537.36 "
                "(KHTML, like Gecko) Version/4.0 Chrome/99.0.4844.88 Mobile Safari/537.36 "
                "baiduboxapp/13.47.0.10 (Baidu; P1 12) NABar/1.0")
TIZEN_TV = ("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "76.0.3809.146/6.0 TV Safari/537.36")
WEBOS_TV = ("Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 "
            "Safari/537.36 WebAppManager")
ANDROID_TV = ("Mozilla/5.0 (Linux; Android 9; SHIELD Android TV Build/PPR1.180610.011; wv) "
              "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.210 Mobile Safari/537.36")
FIRE_TV = ("Mozilla/5.0 (Linux; Android 9; AFTKA Build/PS7285.3176N; wv) AppleWebKit/537.36 (KHTML, like "
           "Gecko) Version/4.0 Chrome/120.0.6099.210 Mobile Safari/537.36")
XBOX = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041")
CHROMEBOOK = ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")


Case = tuple[str, str, str | None, tuple[str, ...]]


def case(name: str, ua: str, hints: str | None, *expected: str) -> Case:
    """expected: browser, version, OS, OS version, device type, device brand, device model."""
    return name, ua, hints, expected


PEOPLE = [
    case("windows-11", CHROME_WIN, WIN_11, "Chrome", "124.0.6367.91", "Windows", "11", "desktop", "", ""),
    case("windows-10", CHROME_WIN, WIN_10, "Chrome", "124.0.6367.91", "Windows", "10", "desktop", "", ""),
    case("windows-no-hints", CHROME_WIN, None, "Chrome", "124.0", "Windows", "10", "desktop", "", ""),
    case("windows-7-keeps-ua-version", CHROME_WIN_7,
         uadata("Windows", "0.1.0", ("Google Chrome", "109.0.5414.120")),
         "Chrome", "109.0.5414.120", "Windows", "7", "desktop", "", ""),
    case("macos-real-version", CHROME_MAC, uadata("macOS", "14.4.1", *CHROME_124),
         "Chrome", "124.0.6367.91", "macOS", "14.4", "desktop", "Apple", "Mac"),
    case("android-pixel-8", CHROME_ANDROID_REDUCED, PIXEL_8,
         "Chrome", "124.0.6367.91", "Android", "14", "mobile", "Google", "Pixel 8"),
    case("android-reduced-no-hints", CHROME_ANDROID_REDUCED, None,
         "Chrome", "124.0", "Android", "10", "mobile", "", ""),
    case("android-tablet", CHROME_TABLET_REDUCED,
         uadata("Android", "14.0.0", *CHROME_124, model="Pixel Tablet"),
         "Chrome", "124.0.6367.91", "Android", "14", "tablet", "Google", "Pixel Tablet"),
    case("iphone-safari", SAFARI_IPHONE, None, "Safari", "17.4", "iOS", "17.4", "mobile", "Apple", "iPhone"),
    case("iphone-chrome", CHROME_IPHONE, None, "Chrome", "124.0", "iOS", "17.4", "mobile", "Apple", "iPhone"),
    case("ipad", SAFARI_IPAD, None, "Safari", "17.4", "iOS", "17.4", "tablet", "Apple", "iPad"),
    # iPadOS Safari asks for desktop pages with this very macOS UA: an iPad we cannot tell from a Mac.
    case("mac-safari-or-ipad-desktop-mode", SAFARI_MAC, None,
         "Safari", "17.4", "macOS", "10.15", "desktop", "Apple", "Mac"),
    case("samsung-internet", SAMSUNG, None,
         "Samsung Internet", "24.0", "Android", "14", "mobile", "Samsung", "SM-S918B"),
    case("samsung-internet-hints", SAMSUNG_REDUCED,
         uadata("Android", "14.0.0", ("Samsung Internet", "24.0.0.61"), ("Chromium", "117.0.5938.60"),
                mobile=True, model="SM-S918B"),
         "Samsung Internet", "24.0.0.61", "Android", "14", "mobile", "Samsung", "SM-S918B"),
    case("edge-hints", EDGE_WIN,
         uadata("Windows", "15.0.0", ("Microsoft Edge", "124.0.2478.80"), ("Chromium", "124.0.6367.91")),
         "Edge", "124.0.2478.80", "Windows", "11", "desktop", "", ""),
    case("edge", EDGE_WIN, None, "Edge", "124.0", "Windows", "10", "desktop", "", ""),
    case("brave-is-chrome-in-the-ua", CHROME_WIN,
         uadata("Windows", "15.0.0", ("Brave", "124.1.65.126"), ("Chromium", "124.0.6367.91")),
         "Brave", "124.1.65.126", "Windows", "11", "desktop", "", ""),
    case("opera-hints", CHROME_WIN + " OPR/110.0.0.0",
         uadata("Windows", "10.0.0", ("Chromium", "124.0.6367.91"), ("Opera", "110.0.5130.39")),
         "Opera", "110.0.5130.39", "Windows", "10", "desktop", "", ""),
    case("firefox-linux", FIREFOX_LINUX, None, "Firefox", "125.0", "Linux", "", "desktop", "", ""),
    # Firefox sends no client hints: these come from a spoofing client and lose to the UA.
    case("firefox-ignores-hints", FIREFOX_LINUX, PIXEL_8, "Firefox", "125.0", "Linux", "", "desktop", "", ""),
    case("chrome-ubuntu-keeps-distro", CHROME_UBUNTU, uadata("Linux", "", *CHROME_124),
         "Chrome", "124.0.6367.91", "Ubuntu", "", "desktop", "", ""),
    case("firefox-android", "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", None,
         "Firefox", "125.0", "Android", "14", "mobile", "", ""),
    case("firefox-android-tablet", "Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0",
         None,
         "Firefox", "125.0", "Android", "14", "tablet", "", ""),
    case("wechat-android", WECHAT_ANDROID, None, "WeChat", "8.0", "Android", "13", "mobile", "", "V2254A"),
    case("wechat-ios", WECHAT_IOS, None, "WeChat", "8.0", "iOS", "17.3", "mobile", "Apple", "iPhone"),
    case("xiaomi", XIAOMI, None, "Chrome", "120.0", "Android", "13", "mobile", "Xiaomi", "Redmi Note 12 Pro"),
    case("huawei-baidu-app", HUAWEI_BAIDU, None,
         "Baidu Explorer", "13.47", "Android", "12", "mobile", "Huawei", "NOH-AN00"),
    case("samsung-tizen-tv", TIZEN_TV, None, "Safari", "", "Tizen", "6", "tv", "Samsung", "SMART-TV"),
    case("lg-webos-tv", WEBOS_TV, None, "Chrome", "79.0", "webOS", "", "tv", "LG", "Web0S SmartTV"),
    case("android-tv", ANDROID_TV, None,
         "Chrome WebView", "120.0", "Android", "9", "tv", "", "SHIELD Android TV"),
    case("fire-tv", FIRE_TV, None, "Chrome WebView", "120.0", "Android", "9", "tv", "", "AFTKA"),
    case("apple-tv", "AppleTV11,1/11.1", None, "", "", "tvOS", "", "tv", "Apple", "AppleTV"),
    case("xbox-is-other", XBOX, None, "Edge", "18.19041", "Windows", "10", "other", "", ""),
    case("chromebook", CHROMEBOOK, None, "Chrome", "124.0", "Chrome OS", "14541", "desktop", "", ""),
]


@pytest.mark.parametrize(("ua", "hints", "expected"), [pytest.param(*c[1:], id=c[0]) for c in PEOPLE])
def test_people(ua: str, hints: str | None, expected: tuple[str, ...]) -> None:
    agent = parse_agent(ua, hints_from_uadata(hints) if hints else None)
    assert (agent.browser_name, agent.browser_version, agent.os_name, agent.os_version, agent.device_type,
            agent.device_brand, agent.device_model) == expected
    assert agent.bot == ""


def test_hints_from_headers_drive_the_same_parse() -> None:
    headers = Headers({"Sec-CH-UA": '"Chromium";v="124", "Brave";v="124", "Not-A.Brand";v="99"',
                       "Sec-CH-UA-Full-Version-List": '"Chromium";v="124.0.6367.91", '
                                                      '"Brave";v="124.1.65.126", '
                                                      '"Not-A.Brand";v="99.0.0.0"',
                       "Sec-CH-UA-Mobile": "?0", "Sec-CH-UA-Platform": '"macOS"',
                       "Sec-CH-UA-Platform-Version": '"14.4.1"', "Sec-CH-UA-Model": '""'})
    hints = hints_from_headers(headers)
    assert hints == ClientHints((("Chromium", "124.0.6367.91"), ("Brave", "124.1.65.126")), False, "macOS",
                                "14.4.1", "")
    agent = parse_agent(CHROME_MAC, hints)
    assert (agent.browser_name, agent.browser_version, agent.os_name, agent.os_version) == (
        "Brave", "124.1.65.126", "macOS", "14.4")


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, None),
    ({"user-agent": CHROME_WIN}, None),
    ({"sec-ch-ua": '" Not A;Brand";v="99", "Chromium";v="96", "Google Chrome";v="96"',
      "sec-ch-ua-mobile": "?1"},
     ClientHints((("Chromium", "96"), ("Google Chrome", "96")), True)),
    ({"sec-ch-ua": '"Not/A)Brand";v="8", "Chromium";v="126"', "sec-ch-ua-platform": '"Android"',
      "sec-ch-ua-model": '"Pixel \\"8\\""'},
     ClientHints((("Chromium", "126"),), None, "Android", "", 'Pixel "8"')),
    ({"sec-ch-ua": "garbage", "sec-ch-ua-mobile": "?maybe", "sec-ch-ua-platform": "Windows"}, None),
    ({"sec-ch-ua-platform": '"Windows"', "sec-ch-ua-platform-version": '"15.0.0"'},
     ClientHints((), None, "Windows", "15.0.0")),
])
def test_hints_from_headers(headers: dict[str, str], expected: ClientHints | None) -> None:
    assert hints_from_headers(Headers(headers)) == expected


@pytest.mark.parametrize(("text", "expected"), [
    (uadata("Windows", "15.0.0", *CHROME_124), ClientHints(CHROME_124, False, "Windows", "15.0.0")),
    ('{"brands":[{"brand":"Not_A Brand","version":"8"},{"brand":"Chromium","version":"120"}],"mobile":true}',
     ClientHints((("Chromium", "120"),), True)),  # no fullVersionList: brands
    ('{"brands":[{"brand":" Not;A Brand","version":"99"}],"fullVersionList":[]}', None),
    ('{"platform":"Android","model":"Pixel\\u0000 8\\n\\u202e","platformVersion":"14.0.0"}',
     ClientHints((), None, "Android", "14.0.0", "Pixel 8")),  # control and bidi characters removed
    ("", None), ("null", None), ("[]", None), ("{}", None), ('"Windows"', None), ("{", None),
    ("x" * 100, None),
    ('{"brands":"Chromium","mobile":"yes","platform":7,"model":["Pixel"]}', None),
    ('{"brands":[1,null,{"brand":5},{"version":"1"}],"platform":{"a":1}}', None),
    ("[" * 2000, None),  # nesting past Python's recursion limit
    ('{"platform":"' + "W" * 3000 + '"}', None),  # over 2 KB
])
def test_hints_from_uadata(text: str, expected: ClientHints | None) -> None:
    assert hints_from_uadata(text) == expected


def test_hints_are_capped() -> None:
    brands = [{"brand": f"B{i:02}" + "x" * 63, "version": "1" * 35} for i in range(12)]
    hints = hints_from_uadata(json.dumps({"brands": brands, "platform": "P" * 70, "model": "M" * 70}))
    assert hints is not None
    assert len(hints.brands) == 10
    assert all(len(b) == MAX_NAME and len(v) == MAX_VERSION for b, v in hints.brands)
    assert len(hints.platform) == len(hints.model) == MAX_NAME


INSTAGRAM_WEBVIEW = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7 Build/AP1A.240405.002; wv) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36 Instagram 328.0.0.42.90 Android (34/14; "
    "420dpi; 1080x2219; Google/google; Pixel 7; panther; panther; en_US; 591934287)")
WEBVIEW = ("Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240405.002; wv) AppleWebKit/537.36 (KHTML, "
           "like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36")


@pytest.mark.parametrize(("ua", "brands", "name"), [
    (CHROME_WIN, [("Chromium", "124.0.6367.91"), ("Google Chrome", "124.0.6367.91")], "Chrome"),
    (CHROME_WIN, [("Chromium", "124.0.6367.91"), ("Brave", "124.1.65.126")], "Brave"),
    (CHROME_WIN + " OPR/110.0.0.0", [("Opera GX", "110.0.5130.39"), ("Opera", "110.0.5130.39"),
                                     ("Chromium", "124.0.6367.91")], "Opera GX"),
    (WEBVIEW, [("Android WebView", "124.0.6367.82"), ("Chromium", "124.0.6367.82")], "Chrome WebView"),
    (INSTAGRAM_WEBVIEW, [("Android WebView", "124.0.6367.82"), ("Chromium", "124.0.6367.82")], "Instagram"),
])
def test_brands_choose_by_name_not_by_order(ua: str, brands: list[tuple[str, str]], name: str) -> None:
    """Chromium shuffles its brand list per release; the name must not follow the shuffle."""
    names = {parse_agent(ua, ClientHints(tuple(order))).browser_name
             for order in (brands, brands[::-1], brands[1:] + brands[:1])}
    assert names == {name}


def test_headless_chrome_brand_betrays_a_faked_ua() -> None:
    hints = hints_from_headers(Headers({"sec-ch-ua": '"HeadlessChrome";v="124", "Chromium";v="124", '
                                                     '"Not-A.Brand";v="99"'}))
    agent = parse_agent(CHROME_WIN, hints)
    assert (agent.bot, agent.device_type) == ("headless", "bot")


BOTS = {
    "crawler": [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.201 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
        "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/50.0.2661.102 "
        "Safari/537.36; 360Spider",
        "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 "
        "(compatible; Bytespider; spider-feedback@bytedance.com)",
        "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 "
        "(compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; "
        "+https://openai.com/gptbot",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ChatGPT-User/1.0; "
        "+https://openai.com/bot",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
        "+claudebot@anthropic.com)",
        "CCBot/2.0 (https://commoncrawl.org/faq/)",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/69.0.3497.81 YisouSpider/5.0 Safari/537.36",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Amazonbot/0.1; "
        "+https://developer.amazon.com/support/amazonbot) Chrome/119.0.6045.214 Safari/537.36",
        "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
        "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
        "Mozilla/5.0 (compatible; SeznamBot/4.0; "
        "+https://o-seznam.cz/napoveda/vyhledavani/en/seznambot-crawler/)",
        "Mozilla/5.0 (compatible; SomeNewBot/0.1; +https://example.org/bot)",  # the generic rule
    ],
    "headless": [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/124.0.6367.60 Safari/537.36",  # Puppeteer's and Playwright's headless default
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 "
        "Safari/538.1",
        "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36 Edg/124.0.0.0 HeadlessEdg/124.0.0.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Cypress/13.8.1 "
        "Chrome/118.0.5993.159 Electron/27.3.10 Safari/537.36",
        "Mozilla/5.0 (linux) AppleWebKit/537.36 (KHTML, like Gecko) jsdom/24.0.0",
    ],
    "preview": [
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Mozilla/5.0 (compatible; Facebot/1.0)",
        "Twitterbot/1.0",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Slack-ImgProxy (+https://api.slack.com/robots)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "TelegramBot (like TwitterBot)",
        "WhatsApp/2.23.20.0 A",
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
        "Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)",
        "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)",
        "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
        "Iframely/1.3.1 (+https://iframely.com/docs/about)",
        "Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)",
        "Google-PageRenderer Google (+https://developers.google.com/+/web/snippet/)",
        "Mozilla/5.0 (compatible; Snap URL Preview Service; bot; snapchat; "
        "https://developers.snap.com/robots)",
        "http.rb/5.1.1 (Mastodon/4.2.8; +https://mastodon.social/)",
        "Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)",
    ],
    "monitor": [
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/61.0.3163.100 Safari/537.36 PingdomPageSpeed/1.0 (pingbot/2.0; +http://www.pingdom.com/)",
        "Mozilla/5.0 (compatible; StatusCake)",
        "Mozilla/5.0 (compatible; Site24x7)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36 DatadogSynthetics",
        "Better Uptime Bot Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/91.0.4472.124 Safari/537.36",
        "NewRelicPinger/1.0 (269005)",
        "Checkly/1.0 (https://www.checklyhq.com)",
    ],
    "library": [
        "curl/8.4.0",
        "Wget/1.21.4",
        "python-requests/2.31.0",
        "python-httpx/0.27.0",
        "Python/3.11 aiohttp/3.9.5",
        "Python-urllib/3.11",
        "Go-http-client/1.1",
        "Go-http-client/2.0",
        "Java/17.0.9",
        "okhttp/4.12.0",
        "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
        "node-fetch",
        "undici",
        "node",
        "axios/1.6.8",
        "libwww-perl/6.76",
        "Scrapy/2.11.1 (+https://scrapy.org)",
        "HTTPie/3.2.2",
        "PostmanRuntime/7.37.3",
        "Apache-HttpClient/4.5.14 (Java/17.0.9)",
        "Mozilla/5.0",
    ],
    "empty": [
        "",
        " ",
        "-",
        "\x00\x01\t",
    ],
}


@pytest.mark.parametrize(("reason", "ua"), [(reason, ua) for reason, uas in BOTS.items() for ua in uas])
def test_bots(reason: str, ua: str) -> None:
    agent = parse_agent(ua)
    assert (agent.bot, agent.device_type) == (reason, "bot")


NOT_BOTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 Instagram 329.0.3.29.108 (iPhone15,3; iOS 17_4; en_US; en; scale=3.00; 1290x2796; "
    "591134385)",
    "Mozilla/5.0 (Linux; Android 14; Pixel 7 Build/AP1A.240405.002; wv) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36 Instagram 328.0.0.42.90 Android (34/14; "
    "420dpi; 1080x2219; Google/google; Pixel 7; panther; panther; en_US; 591934287)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [FBAN/FBIOS;FBAV/459.0.0.38.108;FBBV/590019826;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;"
    "FBSV/17.4;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/592090000]",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/124.0.6367.54 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/460.0.0.48.109;]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 Safari Line/14.5.0",
    "Mozilla/5.0 (Linux; Android 12; M2102J20SG Build/SKQ1.211006.001; wv) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/119.0.6045.193 Mobile Safari/537.36 Line/14.0.2/IAB",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 QQ/8.9.80.632 V1_IPH_SQ_8.9.80_1_APP_A Pixel/1290 MiniAppEnable SimpleUISwitch/0 "
    "StudyMode/0 CurrentMode/0 CurrentFontScale/1.000000 QQTheme/1000 AppId/537172452 Core/WKWebView "
    "Device/Apple(iPhone 14 Pro) NetType/WIFI QBWebViewType/1 WKType/1",
    "Mozilla/5.0 (Linux; U; Android 10; zh-CN; Redmi Note 8 Pro Build/QP1A.190711.020) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 UCBrowser/13.4.0.1306 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; U; Android 13; zh-cn; 22081212C Build/TKQ1.220829.002) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Version/4.0 Chrome/100.0.4896.58 Mobile Safari/537.36 Quark/6.9.6.501",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) discord/1.0.9013 "
    "Chrome/108.0.5359.215 Electron/22.3.2 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.38.125 "
    "Chrome/124.0.6367.60 Electron/30.0.1 Safari/537.36 Sonic Slack_SSB/4.38.125",
    "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP1A.240405.002)",  # Matomo's Android SDK
    "Mozilla/5.0 (Linux; Android 9; CUBOT_X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; HarmonyOS; NOH-AN00; HMSCore 6.13.0.302) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/99.0.4844.88 HuaweiBrowser/14.0.5.302 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) YaBrowser/24.4.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Mobile; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5",
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 "
    "Safari/605.1.15",
    *(ua for _, ua, _, _ in PEOPLE),
]


@pytest.mark.parametrize("ua", NOT_BOTS)
def test_people_are_not_bots(ua: str) -> None:
    agent = parse_agent(ua)
    assert agent.bot == ""
    assert agent.device_type in DEVICE_TYPES and agent.device_type != "bot"


def test_bot_rules_are_well_formed() -> None:
    assert {rule.reason for rule in RULES} <= set(BOT_REASONS)
    assert bot_reason(CHROME_WIN, ["Chromium", "Google Chrome"]) == ""
    assert bot_reason(CHROME_WIN, ["HeadlessChrome"]) == "headless"


@pytest.mark.parametrize("ua", [
    "a" * 100_000, "(" * 600, "Mozilla/5.0 (" + "; " * 300, "\u202e\ufeff\U0001f600 Chrome/1", "\x00" * 10,
    "Mozilla/5.0 (Linux; Android 99999999999999999999; " + "X" * 400 + ")", "Chrome/" + "9" * 500,
    "Mozilla/5.0 (Windows NT 10.0\r\nX-Injected: 1) Chrome/124.0.0.0",
])
def test_garbage_never_raises(ua: str) -> None:
    agent = parse_agent(ua, ClientHints((("Google Chrome", "1" * 32),), True, "Android", "x.y", "\x00"))
    assert agent.device_type in DEVICE_TYPES
    for value in (agent.browser_name, agent.os_name, agent.device_brand, agent.device_model):
        assert len(value) <= MAX_NAME and value.isprintable()
    for value in (agent.browser_version, agent.os_version):
        assert len(value) <= MAX_VERSION and value.isprintable()


def test_random_input_never_raises() -> None:
    rnd = random.Random(7)
    alphabet = "abcXYZ019 ;:/()[]{}.,_-+\"'\\\x00\x7f\u00e9\u4e2d"
    for _ in range(100):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(300)))
        assert isinstance(parse_agent(text), Agent)
        hints_from_uadata(text)
        hints_from_headers({"sec-ch-ua": text, "sec-ch-ua-platform": text, "sec-ch-ua-mobile": text})


def test_long_user_agents_are_cut_before_the_cache() -> None:
    assert parse_agent(CHROME_WIN + " " * 1000 + "curl/8") == parse_agent(CHROME_WIN + " " * 1000)
    assert parse_agent(CHROME_WIN) is parse_agent(CHROME_WIN[:]), "a hit returns the cached object"


def test_the_same_hints_text_gives_the_same_object() -> None:
    text = uadata("Windows", "15.0.0", *CHROME_124)
    assert hints_from_uadata(text) is hints_from_uadata("" + text)
    assert hash(ClientHints(CHROME_124, False)) == hash(ClientHints(CHROME_124, False))


@pytest.mark.parametrize(("ua", "family"), [
    (CHROME_ANDROID_REDUCED, "Chrome Mobile"),  # the consent log keeps ua-parser's own family, unnormalised
    (FIREFOX_LINUX, "Firefox"), ("curl/8.4.0", "curl"), ("", ""), ("???", ""),
])
def test_browser_family(ua: str, family: str) -> None:
    assert browser_family(ua) == family
