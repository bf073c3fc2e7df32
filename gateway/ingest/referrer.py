"""Where a visit came from: campaign parameters of the page and the class of its referrer.

Owns the tables of search engines, social networks and apps (data, looked up by host suffix in
O(labels), never a loop over patterns) and the rules that turn a page's campaign parameters and a
scrubbed referrer into one ``Referrer``: a campaign wins; then no referrer or an internal one is
direct; then a known search engine or social network; anything else with a host is a website.

Input is already scrubbed (``Scrubber.url``): a keyword taken from the referrer's query was
text-scrubbed with every other parameter value. The referrer is reduced to host and path. Campaign
values and search keywords are lower-cased and capped, as Matomo does.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from gateway.ingest.scrub import ScrubbedUrl
from gateway.storage import schema

REFERRER_TYPES = schema.REFERRER_TYPES
DIRECT, SEARCH, SOCIAL, CAMPAIGN, WEBSITE = REFERRER_TYPES  # unpacking fails loudly if the schema changes
MAX_FIELD = 255  # campaign values and keywords, as Matomo caps them

# Matomo's parameter names, its own before Google Analytics'; the first non-empty value wins.
# Values are lower-cased, as Matomo does for campaign names and keywords, so "Spring" and "spring"
# are one campaign; we do it for every field, so sources and media group the same way.
CAMPAIGN_PARAMS: dict[str, tuple[str, ...]] = {
    "name": ("mtm_campaign", "matomo_campaign", "pk_campaign", "piwik_campaign", "pk_cpn", "utm_campaign"),
    "source": ("mtm_source", "pk_source", "utm_source"),
    "medium": ("mtm_medium", "pk_medium", "utm_medium"),
    "term": ("mtm_keyword", "mtm_kwd", "matomo_kwd", "pk_keyword", "pk_kwd", "piwik_kwd", "utm_term"),
    "content": ("mtm_content", "pk_content", "utm_content"),
}
_PARAM_FIELD = {param: field for field, params in CAMPAIGN_PARAMS.items() for param in params}
_RANK = {param: rank for params in CAMPAIGN_PARAMS.values() for rank, param in enumerate(params)}

# (name, hosts, keyword parameters). A host matches itself and its subdomains; "google.*" is the
# label google followed by a country ending (google.de, google.co.uk, google.com.hk). Most engines
# no longer send the query: the keyword is then "".
SEARCH_ENGINES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Google", ("google.*",), ("q",)),
    ("Bing", ("bing.com",), ("q",)),
    ("Yahoo", ("search.yahoo.com",), ("p",)),
    ("Yahoo Japan", ("search.yahoo.co.jp",), ("p",)),
    ("DuckDuckGo", ("duckduckgo.com",), ("q",)),
    ("Yandex", ("yandex.*", "ya.ru"), ("text",)),
    ("Baidu", ("baidu.com",), ("wd", "word", "kw")),
    ("Sogou", ("sogou.com",), ("query", "keyword")),
    ("360 Search", ("so.com", "haosou.com"), ("q",)),
    ("Shenma", ("sm.cn",), ("q",)),
    ("Toutiao Search", ("so.toutiao.com",), ("keyword",)),
    ("Ecosia", ("ecosia.org",), ("q",)),
    ("Qwant", ("qwant.com",), ("q",)),
    ("Naver", ("search.naver.com",), ("query",)),
    ("Daum", ("search.daum.net",), ("q",)),
    ("Seznam", ("seznam.cz",), ("q",)),
    ("Startpage", ("startpage.com",), ("query", "q")),
    ("Brave Search", ("search.brave.com",), ("q",)),
    ("Ask", ("ask.com",), ("q",)),
    ("Mojeek", ("mojeek.com",), ("q",)),
    ("Kagi", ("kagi.com",), ("q",)),
    ("Petal Search", ("petalsearch.com",), ("query",)),
)
SOCIAL_NETWORKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Facebook", ("facebook.com", "fb.com", "fb.me", "messenger.com")),  # l., lm., m. are subdomains
    ("Instagram", ("instagram.com",)),
    ("X", ("x.com", "twitter.com", "t.co")),
    ("LinkedIn", ("linkedin.com", "lnkd.in")),
    ("Reddit", ("reddit.com", "redd.it")),
    ("YouTube", ("youtube.com", "youtu.be")),
    ("TikTok", ("tiktok.com",)),
    ("Pinterest", ("pinterest.*", "pin.it")),
    ("Threads", ("threads.net", "threads.com")),
    ("Bluesky", ("bsky.app",)),
    ("Tumblr", ("tumblr.com",)),
    ("Quora", ("quora.com",)),
    ("Discord", ("discord.com",)),
    ("Snapchat", ("snapchat.com",)),
    ("VK", ("vk.com", "vk.ru")),
    ("Odnoklassniki", ("ok.ru",)),
    ("Telegram", ("t.me", "telegram.org", "telegram.me")),
    ("WhatsApp", ("whatsapp.com", "wa.me")),
    ("LINE", ("line.me",)),
    ("XING", ("xing.com",)),
    ("Hacker News", ("news.ycombinator.com",)),
    ("WeChat", ("weixin.qq.com", "wx.qq.com")),  # mp.weixin.qq.com: official-account articles
    ("Weibo", ("weibo.com", "weibo.cn", "t.cn")),
    ("Douyin", ("douyin.com", "iesdouyin.com")),
    ("Xiaohongshu", ("xiaohongshu.com", "xhslink.com")),
    ("Zhihu", ("zhihu.com",)),
    ("Bilibili", ("bilibili.com", "b23.tv")),
    ("Douban", ("douban.com",)),
    ("Baidu Tieba", ("tieba.baidu.com",)),  # longer than baidu.com, so found first
    ("Toutiao", ("toutiao.com",)),
)
# Hosts under a search engine's name that are not search: the referrer is then a website.
NOT_SEARCH = ("mail.google.com", "docs.google.com", "drive.google.com", "sites.google.com",
              "groups.google.com", "accounts.google.com", "calendar.google.com", "meet.google.com",
              "mail.yandex.ru", "mail.yandex.com", "map.baidu.com", "pan.baidu.com")
# android-app://PACKAGE referrers: known apps get their network's class; others are websites named
# after the package, which is what a site owner can look up.
APPS: dict[str, tuple[str, str]] = {
    "com.google.android.googlequicksearchbox": (SEARCH, "Google"),
    "com.baidu.searchbox": (SEARCH, "Baidu"),
    "com.facebook.katana": (SOCIAL, "Facebook"), "com.facebook.orca": (SOCIAL, "Facebook"),
    "com.instagram.android": (SOCIAL, "Instagram"), "com.twitter.android": (SOCIAL, "X"),
    "com.linkedin.android": (SOCIAL, "LinkedIn"), "com.reddit.frontpage": (SOCIAL, "Reddit"),
    "com.google.android.youtube": (SOCIAL, "YouTube"), "com.zhiliaoapp.musically": (SOCIAL, "TikTok"),
    "com.pinterest": (SOCIAL, "Pinterest"), "org.telegram.messenger": (SOCIAL, "Telegram"),
    "com.whatsapp": (SOCIAL, "WhatsApp"), "jp.naver.line.android": (SOCIAL, "LINE"),
    "com.tencent.mm": (SOCIAL, "WeChat"), "com.sina.weibo": (SOCIAL, "Weibo"),
    "com.ss.android.ugc.aweme": (SOCIAL, "Douyin"), "com.xingin.xhs": (SOCIAL, "Xiaohongshu"),
    "com.zhihu.android": (SOCIAL, "Zhihu"), "tv.danmaku.bili": (SOCIAL, "Bilibili"),
    "com.ss.android.article.news": (SOCIAL, "Toutiao"),
}
_APP_SCHEMES = ("android-app", "ios-app")


@dataclass(frozen=True, slots=True)
class Source:
    type: str
    name: str
    keyword_params: tuple[str, ...] = ()


def _index() -> tuple[dict[str, Source], dict[str, Source]]:
    """The tables as two dicts: by host suffix, and by brand label ("google" for google.*)."""
    by_host: dict[str, Source] = dict.fromkeys(NOT_SEARCH, Source(WEBSITE, ""))
    by_brand: dict[str, Source] = {}
    entries = [(Source(SEARCH, name, params), hosts) for name, hosts, params in SEARCH_ENGINES]
    entries += [(Source(SOCIAL, name), hosts) for name, hosts in SOCIAL_NETWORKS]
    for source, hosts in entries:
        for host in hosts:
            table = by_brand if host.endswith(".*") else by_host
            assert host.removesuffix(".*") not in table, f"{host} listed twice"
            table[host.removesuffix(".*")] = source
    return by_host, by_brand


_BY_HOST, _BY_BRAND = _index()
_SECOND_LEVEL = frozenset(("com", "co", "org", "net", "ac", "or", "ne", "gov", "edu"))


@dataclass(frozen=True, slots=True)
class Campaign:
    source: str = ""
    medium: str = ""
    name: str = ""
    term: str = ""
    content: str = ""


@dataclass(frozen=True, slots=True)
class Referrer:
    """``name``: the search engine, network or campaign source, or for a website its host without www."""

    type: str
    host: str = ""
    path: str = ""
    name: str = ""
    keyword: str = ""


def campaign_from_params(params: Sequence[tuple[str, str]]) -> Campaign | None:
    """The campaign a page URL's parameters name, or None. A name or a source makes a campaign (Matomo
    also counts utm_source alone); a medium, term or content alone does not."""
    found: dict[str, tuple[int, str]] = {}
    for raw_name, raw_value in params:
        name = raw_name.lower()
        field = _PARAM_FIELD.get(name)
        value = raw_value.strip().lower()[:MAX_FIELD]
        if field is None or not value:
            continue
        if field not in found or _RANK[name] < found[field][0]:
            found[field] = (_RANK[name], value)
    if "name" not in found and "source" not in found:
        return None
    return Campaign(**{field: value for field, (_, value) in found.items()})


def classify(referrer: ScrubbedUrl | None, *, page_host: str, campaign: Campaign | None = None,
             site_hosts: Collection[str] = ()) -> Referrer:
    """The class of a hit's origin. ``site_hosts`` are more hosts of the same site (an alias domain,
    "*.example.com" for every subdomain); the page's own host, with or without www., always counts.

    A campaign's name is its source (utm_source, mtm_source, pk_source), as Plausible shows it: the
    campaign's own name is kept apart (``Campaign.name``, the campaigns report). A campaign without a
    source is named as its referrer would be without it (Google, a website's host; "" for none or an
    internal one). Its term is the keyword."""
    host = _bare(referrer.host) if referrer is not None else ""
    path = referrer.path if referrer is not None and host else ""
    shown = referrer.host if referrer is not None and host else ""
    if campaign is not None:
        name = campaign.source or classify(referrer, page_host=page_host, site_hosts=site_hosts).name
        return Referrer(CAMPAIGN, shown, path, name, campaign.term)
    if referrer is None or not host or _internal(host, page_host, site_hosts):
        return Referrer(DIRECT)
    if referrer.scheme in _APP_SCHEMES:
        kind, name = APPS.get(host, (WEBSITE, host))
        return Referrer(kind, shown, "", name)
    source = lookup(host)
    if source is None or source.type == WEBSITE:
        return Referrer(WEBSITE, shown, path, host.removeprefix("www."))
    keyword = next((value.strip().lower()[:MAX_FIELD] for name, value in referrer.params
                    if name in source.keyword_params and value.strip()), "")
    return Referrer(source.type, shown, path, source.name, keyword)


def lookup(host: str) -> Source | None:
    """The search engine or social network a host belongs to, longest known suffix first."""
    labels = host.split(".")
    for i in range(len(labels) - 1):
        found = _BY_HOST.get(".".join(labels[i:]))
        if found is not None:
            return found
        brand = _BY_BRAND.get(labels[i])
        if brand is not None and _country_ending(labels[i + 1:]):
            return brand
    return None


def _country_ending(tail: list[str]) -> bool:
    """de, com, cn; co.uk, com.hk: what may follow a brand label. Not evil.com (google.evil.com)."""
    if len(tail) == 1:
        return len(tail[0]) == 2 or tail[0] in ("com", "net", "org")
    return len(tail) == 2 and tail[0] in _SECOND_LEVEL and len(tail[1]) == 2


def _bare(host: str) -> str:
    """Lower case, without port or trailing dot; an IPv6 literal keeps its brackets."""
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0].rstrip(".").lower()


def _internal(host: str, page_host: str, site_hosts: Collection[str]) -> bool:
    site = host.removeprefix("www.")
    if site == _bare(page_host).removeprefix("www."):
        return True
    for other in site_hosts:
        other = _bare(other)
        if other.startswith("*.") and (site.endswith(other[1:]) or site == other[2:]):
            return True
        if site == other.removeprefix("www."):
            return True
    return False
