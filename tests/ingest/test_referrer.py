"""Tests for gateway.ingest.referrer: campaign parameters and referrer classification, table-driven."""

from __future__ import annotations

import pytest

from gateway.ingest import referrer as ref
from gateway.ingest.referrer import Campaign, Referrer, campaign_from_params, classify, lookup
from gateway.ingest.scrub import Scrubber
from gateway.storage import schema

SCRUB = Scrubber()
PAGE = "www.example.com"


def params(query: str) -> tuple[tuple[str, str], ...]:
    return SCRUB.url(f"https://www.example.com/landing?{query}").params


CAMPAIGN_CASES: list[tuple[str, str, Campaign | None]] = [
    # (id, page query, campaign)
    ("utm-all", "utm_source=Newsletter&utm_medium=Email&utm_campaign=Spring_Sale&utm_term=Brake+Pads"
                "&utm_content=Top-Banner",
     Campaign("newsletter", "email", "spring_sale", "brake pads", "top-banner")),
    ("mtm-all", "mtm_campaign=Easter&mtm_source=google&mtm_medium=cpc&mtm_keyword=disc&mtm_content=ad1"
                "&mtm_cid=123&mtm_group=customers&mtm_placement=footer",
     Campaign("google", "cpc", "easter", "disc", "ad1")),
    ("mtm-kwd", "mtm_campaign=x&mtm_kwd=pads", Campaign(name="x", term="pads")),
    ("pk", "pk_campaign=Adwords-CPC&pk_kwd=Brakes&pk_source=g&pk_medium=cpc&pk_content=c",
     Campaign("g", "cpc", "adwords-cpc", "brakes", "c")),
    ("pk-short", "pk_cpn=Winter&pk_keyword=tyres", Campaign(name="winter", term="tyres")),
    ("matomo", "matomo_campaign=Mail&matomo_kwd=K", Campaign(name="mail", term="k")),
    ("piwik", "piwik_campaign=Old&piwik_kwd=Kw", Campaign(name="old", term="kw")),
    ("names-any-case", "UTM_Campaign=Spring&Utm_Source=FB", Campaign(source="fb", name="spring")),
    ("matomo-before-utm", "utm_campaign=ga-name&mtm_campaign=mtm-name&pk_campaign=pk-name",
     Campaign(name="mtm-name")),
    ("pk-before-utm", "utm_campaign=ga&pk_campaign=pk", Campaign(name="pk")),
    ("source-alone", "utm_source=partner-site", Campaign(source="partner-site")),
    ("cjk-name", "utm_campaign=%E5%8F%8C%E5%8D%81%E4%B8%80&utm_source=wechat",
     Campaign("wechat", "", "双十一")),
    ("empty-skipped", "mtm_campaign=&utm_campaign=Real", Campaign(name="real")),
    ("pii-scrubbed", "utm_campaign=Spring&utm_term=13812345678", Campaign(name="spring", term="[phone]")),
    ("medium-alone", "utm_medium=email", None),
    ("content-alone", "utm_content=x&utm_term=y", None),
    ("blank", "utm_campaign=+++&utm_source=", None),
    ("none", "page=2&q=brakes", None),
    ("no-query", "", None),
]


@pytest.mark.parametrize(("query", "expected"), [c[1:] for c in CAMPAIGN_CASES],
                         ids=[c[0] for c in CAMPAIGN_CASES])
def test_campaign_from_params(query: str, expected: Campaign | None) -> None:
    assert campaign_from_params(params(query)) == expected


def test_campaign_values_are_capped() -> None:
    campaign = campaign_from_params([("utm_campaign", "x" * 1000)])
    assert campaign is not None and len(campaign.name) == ref.MAX_FIELD


def search(host: str, path: str, name: str, keyword: str = "") -> Referrer:
    return Referrer("search", host, path, name, keyword)


def social(host: str, path: str, name: str) -> Referrer:
    return Referrer("social", host, path, name)


def website(host: str, path: str, name: str) -> Referrer:
    return Referrer("website", host, path, name)


