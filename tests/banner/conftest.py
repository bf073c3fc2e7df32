"""Fixtures for the banner's browser tests: a real gateway, a fixture site, Debian's chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.e2e.gateway_process import Gateway, running_gateway

TOKEN = "banner-test-site-token-000000001"
ANY_LOCAL = '["http://127.0.0.1:*", "http://localhost:*"]'
ARABIC = {
    "title": "نحن نحترم خصوصيتك",
    "description": "نستخدم ملفات تعريف الارتباط بموافقتك فقط.",
    "accept_all": "قبول الكل",
    "reject_all": "رفض الكل",
    "settings": "الإعدادات",
    "settings_title": "إعدادات الخصوصية",
    "settings_description": "اختر ما تسمح به.",
    "save": "حفظ الاختيارات",
    "close": "إغلاق",
    "privacy_policy": "سياسة الخصوصية",
    "always_on": "مفعّلة دائمًا",
    "services": "الخدمات",
    "receipt": "سجل موافقتك",
    "consent_id": "رقم الموافقة",
    "decided_at": "تاريخ القرار",
    "reopen": "إعدادات الخصوصية",
    "gpc_notice": "أرسل متصفحك إشارة التحكم العالمي بالخصوصية.",
    "policy_changed": "تغيرت سياسة الخصوصية.",
    "expired": "انتهت صلاحية اختيارك.",
    "regime_changed": "يرجى تأكيد اختيارك.",
    "error": "تعذر حفظ اختيارك.",
    "download_data": "تنزيل بياناتي",
    "erase_data": "محو بياناتي",
    "erase_warning": "سيؤدي هذا إلى محو زياراتك وأحداثك المخزنة نهائيًا.",
    "erase_confirm": "نعم، امحُ",
    "cancel": "إلغاء",
    "erased": "تم محو بياناتك. الأحداث الممحوة: {n}.",
    "download_error": "تعذر تنزيل بياناتك.",
    "erase_error": "تعذر محو بياناتك.",
}


def config(policy_version: str = "2026-11", english: dict[str, str] | None = None) -> str:
    """The sites' TOML; ``english`` overrides some of site 1's English texts (a change of wording)."""
    arabic = "".join(f'{key} = "{text}"\n' for key, text in ARABIC.items())
    reworded = "".join(f'{key} = "{text}"\n' for key, text in (english or {}).items())
    reworded = f"[sites.banner.texts.en]\n{reworded}" if reworded else ""
    return f"""
[[sites]]
id = 1
name = "Parts catalogue"
origins = {ANY_LOCAL}
policy_version = "{policy_version}"
token = "{TOKEN}"
[sites.banner]
privacy_policy_url = "https://parts.example.com/privacy"
{reworded}[[sites.categories]]
id = "necessary"
[[sites.categories]]
id = "analytics"
services = ["consent-gateway analytics"]
cookies = ["ga_test", "_pk_*"]
[[sites.categories]]
id = "marketing"
services = ["Ads partner"]
cookies = ["ad_test"]

[[sites]]
id = 2
name = "Centre modal, Arabic"
origins = {ANY_LOCAL}
policy_version = "1"
token = "{TOKEN}-2"
[sites.banner]
position = "center"
[sites.banner.texts.ar]
{arabic}
[[sites]]
id = 3
name = "Corner box, dark"
origins = {ANY_LOCAL}
policy_version = "1"
[sites.banner]
position = "corner"
theme = "dark"

[[sites]]
id = 4
name = "Pages elsewhere"
origins = ["https://www.example.com"]
"""


GatewayFactory = Callable[..., Gateway]



def start_gateway(
    folder: Path,
    city_db: Path,
    policy_version: str = "2026-11",
    port: int | None = None,
    english: dict[str, str] | None = None,
) -> Any:
    path = folder / "gateway.toml"
    path.write_text(config(policy_version, english), encoding="utf-8")
    env = {
        "GATEWAY_DATA_DIR": str(folder / "data"),
        "GATEWAY_CONFIG": str(path),
        "GATEWAY_GEOIP_CITY_DB": str(city_db),
        "GATEWAY_SECRET_KEYS": "b" * 48,
    }
    return running_gateway(env, folder / "serve.log", port)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, city_db: Path) -> Iterator[Gateway]:
    with start_gateway(tmp_path_factory.mktemp("banner-gateway"), city_db) as gateway:
        yield gateway



@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def proof(gateway: Gateway, consent_id: str, token: str = TOKEN) -> dict[str, Any]:
    """The consent log's history of one consent, through the site owner's proof API."""
    response = httpx.get(
        f"{gateway.base}/api/consents/{consent_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
