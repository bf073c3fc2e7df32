"""Story: a visitor mails the site owner their consent id; the owner exports and erases from a shell
while the gateway serves on embedded ClickHouse, and the audit trail shows both requests."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx2 as httpx

from tests.e2e.gateway_process import run_cli, running_gateway

ORIGIN = "https://shop.example.com"
PORT = 18590
CONFIG = f"""
[[sites]]
id = 1
name = "Shop"
origins = ["{ORIGIN}"]
policy_version = "v2"
"""


def test_the_owner_exports_and_erases_a_visitor_while_the_gateway_serves(tmp_path: Path,
                                                                        city_db: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG)
    env = {"GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_GEOIP_CITY_DB": str(city_db),
           "GATEWAY_CONFIG": str(config), "GATEWAY_WRITER_FLUSH_INTERVAL": "0.1"}
    with running_gateway(env, tmp_path / "serve.log", port=PORT) as gateway:
        browser = httpx.Client(base_url=gateway.base, headers={"Origin": ORIGIN}, timeout=10)
        consent_id = browser.post("/consent?site=1", json={"categories": ["analytics"],
                                                           "policy_version": "v2"}).json()["consent_id"]
        old_cookie = dict(browser.cookies)
        for page in range(3):
            assert browser.get(f"/matomo.php?idsite=1&rec=1&url={ORIGIN}/p{page}").status_code in (200, 204)
        time.sleep(0.5)

        exported = run_cli(["rights", "export", "--site", "1", "--consent", consent_id, "-o",
                            str(tmp_path / "visitor.json")], env)
        assert exported.returncode == 0, exported.stderr
        document = json.loads((tmp_path / "visitor.json").read_text())
        assert document["consent_ids"] == [consent_id] and document["event_count"] == 3

        erased = run_cli(["rights", "erase", "--site", "1", "--consent", consent_id], env)
        assert erased.returncode == 0, erased.stderr
        assert erased.stdout.startswith("erased 3 event(s) of 1 consent id(s) on site 1")
        replay = httpx.get(f"{gateway.base}/matomo.php?idsite=1&rec=1&url={ORIGIN}/again", cookies=old_cookie,
                           headers={"Origin": ORIGIN})
        assert replay.status_code in (200, 204)
        time.sleep(0.5)
        again = run_cli(["rights", "export", "--site", "1", "--consent", consent_id], env)
        assert json.loads(again.stdout)["event_count"] == 0

        unknown = run_cli(["rights", "erase", "--site", "1", "--uid", "nobody"], env)
        assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
        assert "Traceback" not in unknown.stderr

        log = run_cli(["rights", "log", "--json"], env)
        assert log.returncode == 0, log.stderr
        assert [(e["kind"], e["requested_by"], e["events"]) for e in json.loads(log.stdout)] == [
            ("export", "cli", 0), ("erase", "cli", 3), ("export", "cli", 3)]
    stopped = run_cli(["rights", "log"], env)
    assert stopped.returncode == 0, stopped.stderr
    assert len(stopped.stdout.splitlines()) == 3 and f"consent {consent_id}" in stopped.stdout
