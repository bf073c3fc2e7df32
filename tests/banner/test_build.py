"""The served banner is the source built by the pinned esbuild, and within its size budget."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.browser import ROOT


def test_the_committed_build_matches_the_source_and_the_budget() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is needed to check the banner build; ./scripts/test expects it installed")
    folder = ROOT / "consent_banner"
    if not (folder / "node_modules" / "esbuild").is_dir():
        pytest.fail("consent_banner's npm packages are missing: ./scripts/test runs `npm ci` there")
    result = subprocess.run(
        [node, "build.mjs", "--check"], cwd=folder, capture_output=True, text=True, timeout=120, check=False
    )
    print(result.stdout, result.stderr)  # the sizes, in the test log
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gzip" in result.stdout
