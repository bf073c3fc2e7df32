"""Runs Node.js in one of the browser-code folders (consent_banner/, tracker_js/) for the build checks."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.browser import ROOT


def run_node(folder: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``node ARGS`` in ``ROOT/folder``; fails the test, naming the set-up step, without Node or esbuild."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"Node.js is needed to check {folder}/; ./scripts/test expects it installed")
    if not (ROOT / folder / "node_modules" / "esbuild").is_dir():
        pytest.fail(f"{folder}'s npm packages are missing: ./scripts/test runs `npm ci` there")
    result = subprocess.run([node, *args], cwd=ROOT / folder, capture_output=True, text=True, timeout=120,
                            check=False)
    print(result.stdout, result.stderr)  # sizes and test names, in the test log
    return result
