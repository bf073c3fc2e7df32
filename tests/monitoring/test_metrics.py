"""``/-/metrics``: the operator's token, Prometheus's text format, and its JSON twin."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config.settings import ConfigError, Settings, describe
from gateway.monitoring.counters import Metrics
from gateway.monitoring.prometheus import render
from gateway.storage.writer import Overloaded
from tests.conftest import SettingsFactory
from tests.support.operator import OPERATOR, OPERATOR_JSON

ORIGIN = "http://localhost:8080"  # the demo site's
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"({_NAME})(?:\{{(.*)\}})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Series:
    """The text exposition format 0.0.4, strictly: each sample's family was declared (HELP, then TYPE)
    before it, once; names, labels and values are well-formed; no series repeats."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    helped: set[str] = set()
    series: Series = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert re.fullmatch(_NAME, name) and name not in helped, line
            helped.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name in helped and name not in types, line
            assert kind in ("counter", "gauge", "summary", "histogram", "untyped"), line
            types[name] = kind
        else:
            match = _SAMPLE.fullmatch(line)
            assert match, f"not a sample: {line!r}"
            name, raw_labels, value = match.groups()
            family = re.sub(r"_(sum|count|bucket)$", "", name) if name not in types else name
            assert family in types, f"{name} has no TYPE line"
            if types[family] == "counter":
                assert name.endswith("_total"), name
            labels: list[tuple[str, str]] = []
            if raw_labels:
                consumed = 0
                for label in _LABEL.finditer(raw_labels):
                    assert label.start() == consumed, raw_labels
                    consumed = label.end()
                    labels.append((label.group(1), label.group(2)))
                assert consumed == len(raw_labels), raw_labels
            key = (name, tuple(labels))
            assert key not in series, f"{line!r} repeats"
            series[key] = float(value)
    return series


def test_the_token_setting_is_checked_and_never_shown(make_settings: SettingsFactory) -> None:
    for weak in ("short-token", "a token with spaces in it"):
        with pytest.raises(ConfigError, match=r"^GATEWAY_METRICS_TOKEN: must be 16") as refused:
            make_settings({"GATEWAY_METRICS_TOKEN": weak})
        assert weak not in str(refused.value)
    settings = make_settings({"GATEWAY_METRICS_TOKEN": "my-operator-token-4711"})
    assert ("GATEWAY_METRICS_TOKEN", "<redacted>") in [(env, value) for env, value, _ in describe(settings)]
    assert "4711" not in repr(settings)


def test_metrics_need_the_operator_token(client: TestClient, app_settings: Settings) -> None:
    anonymous = client.get("/-/metrics")
    assert anonymous.status_code == 401 and "GATEWAY_METRICS_TOKEN" in anonymous.json()["error"]
    assert "hits" not in anonymous.text and "counters" not in anonymous.text
    with TestClient(create_app(replace(app_settings, metrics_token=""))) as unconfigured:
        for headers in ({}, OPERATOR):
            refused = unconfigured.get("/-/metrics", headers=headers)
            assert refused.status_code == 403
            assert "set GATEWAY_METRICS_TOKEN" in refused.json()["error"]


def test_metrics_speak_prometheus_and_count_a_stored_hit(client: TestClient) -> None:
    grant = client.post("/consent?site=1", json={"categories": ["analytics"], "policy_version": "1"},
                        headers={"Origin": ORIGIN})
    assert grant.status_code == 200, grant.text
    hit = client.get("/matomo.php?" + urlencode({"idsite": 1, "rec": 1, "url": f"{ORIGIN}/"}),
                     headers={"Origin": ORIGIN})
    assert hit.status_code in (200, 204)
    response = client.get("/-/metrics", headers=OPERATOR)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    series = parse(response.text)
    assert series[("consent_gateway_hits_total", (("reason", "stored"),))] == 1
    assert series[("consent_gateway_hits_total", (("reason", "received"),))] == 1
    assert series[("consent_gateway_consent_decision_total", (("reason", "grant"),))] >= 1
    assert series[("consent_gateway_workers", ())] == 1
    assert ("consent_gateway_spool_refusing", ()) in series
    assert ("consent_gateway_writer_pending_rows", ()) in series
    assert series[("consent_gateway_ingest_step_seconds_count", (("step", "consent"),))] == 1
    assert series[("consent_gateway_ingest_step_seconds_sum", (("step", "consent"),))] > 0
    assert series[("consent_gateway_ingest_step_seconds_bucket", (("step", "consent"), ("le", "+Inf")))] == 1
    assert series[("consent_gateway_hit_seconds_count", (("outcome", "stored"),))] == 1
    assert series[("consent_gateway_hit_seconds_bucket", (("outcome", "stored"), ("le", "1.0")))] <= 1


