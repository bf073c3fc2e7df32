"""Bot rules: which user agents are not a person's browser, and why.

The rules are data: one row per reason, each with case-insensitive substrings (``contains``),
prefixes (``starts``) and, only where those cannot say it, regular expressions. Rows are tried in
order and the first that matches wins, so the specific rows come first: a Pingdom check runs a real
Chrome (monitor, not headless); LinkedIn's preview fetcher names Apache-HttpClient (preview, not
library). The generic row (a "+http://" contact URL, a "bot"/"spider" word) runs last, and
``gateway.useragent.parse`` adds ua-parser's own spider detection after it. Substring tests rather than
one big alternation: CPython's ``re`` tries every branch at every position (~100 µs for a long UA),
while ``in`` and regexes that open with a literal take ~0.05-0.2 µs each (~10 µs in all).

Deliberately not bots: Electron apps (Slack, Discord, Teams desktop), in-app browsers (WeChat's
MicroMessenger, Instagram, FBAN/FBAV, Line, QQ, UC, Quark, Baidu), smart-TV browsers, and
``Dalvik/`` (the UA Matomo's Android SDK sends). WeChat's link-preview fetcher sends an ordinary
browser UA and cannot be told apart; neither can Selenium, or Playwright with a device's UA.
``okhttp`` counts as a library: Android apps use it, but their in-app browsers (WebViews) send a
Chrome UA and Matomo's SDKs send their own, so an okhttp UA on a tracking hit is a script.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

BOT_REASONS = ("crawler", "headless", "preview", "monitor", "library", "empty")


@dataclass(frozen=True, slots=True)
class BotRule:
    reason: str  # one of BOT_REASONS
    contains: tuple[str, ...] = ()  # substrings, any case
    starts: tuple[str, ...] = ()  # prefixes, any case
    regexes: tuple[str, ...] = ()  # searched in the lower-cased UA; open each with a literal (fast)


RULES = (
    BotRule("monitor", contains=(
        "uptimerobot", "pingdom", "statuscake", "site24x7", "datadogsynthetics", "datadog/synthetics",
        "datadog agent", "betteruptime", "better uptime", "better stack", "newrelicpinger", "checkly",
        "ptst/", "gtmetrix", "uptime-kuma", "ruxitsynthetic", "catchpoint", "hetrixtools", "freshping",
        "ohdear", "check_http/", "zabbix", "elb-healthchecker", "googlehc/", "kube-probe/",
        "blackbox exporter", "updown.io")),
    BotRule("preview", contains=(
        "facebookexternalhit", "facebot", "meta-externalfetcher", "twitterbot", "slackbot", "slack-imgproxy",
        "discordbot", "telegrambot", "linkedinbot", "skypeuripreview", "pinterestbot", "redditbot",
        "embedly", "iframely", "vkshare", "google-pagerenderer", "developers.google.com/+/web/snippet",
        "link preview", "url preview", "bluesky cardyb", "matrix-org/synapse", "google-read-aloud"),
        starts=("whatsapp/", "pinterest/0."),
        regexes=(r"mastodon/[^;)]*; *\+https?://",)),
    BotRule("headless", contains=(
        "headlesschrome", "headlessedg", "phantomjs", "chrome-lighthouse", "slimerjs", "jsdom/", "cypress/",
        "htmlunit", "puppeteer", "playwright")),
    BotRule("crawler", contains=(
        "googlebot", "google-inspectiontool", "googleother", "adsbot-google", "mediapartners-google",
        "storebot-google", "apis-google", "feedfetcher-google", "bingbot", "bingpreview", "adidxbot",
        "msnbot", "baiduspider", "yandeximages", "yandexmetrika", "360spider", "haosouspider",
        "bytespider", "tiktokspider", "petalbot", "ahrefsbot", "semrushbot", "gptbot", "chatgpt-user",
        "oai-searchbot", "claudebot", "claude-user", "claude-searchbot", "anthropic-ai", "ccbot",
        "applebot", "duckduckbot", "duckassistbot", "yisouspider", "perplexitybot", "perplexity-user",
        "amazonbot", "meta-externalagent", "facebookcatalog", "mj12bot", "dotbot", "seznambot", "qwantbot",
        "qwantify", "coccocbot", "archive.org_bot", "ia_archiver", "exabot", "mojeekbot", "yeti/", "daum/",
        "slurp", "dataforseobot", "blexbot", "serpstatbot", "barkrowler", "mail.ru_bot", "imagesiftbot",
        "diffbot", "timpibot", "cohere-ai", "screaming frog", "sitebulb"),
        regexes=(r"yandex\w*bot", r"sogou[\w ]*spider")),
    BotRule("library", contains=(
        "python-requests/", "python-httpx/", "aiohttp/", "apache-httpclient/", "jakarta commons-httpclient",
        "node-fetch", "libwww-perl/"),
        starts=(
        "curl/", "wget", "python-urllib/", "urllib3/", "pycurl", "go-http-client/", "java/",
        "java-http-client/", "okhttp/", "undici", "axios/", "got ", "deno/", "bun/", "lwp-", "mechanize",
        "scrapy/", "httpie/", "postmanruntime/", "insomnia/", "ruby", "faraday", "typhoeus", "http.rb/",
        "guzzlehttp/", "symfony httpclient", "wordpress/", "dart/", "restsharp/", "reqwest/", "fasthttp",
        "colly", "winhttp"),
        regexes=(r"^node$", r"^mozilla/\d\.0$")),  # a bare "Mozilla/5.0" is a script's placeholder
    BotRule("crawler", contains=("crawl", "spider", "scraper"),
            regexes=(r"\+https?://", r"bot(?<![a-z]bot)\b", r"bot/\d")),  # "bot" as a word, not "Cubot"
)
HEADLESS_BRANDS = frozenset({"HeadlessChrome", "HeadlessEdg"})  # in Sec-CH-UA even when the UA is faked


@dataclass(frozen=True, slots=True)
class _Compiled:
    reason: str
    contains: tuple[str, ...]
    starts: tuple[str, ...]
    regexes: tuple[re.Pattern[str], ...]


_COMPILED = tuple(_Compiled(rule.reason, tuple(s.lower() for s in rule.contains),
                            tuple(s.lower() for s in rule.starts),
                            tuple(re.compile(pattern) for pattern in rule.regexes)) for rule in RULES)


def bot_reason(user_agent: str, brands: Iterable[str] = ()) -> str:
    """Why ``user_agent`` (sent with these client-hint brands) is not a person's browser; "" if it is."""
    text = user_agent.strip().lower()
    if not text or text == "-":  # "-" is what logs and some proxies put for a missing header
        return "empty"
    for rule in _COMPILED:  # plain loops: a third faster than any() over generators
        if text.startswith(rule.starts):
            return rule.reason
        for substring in rule.contains:
            if substring in text:
                return rule.reason
        for pattern in rule.regexes:
            if pattern.search(text):
                return rule.reason
    return "headless" if not HEADLESS_BRANDS.isdisjoint(brands) else ""
