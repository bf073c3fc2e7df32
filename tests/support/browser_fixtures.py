"""The browser-test fixtures the banner's and the tracker's tests share; each conftest imports them
and defines its own ``gateway``, which ``site`` points at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.e2e.gateway_process import Gateway
from tests.support.browser import FixtureSite, chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Per module, not per session: the sync API must not outlive into the asyncio tests' modules.
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def site(gateway: Gateway) -> Iterator[FixtureSite]:
    """A fixture web site on its own port (same site as the gateway): pages registered per test."""
    fixture_site = FixtureSite(gateway.base)
    yield fixture_site
    fixture_site.close()