def test_metrics_keep_their_json_twin(client: TestClient) -> None:
    client.get("/matomo.php?" + urlencode({"idsite": 1, "rec": 1, "url": f"{ORIGIN}/"}))
    body = client.get("/-/metrics", headers=OPERATOR_JSON).json()
    assert body["counters"]["hits_dropped"]["no-consent"] == 1
    assert {"writer", "spool", "steps", "workers"} <= set(body)
    assert body["steps"]["consent"]["calls"] == 1 and "mean_us" in body["steps"]["consent"]
    assert body["hit"]["dropped"]["calls"] == 1 and sum(body["hit"]["dropped"]["buckets"].values()) == 1


def test_each_tracking_request_is_timed_under_its_outcome(client: TestClient,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored, dropped (no consent, or a 400) and refused (503) requests each land in their own series
    of consent_gateway_hit_seconds; preflights and HEADs are no hits and are not timed."""
    grant = client.post("/consent?site=1", json={"categories": ["analytics"], "policy_version": "1"},
                        headers={"Origin": ORIGIN})
    assert grant.status_code == 200, grant.text
    page = "/matomo.php?" + urlencode({"idsite": 1, "rec": 1, "url": f"{ORIGIN}/"})
    assert client.get(page, headers={"Origin": ORIGIN}).status_code in (200, 204)
    assert client.get("/matomo.php?idsite=not-a-number&rec=1").status_code == 400
    client.cookies.clear()
    assert client.get(page, headers={"Origin": ORIGIN}).status_code in (200, 204)  # no consent: dropped
    assert client.head(page).status_code in (200, 204)
    client.options(page, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})

    async def refuse(*args: Any) -> None:
        raise Overloaded("full")

    app: Any = client.app
    monkeypatch.setattr(app.state.pipeline, "store", refuse)
    client.post("/consent?site=1", json={"categories": ["analytics"], "policy_version": "1"},
                headers={"Origin": ORIGIN})
    assert client.get(page, headers={"Origin": ORIGIN}).status_code == 503
    series = parse(client.get("/-/metrics", headers=OPERATOR).text)
    counts = {labels[0][1]: value for (name, labels), value in series.items()
              if name == "consent_gateway_hit_seconds_count"}
    assert counts == {"stored": 1, "dropped": 2, "refused": 1}
    for outcome, count in counts.items():
        assert series[("consent_gateway_hit_seconds_bucket", (("outcome", outcome), ("le", "+Inf")))] == count


def test_label_values_and_unknown_figures_stay_well_formed() -> None:
    metrics = Metrics()
    metrics.count("odd counter", 'quote " back\\slash\nnewline')
    sample = {"counters": metrics.snapshot(), "writer": {"rows_rejected": {"events": 2}, "new_figure": 3},
              "spool": {"refusing": 0, "last_sync_ms": 1.5}, "steps": {}, "workers": {}}
    series = parse(render(sample))
    escaped = 'quote \\" back\\\\slash\\nnewline'
    assert series[("consent_gateway_odd_counter_total", (("reason", escaped),))] == 1
    assert series[("consent_gateway_writer_rows_rejected_total", (("table", "events"),))] == 2
    assert series[("consent_gateway_writer_new_figure_total", ())] == 3
    assert series[("consent_gateway_spool_last_sync_seconds", ())] == 0.0015
