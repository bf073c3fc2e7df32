"""Browser-test helpers: Debian's chromium through Playwright, and a tiny web site for the pages.

The site runs on its own port, so the banner talks to the gateway across origins as on a real
site (same-site: both are 127.0.0.1, so the gateway's SameSite=Lax cookie travels). Pages are
registered per test; ``{gateway}`` in a page is replaced by the gateway's base URL.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
# Without the background-networking flags chromium tries Google's hosts, which this network refuses.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium (``which chromium``), never a browser downloaded by Playwright."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "Debian's chromium is not installed; ./scripts/test installs it (apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Page:
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/html; charset=utf-8"


class FixtureSite:
    """Serves registered pages on 127.0.0.1 and remembers every path requested."""

    def __init__(self, gateway: str) -> None:
        self.gateway = gateway
        self.pages: dict[str, Page] = {}
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                site.requests.append(self.path)
                page = site.pages.get(path)
                if page is None:
                    self.send_error(404)
                    return
                body = page.body.replace("{gateway}", site.gateway).encode()
                self.send_response(200)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                for name, value in page.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, path: str, body: str, **headers: str) -> str:
        self.pages[path] = Page(body, headers)
        return self.base + path

    def add_script(self, path: str, body: str) -> str:
        self.pages[path] = Page(body, content_type="text/javascript")
        return self.base + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def screenshot_path(name: str) -> Path:
    """Where a test leaves a screenshot for people to look at: ``artifacts/``, kept by CI."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"
