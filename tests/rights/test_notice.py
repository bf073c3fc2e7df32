"""The generated privacy notice: it says what the configuration does, in the visitor's language.

Two sites differ in every setting the notice reports (ASN database, categories, retention, consent
lifetime, proof period, banner scope, signals); the text must follow each of them. The endpoint and
the CLI need no ClickHouse: the app is used without its lifespan, the CLI points at a dead server.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config.settings import Settings
from gateway.rights.notice import LANGUAGES, Notice, build_notice, render, to_html, to_markdown
from gateway.rights.notice_texts import NOTICE_KEYS, NOTICE_TEXTS
from tests.conftest import SettingsFactory
from tests.e2e.gateway_process import run_cli

ORIGIN = "https://shop.example.com"
# Site 3: an ASN database, three categories, long retention, asks only where opt-in law applies.
# Site 4: no ASN database (the settings are shared, so its own config file), two categories, short
# retention and lifetime, an explicit proof period, DNT honoured, GPC not a refusal.
SHOP = f"""
[[sites]]
id = 3
name = "Parts"
origins = ["{ORIGIN}"]
retention_days = 400
proof_days = 1200
consent_lifetime_days = 180
banner_scope = "opt-in-only"
[[sites.categories]]
id = "necessary"
[[sites.categories]]
id = "analytics"
label = {{ en = "Visitor statistics", zh-CN = "访客统计" }}
services = ["consent-gateway"]
[[sites.categories]]
id = "marketing"
label = {{ en = "Advertising", zh-CN = "广告" }}
description = {{ en = "Lets our ad partner measure campaigns.", zh-CN = "允许广告合作伙伴衡量推广效果。" }}
services = ["AdPartner"]
"""
BLOG = f"""
[[sites]]
id = 4
name = "Blog"
origins = ["{ORIGIN}"]
retention_days = 30
proof_days = 800
consent_lifetime_days = 60
gpc_is_refusal = false
honour_dnt = true
[[sites.categories]]
id = "necessary"
[[sites.categories]]
id = "analytics"
"""
HOSTILE = """
[[sites]]
id = 5
name = "<script>alert(1)</script> & [click](javascript:alert(1))"
origins = ["https://evil.example.com"]
[[sites.categories]]
id = "necessary"
label = { en = "<b>Needed</b>" }
[[sites.categories]]
id = "analytics"
services = ["<img src=x onerror=alert(1)>", "*bold* `code`"]
"""
NO_ANALYTICS = """
[[sites]]
id = 6
name = "Static"
origins = ["https://static.example.com"]
[[sites.categories]]
id = "necessary"
"""
WORDS = {  # what each language calls a few things the configuration switches on and off
    "en": {"isp": "Internet provider", "days": "{} days", "dnt": "Do Not Track",
           "gpc": "Global Privacy Control"},
    "zh-CN": {"isp": "网络运营商", "days": "{} 天", "dnt": "请勿跟踪", "gpc": "全球隐私控制"},
}


@pytest.fixture
def shop(make_settings: SettingsFactory, tmp_path: Path) -> Settings:
    env = {"GATEWAY_GEOIP_ASN_DB": str(tmp_path / "asn.mmdb"), "GATEWAY_SECRET_KEYS": "k" * 40}
    return make_settings(env, toml=SHOP)


@pytest.fixture
def blog(make_settings: SettingsFactory) -> Settings:
    return make_settings({"GATEWAY_SECRET_KEYS": "k" * 40}, toml=BLOG)


def notice(settings: Settings, site_id: int, language: str) -> Notice:
    site = settings.site(site_id)
    assert site is not None
    return build_notice(site, settings, language)


def section(text_notice: Notice, part: str) -> str:
    found = next(s for s in text_notice.sections if s.id == part)
    return "\n".join([*found.paragraphs, *(f"{i.label}: {i.text}" for i in found.items)])


def test_every_language_has_every_key_and_the_same_fields() -> None:
    assert LANGUAGES == ("en", "de", "fr", "es", "zh-CN")
    for language, texts in NOTICE_TEXTS.items():
        assert tuple(texts) == NOTICE_KEYS, language
        for key, template in texts.items():
            english = NOTICE_TEXTS["en"][key]
            assert type(template) is type(english), (language, key)
            fields = {part.split("}")[0] for part in str(template).split("{")[1:]}
            assert fields == {part.split("}")[0] for part in str(english).split("{")[1:]}, (language, key)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_notice_says_what_each_configuration_does(shop: Settings, blog: Settings, language: str) -> None:
    words = WORDS[language]
    big, small = notice(shop, 3, language), notice(blog, 4, language)
    assert (big.facts.isp, small.facts.isp) == (True, False)
    assert words["isp"] in section(big, "collected") and words["isp"] not in section(small, "collected")

    for text_notice, retention, lifetime, proof in ((big, 400, 180, 1200), (small, 30, 60, 800)):
        retained = section(text_notice, "retention")
        for days in (retention, lifetime, proof):
            assert words["days"].format(days) in retained
        assert f"cg_consent_{text_notice.site_id}" in retained

    purposes_big, purposes_small = section(big, "purposes"), section(small, "purposes")
    advertising = "Advertising" if language == "en" else "广告"
    assert advertising in purposes_big and "AdPartner" in purposes_big and advertising not in purposes_small
    statistics = "Visitor statistics" if language == "en" else "访客统计"
    assert statistics in section(big, "collected")  # the site's own label, as the banner shows it
    assert big.facts.categories == ("necessary", "analytics", "marketing")
    assert small.facts.categories == ("necessary", "analytics")
    # Only the site that asks only where opt-in law applies says analytics may be on without a banner.
    assert statistics in purposes_big.split("\n")[1] and len(purposes_small.split("\n")) == 3
    assert big.facts.default_on_without_banner == ("analytics",)

    rights_big, rights_small = section(big, "rights"), section(small, "rights")
    assert words["gpc"] in rights_big and words["dnt"] not in rights_big
    assert words["dnt"] in rights_small and words["gpc"] not in rights_small
    for rights in (rights_big, rights_small):
        assert ("Download my data" if language == "en" else "下载我的数据") in rights
        assert ("Erase my data" if language == "en" else "删除我的数据") in rights
    for text_notice in (big, small):
        text = to_markdown(text_notice)
        assert ("IP address" if language == "en" else "IP 地址") in section(text_notice, "never-stored")
        assert ("GDPR Art. 7(1)" if language == "en" else "GDPR 第 7 条第 1 款") in text
        assert text_notice.language == language and text_notice.dir == "ltr"
    if language == "zh-CN":
        assert "统计分析与 Cookie 同意" in to_markdown(big) and "days" not in to_markdown(big)


def test_changing_one_setting_changes_its_line_and_nothing_else(make_settings: SettingsFactory) -> None:
    before = make_settings({"GATEWAY_SECRET_KEYS": "k" * 40}, toml=BLOG)
    after = make_settings({"GATEWAY_SECRET_KEYS": "k" * 40}, toml=BLOG.replace("retention_days = 30",
                                                                                "retention_days = 90"))
    old, new = to_markdown(notice(before, 4, "en")), to_markdown(notice(after, 4, "en"))
    changed = [line for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line[:1] in "+-"]
    assert changed == ["- - **Analytics data**: 30 days from the day it was recorded; then it is deleted "
                       "automatically.",
                       "+ - **Analytics data**: 90 days from the day it was recorded; then it is deleted "
                       "automatically."]


def test_configuration_text_is_escaped_in_html_and_markdown(make_settings: SettingsFactory) -> None:
    settings = make_settings({"GATEWAY_SECRET_KEYS": "k" * 40}, toml=HOSTILE)
    hostile = notice(settings, 5, "en")
    html = to_html(hostile)
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; [click](javascript:alert(1))" in html
    assert "<strong>&lt;b&gt;Needed&lt;/b&gt;</strong>" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    markdown = to_markdown(hostile)
    assert r"\<script\>alert(1)\</script\> \& \[click\](javascript:alert(1))" in markdown
    assert r"\<img src=x onerror=alert(1)\>, \*bold\* \`code\`" in markdown
    assert "<" not in markdown.replace("\\<", "")  # no raw HTML reaches a Markdown renderer
    document = json.loads(render(hostile, "json"))
    assert document["site_name"].startswith("<script>")  # JSON carries the raw text; its reader escapes


def test_a_site_without_an_analytics_category_records_nothing(make_settings: SettingsFactory) -> None:
    settings = make_settings({"GATEWAY_SECRET_KEYS": "k" * 40}, toml=NO_ANALYTICS)
    static = notice(settings, 6, "en")
    assert section(static, "collected") == "This site's banner has no analytics category, so no analytics " \
                                           "data is recorded."
    assert "Object" not in section(static, "rights") and static.facts.analytics is False


def app_client(settings: Settings) -> TestClient:
    # No lifespan (no ``with``): the notice needs neither ClickHouse nor the writer.
    return TestClient(create_app(settings), base_url="http://stats.example.com")


def test_the_endpoint_serves_html_markdown_and_json(shop: Settings) -> None:
    client = app_client(shop)
    page = client.get("/privacy?site=3")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text.startswith('<section class="privacy-notice" lang="en" dir="ltr" data-site="3"')
    assert page.headers["content-language"] == "en" and page.headers["cache-control"] == "public, max-age=300"
    assert "Internet provider" in page.text

    markdown = client.get("/privacy?site=3&lang=zh-CN&format=md")
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert markdown.text.startswith("## 统计分析与 Cookie 同意\n") and "400 天" in markdown.text
    assert client.get("/privacy?site=3", headers={"Accept": "text/markdown"}).text.startswith("## ")

    document = client.get("/privacy?site=3&format=json").json()
    assert document["facts"]["retention_days"] == 400 and document["facts"]["isp"] is True
    assert [s["id"] for s in document["sections"]] == ["collected", "never-stored", "purposes", "retention",
                                                       "recipients", "rights"]
    bad = client.get("/privacy?site=3&format=pdf")
    assert bad.status_code == 400 and "format" in bad.json()["error"]


@pytest.mark.parametrize(("query", "accept_language", "expected"), [
    ("lang=zh-CN", "", "zh-CN"),
    ("lang=de-AT", "", "de"),
    ("lang=xx", "fr-CH, en;q=0.5", "fr"),  # unknown: the browser's languages next, as for the banner
    ("lang=zh-TW", "", "en"),  # Traditional Chinese readers get English, not Simplified Chinese
    ("", "es", "es"),
    ("lang=xx", "", "en"),
])
def test_the_endpoint_picks_the_language_like_the_banner(shop: Settings, query: str, accept_language: str,
                                                         expected: str) -> None:
    answer = app_client(shop).get(f"/privacy?site=3&{query}", headers={"Accept-Language": accept_language})
    assert answer.status_code == 200 and answer.headers["content-language"] == expected
    assert f'lang="{expected}"' in answer.text


def test_the_endpoint_errors_cors_and_revalidation(shop: Settings) -> None:
    client = app_client(shop)
    missing = client.get("/privacy?site=9")
    assert missing.status_code == 404 and missing.json() == {"error": "unknown site 9"}
    assert client.get("/privacy?site=abc").status_code == 400

    allowed = client.get("/privacy?site=3", headers={"Origin": ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in allowed.headers["vary"] and "Accept-Language" in allowed.headers["vary"]
    foreign = client.get("/privacy?site=3", headers={"Origin": "https://elsewhere.example"})
    assert foreign.status_code == 200 and "access-control-allow-origin" not in foreign.headers
    preflight = client.options("/privacy?site=3", headers={"Origin": ORIGIN,
                                                           "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-methods"] == "GET, OPTIONS"

    etag = allowed.headers["etag"]
    again = client.get("/privacy?site=3", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/privacy?site=3&lang=de").headers["etag"] != etag


def test_the_cli_prints_the_notice_without_clickhouse(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(SHOP + BLOG, encoding="utf-8")
    env = {"GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_CONFIG": str(config),
           "GATEWAY_CLICKHOUSE_URL": "http://default:@127.0.0.1:9/gw",  # nothing listens there
           "GATEWAY_GEOIP_ASN_DB": str(tmp_path / "asn.mmdb")}
    chinese = run_cli(["privacy-notice", "--site", "3", "--lang", "zh-CN"], env)
    assert chinese.returncode == 0, chinese.stderr
    assert chinese.stdout.startswith("## 统计分析与 Cookie 同意\n") and "网络运营商" in chinese.stdout
    assert "保存 400 天" in chinese.stdout and "保存 1200 天" in chinese.stdout

    blog = run_cli(["privacy-notice", "--site", "4", "--lang", "en", "--format", "html"], env)
    assert blog.returncode == 0, blog.stderr
    assert blog.stdout.startswith('<section class="privacy-notice" lang="en"') and "30 days" in blog.stdout

    unknown_site = run_cli(["privacy-notice", "--site", "9"], env)
    assert unknown_site.returncode == 2 and "no site 9 (configured: 3, 4)" in unknown_site.stderr
    unknown_language = run_cli(["privacy-notice", "--site", "3", "--lang", "ja"], env)
    assert unknown_language.returncode == 2 and "en, de, fr, es, zh-CN" in unknown_language.stderr
