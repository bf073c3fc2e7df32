"""The shape of the code: imports run one way (edges -> domain -> storage and lookups), modules stay short.

Every ``import`` of a gateway module, at module level or inside a function, absolute or relative, is
read from the source (AST, nothing is executed) and checked against the layers below: a module may
import a lower layer, its own package at its own layer or below, and at the edge layer other edges.
A new module must be placed in a layer here, so where it sits is a decision, not an accident.
Modules loaded by name at run time (``gateway.control.registry.OPERATION_MODULES``, the CLI's
operations) are not imports and are not checked.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gateway"

# Lowest first. The first pattern a module matches gives its layer.
LAYERS: list[tuple[str, list[str]]] = [
    ("foundations", ["gateway", "gateway.storage", "gateway.storage.*", "gateway.monitoring.counters"]),
    ("configuration and lookups", ["gateway.config", "gateway.config.*", "gateway.geoip", "gateway.geoip.*",
                                   "gateway.useragent", "gateway.useragent.*"]),
    ("HTTP plumbing and the control channel", ["gateway.web", "gateway.web.*", "gateway.control",
                                               "gateway.control.*"]),
    ("operator views", ["gateway.monitoring", "gateway.monitoring.*"]),
    ("consent domain", ["gateway.consent.cookie", "gateway.consent.log", "gateway.consent.budget"]),
    ("hits and figures", ["gateway.ingest.hit", "gateway.ingest.outcomes", "gateway.ingest.pipeline",
                          "gateway.ingest.referrer", "gateway.ingest.scrub", "gateway.ingest.scrub_rules",
                          "gateway.ingest", "gateway.stats", "gateway.stats.*"]),
    ("rights domain", ["gateway.rights", "gateway.rights.audit", "gateway.rights.data",
                       "gateway.rights.ledger", "gateway.rights.limits", "gateway.rights.notice",
                       "gateway.rights.notice_texts", "gateway.rights.retention", "gateway.rights.service",
                       "gateway.rights.sync"]),
    ("edges", ["gateway.app", "gateway.cli", "gateway.__main__", "gateway.dashboard", "gateway.dashboard.*",
               "gateway.consent", "gateway.consent.api", "gateway.consent.commands",
               "gateway.consent.operations",
               "gateway.consent.origins", "gateway.consent.proof", "gateway.consent.record",
               "gateway.consent.visit",
               "gateway.ingest.endpoint", "gateway.ingest.fastpath", "gateway.ingest.transport",
               "gateway.rights.http",
               "gateway.rights.commands", "gateway.rights.operations", "gateway.rights.privacy_api"]),
]
EDGES = len(LAYERS) - 1
MAX_LINES = 350
# Modules allowed past MAX_LINES, each with its reason. Keep this list short.
LONG: dict[str, str] = {
    "gateway.rights.notice_texts": "the privacy notice's wording in five languages: data, read by language",
    "gateway.storage.schema": "the migrations' DDL and each table's reasons: data, never edited once applied",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    for index, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch(module, pattern) for pattern in patterns):
            return index
    raise AssertionError(f"{module} is in no layer: place it in LAYERS of {__file__}")


def package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def imported(module: str) -> set[str]:
    """The gateway modules ``module`` imports (a name imported from a package counts as its module)."""
    found: set[str] = set()
    is_package = MODULES[module].name == "__init__.py"
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "gateway"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from . import x, from ..web import y: relative to this module's package
                parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*parts, *([base] if base else [])])
            if base.split(".")[0] != "gateway":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return found - {module}


def allowed(source: str, target: str) -> bool:
    low, high = layer(target), layer(source)
    return low < high or (low == high and (package(source) == package(target) or high == EDGES))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_from_the_edges_to_the_domain_to_storage(module: str) -> None:
    wrong = sorted(
        f"{module} ({LAYERS[layer(module)][0]}) imports {target} ({LAYERS[layer(target)][0]})"
        for target in imported(module)
        if not allowed(module, target)
    )
    assert wrong == []


def test_the_layer_check_sees_an_upward_import() -> None:
    assert not allowed("gateway.consent.cookie", "gateway.consent.api")  # domain -> its own edge
    assert not allowed("gateway.storage.writer", "gateway.config.settings")
    assert not allowed("gateway.ingest.pipeline", "gateway.rights.service")
    assert not allowed("gateway.web.cors", "gateway.monitoring.health")  # same layer, other package
    assert allowed("gateway.rights.http", "gateway.consent.api")  # edge -> edge
    assert "gateway.config.settings" in imported("gateway.dashboard.routes")


def test_the_layer_check_reads_relative_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "cookie.py"
    source.write_text("from . import api\nfrom ..web.cors import x\ndef f():\n    from .log import y\n")
    monkeypatch.setitem(MODULES, "gateway.consent.cookie", source)
    expected = {"gateway.consent.api", "gateway.web.cors", "gateway.consent.log"}
    assert imported("gateway.consent.cookie") == expected


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_reads_at_once(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    if module in LONG:
        return
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it where it has sections"


def test_every_package_says_what_it_owns_and_what_it_may_import() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "import" in doc and len(doc) > 120, f"{init.relative_to(ROOT)}: {doc!r}"
    assert sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py")) == sorted(
        p.name for p in PACKAGE.iterdir() if p.is_dir() and any(p.glob("*.py"))
    )
