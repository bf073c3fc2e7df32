"""The served dashboard.js and dashboard.css are what the sources build with the pinned esbuild and
uPlot, within their gzip budgets, and the script's pure helpers pass node's test runner
(dashboard_js/test/)."""

from __future__ import annotations

import re

from tests.support.node import run_node


def test_the_committed_build_matches_the_sources_and_the_budgets() -> None:
    result = run_node("dashboard_js", "build.mjs", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    sizes = dict(re.findall(r"^(dashboard\.\w+): \d+ bytes, (\d+) bytes gzipped", result.stdout, re.M))
    budgets = dict(re.findall(r"^(dashboard\.\w+): .*\(budget (\d+)\)$", result.stdout, re.M))
    assert sizes.keys() == {"dashboard.js", "dashboard.css"}, result.stdout
    for name, size in sizes.items():
        assert int(size) <= int(budgets[name]), name
    # uPlot is most of the script; the two together stay near one 30 KB download
    assert int(budgets["dashboard.js"]) + int(budgets["dashboard.css"]) <= 32 * 1024


def test_the_helpers_pass_nodes_test_runner() -> None:
    result = run_node("dashboard_js", "--test", "test/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^# fail 0$", result.stdout, re.M), result.stdout
