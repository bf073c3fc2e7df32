"""The operator's token in tests, and the headers that present it to ``/-/``."""

from __future__ import annotations

METRICS_TOKEN = "operator-token-for-tests-0123456789"
OPERATOR = {"Authorization": f"Bearer {METRICS_TOKEN}"}
# /-/metrics as JSON (its default is Prometheus's text format).
OPERATOR_JSON = OPERATOR | {"Accept": "application/json"}
