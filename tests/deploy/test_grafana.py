"""The Grafana dashboard in deploy/grafana/: a dashboard Grafana can load, whose every query asks for
metrics, labels and label values the gateway exports, so it cannot drift from the code.

What the gateway exports is ``gateway.monitoring.prometheus.render`` of a sample with every counter,
figure, step and outcome (tests/monitoring/test_prometheus.py), read by Prometheus's own parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.monitoring.prometheus import render
from tests.monitoring.test_prometheus import full_sample

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "consent-gateway.json"
GRID_WIDTH = 24
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series
BUILT_IN = {"__rate_interval", "__interval", "__range"}
SELECTOR = re.compile(r"(consent_gateway_[a-zA-Z0-9_]+)\s*(?:\{([^}]*)\})?")
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")

Exported = dict[str, dict[str, set[str]]]  # sample name -> label -> values


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def exported() -> Exported:
    found: Exported = {}
    for family in text_string_to_metric_families(render(full_sample())):
        for sample in family.samples:
            labels = found.setdefault(sample.name, {})
            for name, value in sample.labels.items():
                labels.setdefault(name, set()).add(value)
    return found


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every query: the panels' targets and the template variables'."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield f"variable {variable['name']}", query["query"] if isinstance(query, dict) else query


def test_it_is_a_dashboard_grafana_loads(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "consent-gateway" and dashboard["title"]
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    assert {"job", "instance"} <= set(variables)
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    taken: set[tuple[int, int]] = set()
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) and grid[k] >= 0 for k in ("h", "w", "x", "y")), panel["title"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= GRID_WIDTH, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & taken, f"{panel['title']!r} overlaps another panel"
        taken |= cells
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]


def test_the_panels_the_operator_needs_are_there(dashboard: dict[str, Any]) -> None:
    queried = " ".join(expr for _, expr in expressions(dashboard))
    for metric in ("hits_total", "hits_dropped_total", "hit_seconds_bucket", "ingest_step_seconds_bucket",
                   "spool_bytes", "spool_segments", "spool_refusing", "writer_pending_rows",
                   "writer_insert_failures_total", "writer_rows_rejected_total", "consent_decision_total",
                   "consent_sync_total", "retention_total", "rights_total", "workers"):
        assert f"consent_gateway_{metric}{{" in queried or f"consent_gateway_{metric}," in queried, metric
    for quantile in ("0.5", "0.95", "0.99"):
        wanted = f"histogram_quantile({quantile}, sum by (le) (rate(consent_gateway_hit_seconds_bucket"
        assert wanted in queried, quantile


def test_every_query_asks_for_what_the_gateway_exports(dashboard: dict[str, Any], exported: Exported) -> None:
    variables = {v["name"] for v in dashboard["templating"]["list"]} | BUILT_IN
    for where, expr in expressions(dashboard):
        assert expr.count("(") == expr.count(")"), f"{where}: unbalanced parentheses"
        for used in re.findall(r"\$\{?(\w+)", expr):
            assert used in variables, f"{where}: ${used} is no variable"
        selected = list(SELECTOR.finditer(expr))
        assert selected, f"{where}: no consent_gateway_ metric in {expr!r}"
        labels_here = set(TARGET_LABELS)
        for match in selected:
            name, matchers = match.group(1), match.group(2) or ""
            assert name in exported, f"{where}: {name} is not exported"
            labels = exported[name]
            labels_here |= set(labels)
            consumed = 0
            for matcher in MATCHER.finditer(matchers):
                assert matcher.start() == consumed, f"{where}: cannot read {matchers!r}"
                consumed = matcher.end()
                label, op, value = matcher.groups()
                if label in TARGET_LABELS:
                    continue
                assert label in labels, f"{where}: {name} has no label {label}"
                if op == "=":
                    assert value in labels[label], f"{where}: {name}{{{label}={value!r}}} never exported"
            assert consumed == len(matchers), f"{where}: cannot read {matchers!r}"
        for grouping in GROUPING.finditer(expr):
            for label in filter(None, (part.strip() for part in grouping.group(1).split(","))):
                assert label in labels_here, f"{where}: grouped by {label}, which its metrics lack"
