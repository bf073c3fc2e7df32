"""CORS for the browser-facing APIs, and what a browser's Sec-Fetch headers say about its cookies."""

from __future__ import annotations

from starlette.requests import Request

from gateway.config.sites import OriginPattern, Site
from gateway.web.cors import cors_headers, cross_site, foreign_origin

SITE = Site(id=3, name="Parts", origins=(OriginPattern.parse("https://shop.example.com"),))


def request(**headers: str) -> Request:
    raw = [(name.replace("_", "-").lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "POST", "headers": raw})


def test_a_cross_site_fetch_keeps_no_lax_cookie_but_a_top_level_navigation_does() -> None:
    assert cross_site(request(sec_fetch_site="cross-site", sec_fetch_mode="cors", sec_fetch_dest="empty"))
    assert cross_site(request(sec_fetch_site="cross-site", sec_fetch_mode="no-cors"))  # sendBeacon
    framed = request(sec_fetch_site="cross-site", sec_fetch_mode="navigate", sec_fetch_dest="iframe")
    assert cross_site(framed)
    assert not cross_site(request(sec_fetch_site="cross-site", sec_fetch_mode="navigate",
                                  sec_fetch_dest="document"))
    for site in ("same-site", "same-origin", "none"):
        assert not cross_site(request(sec_fetch_site=site, sec_fetch_mode="cors"))
    assert not cross_site(request())  # a server, or a browser too old to say


def test_only_configured_origins_are_echoed() -> None:
    allowed = cors_headers(request(origin="https://shop.example.com"), SITE)
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert allowed["Access-Control-Allow-Credentials"] == "true"
    assert "Access-Control-Allow-Origin" not in cors_headers(request(origin="https://evil.example"), SITE)
    assert foreign_origin(request(origin="null"), SITE)
    assert foreign_origin(request(sec_fetch_site="cross-site"), SITE)
    assert not foreign_origin(request(), SITE)
