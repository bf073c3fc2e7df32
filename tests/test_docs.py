"""The docs a newcomer reads: a short README, and no link in them that leads nowhere.

Every relative link in the README, docs/ and the browser code's READMEs must name a file of the
repository, and every ``#anchor`` a heading of that file (GitHub's slugs). The banner's console
warning and the dashboard point into the docs too: those anchors are checked the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"),
                *(ROOT / folder / "README.md" for folder in ("consent_banner", "tracker_js", "dashboard_js")
                  if (ROOT / folder / "README.md").exists())])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"`|\*\*|\[|\]\([^)]*\)", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        base = slug(heading)
        name, n = base, 1
        while name in found:  # a repeated heading gets -1, -2, ...
            name, n = f"{base}-{n}", n + 1
        found.add(name)
    return found


def broken(page: Path) -> list[str]:
    wrong = []
    for target in LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked here
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            wrong.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            wrong.append(f"{target}: no heading #{anchor} in {file.name}")
    return wrong


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_in_the_docs_leads_somewhere(page: Path) -> None:
    assert broken(page) == []


def test_the_readme_reads_in_minutes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 150
    for needed in ("./scripts/serve", "./scripts/test", "./scripts/cg", "Python 3.11", "Node.js 18",
                   "docs/img/banner.png", "docs/img/dashboard.png", "LICENSE"):
        assert needed in readme, needed
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme):
        assert (ROOT / image).stat().st_size < 200_000, image


def test_what_the_code_links_to_is_in_the_docs() -> None:
    constants = (ROOT / "consent_banner" / "src" / "constants.js").read_text(encoding="utf-8")
    page = re.search(r'COOKIE_LOST = "([\w.-]+)#([\w-]+)"', constants)
    assert page is not None
    assert page.group(2) in anchors(ROOT / "docs" / page.group(1))


def test_the_slugs_are_githubs() -> None:
    assert slug("The banner comes back on every page") == "the-banner-comes-back-on-every-page"
    assert slug("GeoIP databases and their licences") == "geoip-databases-and-their-licences"
    assert slug("`GET /consent`: the state") == "get-consent-the-state"
    assert slug("Coming from Matomo") == "coming-from-matomo"
