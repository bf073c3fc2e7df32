"""The served banner is the source built by the pinned esbuild, and within its size budget."""

from __future__ import annotations

from tests.support.node import run_node


def test_the_committed_build_matches_the_source_and_the_budget() -> None:
    result = run_node("consent_banner", "build.mjs", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gzip" in result.stdout
