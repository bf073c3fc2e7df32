"""Story: an operator upgrades a gateway whose data folder an earlier version left readable by every
user of the host; after a run with embedded ClickHouse, nothing in it is readable but by its owner."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2 as httpx

from tests.e2e.gateway_process import running_gateway
from tests.storage.test_permissions import exposed
from tests.support.operator import METRICS_TOKEN, OPERATOR_JSON

ORIGIN = "http://localhost:8080"  # the demo site's


def legacy_data_folder(data: Path) -> None:
    """What an earlier version left: folders 0755, files 0644."""
    for folder in (data, data / "spool" / "0", data / "geoip"):
        folder.mkdir(parents=True, exist_ok=True)
    (data / "secret_key").write_text("k" * 48 + "\n")
    (data / "geoip" / "README").write_text("installed by hand\n")
    for path in (data, data / "spool", data / "spool" / "0", data / "geoip"):
        path.chmod(0o755)
    for path in (data / "secret_key", data / "geoip" / "README"):
        path.chmod(0o644)


def test_the_data_folder_is_private_after_a_run_with_embedded_clickhouse(tmp_path: Path,
                                                                          city_db: Path) -> None:
    data = tmp_path / "data"
    legacy_data_folder(data)
    assert len(exposed(data)) == 6
    env = {"GATEWAY_DATA_DIR": str(data), "GATEWAY_GEOIP_CITY_DB": str(city_db),
           "GATEWAY_METRICS_TOKEN": METRICS_TOKEN, "GATEWAY_WRITER_FLUSH_INTERVAL": "0.05"}
    with running_gateway(env, tmp_path / "serve.log") as gateway, \
            httpx.Client(base_url=gateway.base, headers={"Origin": ORIGIN}, timeout=10) as visitor:
        grant = visitor.post("/consent?site=1", json={"categories": ["analytics"], "policy_version": "1"})
        assert grant.status_code == 200, grant.text
        for batch in range(5):  # several inserts: several parts, which ClickHouse merges
            for page in range(10):
                page_url = f"{ORIGIN}/{batch}/{page}"
                hit = visitor.get("/matomo.php", params={"idsite": 1, "rec": 1, "url": page_url})
                assert hit.status_code < 300
            time.sleep(0.1)
        deadline = time.monotonic() + 30
        metrics = f"{gateway.base}/-/metrics"
        while httpx.get(metrics, headers=OPERATOR_JSON).json()["writer"]["rows_written"] < 51:
            assert time.monotonic() < deadline, "the hits did not reach ClickHouse"
            time.sleep(0.1)
    assert gateway.exit_code is not None
    assert len(list((data / "clickhouse").rglob("*.bin"))) > 10
    assert exposed(data) == []