CLASSIFY_CASES: list[tuple[str, str | None, Referrer]] = [
    # (id, referrer URL, expected) for a page on www.example.com without campaign
    ("none", None, Referrer("direct")),
    ("empty", "", Referrer("direct")),
    ("same-host", "https://www.example.com/products?id=1", Referrer("direct")),
    ("same-site-no-www", "https://example.com/", Referrer("direct")),
    ("same-host-other-port-case", "http://WWW.EXAMPLE.COM:8080/x", Referrer("direct")),
    ("about-blank", "about:blank", Referrer("direct")),
    ("garbage", "not a url", Referrer("direct")),
    ("google", "https://www.google.com/", search("www.google.com", "/", "Google")),
    ("google-keyword", "https://www.google.de/search?q=Brake+Pads&hl=de",
     search("www.google.de", "/search", "Google", "brake pads")),
    ("google-co-uk", "https://www.google.co.uk/", search("www.google.co.uk", "/", "Google")),
    ("google-com-hk", "https://www.google.com.hk/", search("www.google.com.hk", "/", "Google")),
    ("google-images", "https://images.google.fr/", search("images.google.fr", "/", "Google")),
    ("google-cn", "https://google.cn/", search("google.cn", "/", "Google")),
    ("gmail-is-website", "https://mail.google.com/mail/u/0/",
     website("mail.google.com", "/mail/u/0/", "mail.google.com")),
    ("evilgoogle", "https://evilgoogle.com/", website("evilgoogle.com", "/", "evilgoogle.com")),
    ("google-dot-evil", "https://google.evil.com/", website("google.evil.com", "/", "google.evil.com")),
    ("google-com-evil", "https://www.google.com.evil.com/",
     website("www.google.com.evil.com", "/", "google.com.evil.com")),
    ("bing", "https://www.bing.com/search?q=disc", search("www.bing.com", "/search", "Bing", "disc")),
    ("bing-cn", "https://cn.bing.com/", search("cn.bing.com", "/", "Bing")),
    ("yandex", "https://yandex.ru/search/?text=%D1%82%D0%BE%D1%80%D0%BC%D0%BE%D0%B7",
     search("yandex.ru", "/search/", "Yandex", "тормоз")),
    ("yandex-com-tr", "https://yandex.com.tr/", search("yandex.com.tr", "/", "Yandex")),
    ("duckduckgo", "https://duckduckgo.com/", search("duckduckgo.com", "/", "DuckDuckGo")),
    ("yahoo", "https://uk.search.yahoo.com/search?p=pads",
     search("uk.search.yahoo.com", "/search", "Yahoo", "pads")),
    ("yahoo-japan", "https://search.yahoo.co.jp/search?p=%E8%BB%8A",
     search("search.yahoo.co.jp", "/search", "Yahoo Japan", "車")),
    ("ecosia", "https://www.ecosia.org/search?q=x", search("www.ecosia.org", "/search", "Ecosia", "x")),
    ("qwant", "https://www.qwant.com/?q=y", search("www.qwant.com", "/", "Qwant", "y")),
    ("naver", "https://search.naver.com/search.naver?query=z",
     search("search.naver.com", "/search.naver", "Naver", "z")),
    ("seznam", "https://search.seznam.cz/?q=brzdy", search("search.seznam.cz", "/", "Seznam", "brzdy")),
    ("startpage", "https://www.startpage.com/", search("www.startpage.com", "/", "Startpage")),
    ("brave", "https://search.brave.com/search?q=b",
     search("search.brave.com", "/search", "Brave Search", "b")),
    # Chinese sites
    ("baidu-wd", "https://www.baidu.com/s?wd=%E6%B1%BD%E8%BD%A6%E9%85%8D%E4%BB%B6&ie=utf-8",
     search("www.baidu.com", "/s", "Baidu", "汽车配件")),
    ("baidu-mobile-word", "https://m.baidu.com/s?word=%E5%88%B9%E8%BD%A6%E7%89%87",
     search("m.baidu.com", "/s", "Baidu", "刹车片")),
    ("baidu-no-keyword", "https://www.baidu.com/link?url=abc", search("www.baidu.com", "/link", "Baidu")),
    ("baidu-phone-keyword", "https://www.baidu.com/s?wd=13812345678",
     search("www.baidu.com", "/s", "Baidu", "[phone]")),
    ("baidu-tieba-social", "https://tieba.baidu.com/p/123",
     social("tieba.baidu.com", "/p/123", "Baidu Tieba")),
    ("sogou", "https://www.sogou.com/web?query=%E8%BD%AE%E8%83%8E",
     search("www.sogou.com", "/web", "Sogou", "轮胎")),
    ("sogou-keyword", "https://m.sogou.com/web/searchList.jsp?keyword=abc",
     search("m.sogou.com", "/web/searchList.jsp", "Sogou", "abc")),
    ("so-com", "https://www.so.com/s?q=%E6%9C%BA%E6%B2%B9", search("www.so.com", "/s", "360 Search", "机油")),
    ("sm-cn", "https://m.sm.cn/s?q=%E9%9B%A8%E5%88%AE", search("m.sm.cn", "/s", "Shenma", "雨刮")),
    ("toutiao-search", "https://so.toutiao.com/search?keyword=x",
     search("so.toutiao.com", "/search", "Toutiao Search", "x")),
    ("toutiao", "https://www.toutiao.com/article/1/", social("www.toutiao.com", "/article/1/", "Toutiao")),
    ("wechat-article", "https://mp.weixin.qq.com/s/AbCdEf",
     social("mp.weixin.qq.com", "/s/AbCdEf", "WeChat")),
    ("qq-is-website", "https://www.qq.com/", website("www.qq.com", "/", "qq.com")),
    ("weibo", "https://weibo.com/u/123", social("weibo.com", "/u/123", "Weibo")),
    ("weibo-cn", "https://m.weibo.cn/status/1", social("m.weibo.cn", "/status/1", "Weibo")),
    ("douyin", "https://www.douyin.com/video/1", social("www.douyin.com", "/video/1", "Douyin")),
    ("xiaohongshu", "https://www.xiaohongshu.com/explore/1",
     social("www.xiaohongshu.com", "/explore/1", "Xiaohongshu")),
    ("zhihu", "https://zhuanlan.zhihu.com/p/1", social("zhuanlan.zhihu.com", "/p/1", "Zhihu")),
    ("bilibili", "https://www.bilibili.com/video/BV1", social("www.bilibili.com", "/video/BV1", "Bilibili")),
    # other social networks
    ("facebook-l", "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.example.com%2F&h=AT0",
     social("l.facebook.com", "/l.php", "Facebook")),
    ("facebook-m", "https://m.facebook.com/", social("m.facebook.com", "/", "Facebook")),
    ("instagram", "https://l.instagram.com/", social("l.instagram.com", "/", "Instagram")),
    ("t-co", "https://t.co/AbC123", social("t.co", "/AbC123", "X")),
    ("twitter", "https://twitter.com/", social("twitter.com", "/", "X")),
    ("x", "https://x.com/", social("x.com", "/", "X")),
    ("linkedin", "https://www.linkedin.com/feed/", social("www.linkedin.com", "/feed/", "LinkedIn")),
    ("lnkd", "https://lnkd.in/abc", social("lnkd.in", "/abc", "LinkedIn")),
    ("reddit-old", "https://old.reddit.com/r/cars/", social("old.reddit.com", "/r/cars/", "Reddit")),
    ("youtube", "https://m.youtube.com/", social("m.youtube.com", "/", "YouTube")),
    ("tiktok", "https://www.tiktok.com/", social("www.tiktok.com", "/", "TikTok")),
    ("pinterest-de", "https://www.pinterest.de/pin/1/", social("www.pinterest.de", "/pin/1/", "Pinterest")),
    ("vk", "https://vk.com/", social("vk.com", "/", "VK")),
    ("telegram", "https://t.me/channel", social("t.me", "/channel", "Telegram")),
    ("whatsapp", "https://web.whatsapp.com/", social("web.whatsapp.com", "/", "WhatsApp")),
    ("hacker-news", "https://news.ycombinator.com/item?id=1",
     social("news.ycombinator.com", "/item", "Hacker News")),
    ("ycombinator-is-website", "https://www.ycombinator.com/",
     website("www.ycombinator.com", "/", "ycombinator.com")),
    # websites
    ("website", "https://blog.partner.org/review?id=7#c",
     website("blog.partner.org", "/review", "blog.partner.org")),
    ("website-www", "https://www.partner.org/", website("www.partner.org", "/", "partner.org")),
    ("website-port", "http://partner.org:8080/x", website("partner.org:8080", "/x", "partner.org")),
    ("website-path-scrubbed", "https://forum.example.net/u/john@example.com",
     website("forum.example.net", "/u/[email]", "forum.example.net")),
    ("other-subdomain-is-website", "https://shop.example.com/",
     website("shop.example.com", "/", "shop.example.com")),
    # apps
    ("app-gmail", "android-app://com.google.android.gm",
     website("com.google.android.gm", "", "com.google.android.gm")),
    ("app-google", "android-app://com.google.android.googlequicksearchbox/https/www.google.com",
     search("com.google.android.googlequicksearchbox", "", "Google")),
    ("app-wechat", "android-app://com.tencent.mm", social("com.tencent.mm", "", "WeChat")),
    ("app-facebook", "android-app://com.facebook.katana/", social("com.facebook.katana", "", "Facebook")),
]


