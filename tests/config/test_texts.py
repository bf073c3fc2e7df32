"""The banner's wording: built-in languages, site overrides, language choice and right-to-left."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config.consent import ConsentPolicy
from gateway.config.settings import ConfigError
from gateway.config.texts import DEFAULT_TEXTS, LATER_KEYS, TEXT_KEYS, accept_language, best_language
from tests.conftest import SettingsFactory

ORIGIN = "https://shop.example.com"
ARABIC = {key: f"نص {index}" for index, key in enumerate(TEXT_KEYS)} | {"title": "نحن نحترم خصوصيتك"}
SITE = f"""
[[sites]]
id = 5
name = "Parts"
origins = ["{ORIGIN}"]
policy_version = "p1"
{{extra}}
[sites.banner]
privacy_policy_url = {{ en = "https://shop.example.com/privacy", de = "/datenschutz" }}
[sites.banner.texts.de]
title = "Ihre Privatsphäre ist uns wichtig"
[sites.banner.texts.ar]
{"".join(f'{key} = "{text}"{chr(10)}' for key, text in ARABIC.items())}
[[sites.categories]]
id = "necessary"
[[sites.categories]]
id = "analytics"
[[sites.categories]]
id = "maps"
label = {{ en = "Maps", de = "Karten" }}
services = ["OpenStreetMap"]
"""


@pytest.fixture
def client(make_settings: SettingsFactory, clickhouse_url: str, city_db: Path) -> Iterator[TestClient]:
    settings = make_settings(
        {"GATEWAY_CLICKHOUSE_URL": clickhouse_url, "GATEWAY_GEOIP_CITY_DB": str(city_db)},
        toml=SITE.replace("{extra}", ""),
    )
    with TestClient(create_app(settings), base_url="http://stats.example.com") as client:
        yield client


def banner(client: TestClient, query: str = "", accept: str = "") -> dict[str, object]:
    headers = {"Accept-Language": accept} if accept else {}
    body = client.get(f"/consent?site=5{query}", headers=headers).json()
    return dict(body["banner"])


def test_every_built_in_language_has_every_text() -> None:
    assert list(DEFAULT_TEXTS) == ["en", "de", "fr", "es", "zh-CN"]
    for language, texts in DEFAULT_TEXTS.items():
        assert list(texts) == list(TEXT_KEYS), language
        assert all(text.strip() for text in texts.values()), language


def test_the_page_language_wins_over_the_browser_and_english_is_the_last_resort(client: TestClient) -> None:
    assert banner(client, "&lang=fr", accept="de-DE,de;q=0.9")["language"] == "fr"
    assert banner(client, accept="es-MX,es;q=0.9,en;q=0.5")["language"] == "es"
    assert banner(client, accept="pt-BR, de;q=0.3")["language"] == "de"  # the browser's next choice
    assert banner(client, "&lang=zh-Hans-CN")["language"] == "zh-CN"
    assert banner(client, "&lang=pt")["language"] == "en"
    assert banner(client, "&lang=" + "x" * 500)["language"] == "en"


def test_site_texts_override_the_built_in_ones_and_categories_fall_back_to_english(
    client: TestClient,
) -> None:
    german = banner(client, "&lang=de")
    texts = german["texts"]
    assert isinstance(texts, dict)
    assert texts["title"] == "Ihre Privatsphäre ist uns wichtig"  # the site's
    assert texts["accept_all"] == "Alle akzeptieren"  # built in
    assert german["privacy_policy_url"] == "/datenschutz"
    labels = [(c["id"], c["label"]) for c in german["categories"]]  # type: ignore[attr-defined]
    assert labels == [("necessary", "Notwendig"), ("analytics", "Statistik"), ("maps", "Karten")]
    french = banner(client, "&lang=fr")
    assert [c["label"] for c in french["categories"]][2] == "Maps"  # type: ignore[attr-defined]
    assert french["privacy_policy_url"] == "https://shop.example.com/privacy"
    assert french["config_hash"] == german["config_hash"]  # one configuration, every language


def test_arabic_is_laid_out_right_to_left(client: TestClient) -> None:
    arabic = banner(client, "&lang=ar-EG")
    assert (arabic["language"], arabic["dir"]) == ("ar", "rtl")
    assert arabic["texts"]["title"] == "نحن نحترم خصوصيتك"  # type: ignore[index]
    assert banner(client, "&lang=en")["dir"] == "ltr"


def test_the_site_can_force_its_language(make_settings: SettingsFactory, clickhouse_url: str) -> None:
    toml = SITE.replace("{extra}", "").replace("[sites.banner]\n", '[sites.banner]\nlanguage = "zh-CN"\n')
    settings = make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url}, toml=toml)
    with TestClient(create_app(settings)) as client:
        assert banner(client, "&lang=de", accept="fr")["texts"]["title"] == "我们重视您的隐私"  # type: ignore[index]


def test_the_stored_configuration_proves_the_built_in_wording_too() -> None:
    shown = ConsentPolicy().shown("v1")
    stored = json.loads(shown.canonical)
    assert stored["texts"]["fr"]["reject_all"] == "Tout refuser"
    assert stored["categories"][1]["label"]["zh-CN"] == "统计分析"
    assert shown.pick(["de"])["config_hash"] == shown.config_hash


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ('[sites.banner.texts.en]\nheadline = "Hi"', r"texts\.en\.headline: unknown text key"),
        (
            '[sites.banner.texts.it]\ntitle = "Privacy"',
            r"texts\.it: a language without built-in texts needs every "
            r"key; missing: description",
        ),
        ('[sites.banner.texts.english]\ntitle = "Hi"', r"texts\.english: not a language tag"),
    ],
)
def test_bad_texts_stop_the_gateway_naming_the_key(
    make_settings: SettingsFactory, texts: str, message: str
) -> None:
    toml = f'[[sites]]\nid = 1\nname = "x"\norigins = ["{ORIGIN}"]\n{texts}\n'
    with pytest.raises(ConfigError, match=message):
        make_settings(toml=toml)


def test_blank_texts_and_unspoken_languages_stop_the_gateway(make_settings: SettingsFactory) -> None:
    site = f'[[sites]]\nid = 1\nname = "x"\norigins = ["{ORIGIN}"]\n'
    with pytest.raises(ConfigError, match=r"texts\.en\.reject_all: must not be blank"):
        make_settings(toml=site + '[sites.banner.texts.en]\nreject_all = "  "\n')
    with pytest.raises(ConfigError, match=r"banner\.language: no texts for 'it'"):
        make_settings(toml=site + '[sites.banner]\nlanguage = "it"\n')


def test_language_helpers() -> None:
    assert accept_language("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5") == ["fr-CH", "fr", "en", "de"]
    assert accept_language("en;q=0, de;q=bad, es") == ["es"]
    assert best_language(["EN-gb"], ["en", "de"]) == "en"
    assert best_language(["it", "de-AT"], ["en", "de"]) == "de"
    assert best_language([""], ["en"]) is None
    assert best_language(["de_DE"], ["en", "de"]) == "de"
    assert best_language(["zh-TW", "en"], ["zh-CN", "en"]) == "en"  # not Simplified for Traditional
    assert best_language(["zh-Hant-HK"], ["zh-CN"]) is None
    assert best_language(["zh-Hans-SG"], ["zh-CN"]) == "zh-CN"
    assert accept_language("fr;level=1;q=0.1, de;q=0.5") == ["de", "fr"]
    assert accept_language("de;Q=0.2, es;q=0.3, it;q=nan, pt;q=inf") == ["es", "de"]


def test_a_language_configured_before_the_data_buttons_existed_still_starts_with_them_in_english(
        make_settings: SettingsFactory, clickhouse_url: str) -> None:
    italian = {key: f"testo {index}" for index, key in enumerate(TEXT_KEYS) if key not in LATER_KEYS}
    texts = "".join(f'{key} = "{text}"\n' for key, text in italian.items())
    toml = f'[[sites]]\nid = 5\nname = "x"\norigins = ["{ORIGIN}"]\n[sites.banner.texts.it]\n{texts}'
    settings = make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url}, toml=toml)
    with TestClient(create_app(settings)) as client:
        shown = banner(client, "&lang=it")["texts"]
    assert shown["title"] == italian["title"]  # type: ignore[index]
    assert shown["erase_data"] == DEFAULT_TEXTS["en"]["erase_data"]  # type: ignore[index]
