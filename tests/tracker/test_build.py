"""The served tracker is the source built by the pinned esbuild, within 1.5 KB gzipped, and its
request building passes node's test runner (tracker_js/test/)."""

from __future__ import annotations

import re

from tests.support.node import run_node


def test_the_committed_build_matches_the_source_and_the_budget() -> None:
    result = run_node("tracker_js", "build.mjs", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    size = re.search(r"(\d+) bytes gzipped \(budget (\d+)\)", result.stdout)
    assert size is not None, result.stdout
    assert int(size[1]) <= int(size[2]) <= 1536


def test_request_building_and_consent_gating_pass_nodes_test_runner() -> None:
    result = run_node("tracker_js", "--test", "test/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^# fail 0$", result.stdout, re.M), result.stdout