@pytest.mark.parametrize(("url", "expected"), [c[1:] for c in CLASSIFY_CASES],
                         ids=[c[0] for c in CLASSIFY_CASES])
def test_classify(url: str | None, expected: Referrer) -> None:
    referrer = None if url is None else SCRUB.url(url)
    assert classify(referrer, page_host=PAGE, campaign=None) == expected


def test_campaign_wins_over_everything_and_is_named_by_its_source() -> None:
    # utm_source=newsletter&utm_campaign=spring: the source is "newsletter", not the campaign's name
    campaign = Campaign(source="newsletter", medium="email", name="spring", term="pads")
    google = SCRUB.url("https://www.google.com/search?q=x")
    internal = SCRUB.url("https://www.example.com/")
    assert classify(google, page_host=PAGE, campaign=campaign) == \
        Referrer("campaign", "www.google.com", "/search", "newsletter", "pads")
    assert classify(None, page_host=PAGE, campaign=campaign) == \
        Referrer("campaign", name="newsletter", keyword="pads")
    assert classify(internal, page_host=PAGE, campaign=campaign).type == "campaign"
    assert classify(None, page_host=PAGE, campaign=Campaign(source="partner")).name == "partner"


@pytest.mark.parametrize(("url", "name"), [
    ("https://www.google.com/search?q=x", "Google"),  # the search engine, as without the campaign
    ("https://l.facebook.com/", "Facebook"),
    ("https://www.blog.example.org/post", "blog.example.org"),  # a website: its host without www
    ("https://www.example.com/", ""),  # internal: direct
    (None, ""),
])
def test_a_campaign_without_a_source_is_named_by_its_referrer(url: str | None, name: str) -> None:
    referrer = None if url is None else SCRUB.url(url)
    result = classify(referrer, page_host=PAGE, campaign=Campaign(name="spring", medium="email"))
    assert result.type == "campaign" and result.name == name


@pytest.mark.parametrize(("url", "site_hosts", "expected_type"), [
    ("https://shop.example.com/", ("*.example.com",), "direct"),
    ("https://example.com/", ("*.example.com",), "direct"),
    ("https://deep.shop.example.com/", ("*.example.com",), "direct"),
    ("https://notexample.com/", ("*.example.com",), "website"),
    ("https://example.de/", ("example.de", "www.example.fr"), "direct"),
    ("https://example.fr/", ("example.de", "www.example.fr"), "direct"),
    ("https://example.it/", ("example.de",), "website"),
])
def test_site_hosts_are_internal(url: str, site_hosts: tuple[str, ...], expected_type: str) -> None:
    assert classify(SCRUB.url(url), page_host=PAGE, site_hosts=site_hosts).type == expected_type


@pytest.mark.parametrize("page_host", ["localhost:8000", "127.0.0.1:8000"])
def test_local_development_is_direct(page_host: str) -> None:
    scrubbed_host = SCRUB.url(f"http://{page_host}/").host  # the pipeline compares scrubbed hosts
    assert classify(SCRUB.url(f"http://{page_host}/a"), page_host=scrubbed_host).type == "direct"


@pytest.mark.parametrize("url", [
    "", "::::", "http://", "http://[", "http://[::1]/", "%", "#", "\ud800", "a" * 3000, "http://..../",
    "http://.google.com/", "http://google./", "https://com/", "https://a.b.c.d.e.f.g.h.i.j.google.com/",
    "android-app://", "ios-app://123/x", "http://xn--fsqu00a.xn--fiqs8s/", "https://例子.中国/", "http://[::1]:80/",
])
def test_garbage_never_raises(url: str) -> None:
    result = classify(SCRUB.url(url), page_host=PAGE, campaign=campaign_from_params(SCRUB.url(url).params))
    assert result.type in schema.REFERRER_TYPES


def test_tables() -> None:
    assert ref.REFERRER_TYPES == \
        schema.REFERRER_TYPES == ("direct", "search", "social", "campaign", "website")
    assert lookup("www.google.co.uk") == lookup("google.com") == ref.Source("search", "Google", ("q",))
    assert lookup("example.com") is None and lookup("") is None and lookup("com") is None
    names = [name for name, _, _ in ref.SEARCH_ENGINES] + [name for name, _ in ref.SOCIAL_NETWORKS]
    assert len(names) == len(set(names))
    assert all(kind in schema.REFERRER_TYPES for kind, _ in ref.APPS.values())
