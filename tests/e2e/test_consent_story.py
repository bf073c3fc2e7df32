"""Story: a visitor accepts, changes their mind and withdraws; the site owner proves it afterwards.

The real ``serve`` behind a (simulated) trusted reverse proxy that forwards the visitor's address;
the proof comes from both the API and ``consent-gateway consent show``. Finally every string in
every table is scanned for anything shaped like an IP address: there must be none.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx

from tests.e2e.gateway_process import gateway_env, run_cli, running_gateway
from tests.geoip_fixture import BERLIN
from tests.support.privacy import IP_SHAPED

ORIGIN = "https://www.example.com"
TOKEN = "proof-token-for-the-site-owner-0042"
CONFIG = f"""
[[sites]]
id = 1
name = "Parts catalogue"
origins = ["{ORIGIN}"]
policy_version = "v7"
token = "{TOKEN}"
"""
# Runs in its own process: this test process's embedded engine is bound to another data folder.
SCAN = """
import sys
from gateway.storage.clickhouse import connect
from tests.support.privacy import ip_shaped_values
print(*ip_shaped_values(connect(sys.argv[1])))
"""


def test_a_visitor_decides_and_the_owner_proves_it(tmp_path: Path, city_db: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG)
    env = {"GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_GEOIP_CITY_DB": str(city_db),
           "GATEWAY_CONFIG": str(config), "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
           "GATEWAY_SECRET_KEYS": "s" * 48}
    chrome = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
    visitor = {"Origin": ORIGIN, "X-Forwarded-For": BERLIN.sample_ip, "User-Agent": chrome}
    with running_gateway(env, tmp_path / "serve.log") as gateway, httpx.Client(base_url=gateway.base,
                                                                               headers=visitor) as browser:
        assert browser.get("/consent?site=1").json()["show_banner"] is True
        receipt = browser.post("/consent?site=1", json={"categories": ["analytics"], "policy_version": "v7",
                                                        "language": "de"}).json()
        assert browser.get("/consent?site=1").json()["consent"]["consent_id"] == receipt["consent_id"]
        both = ["analytics", "marketing"]
        browser.post("/consent?site=1", json={"categories": both, "policy_version": "v7"})
        assert browser.delete("/consent?site=1").json()["categories"] == ["necessary"]
        proof = browser.get(f"/api/consents/{receipt['consent_id']}",
                            headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert [(d["action"], d["country_code"], d["browser_family"]) for d in proof["decisions"]] == [
            ("grant", "DE", "Chrome"), ("update", "DE", "Chrome"), ("withdraw", "DE", "Chrome")]
    assert BERLIN.sample_ip not in gateway.log

    shown = run_cli(["consent", "show", receipt["consent_id"]], env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"consent {receipt['consent_id']}, site 1 (current policy v7)"
    assert [line.split()[2] for line in lines[1:4]] == ["grant", "update", "withdraw"]
    assert "banner configuration" in lines[4]
    as_json = json.loads(run_cli(["consent", "show", receipt["consent_id"], "--json"], env).stdout)
    assert as_json["decisions"] == proof["decisions"]

    url = f"chdb://{tmp_path / 'data' / 'clickhouse'}"
    scan = subprocess.run([sys.executable, "-c", SCAN, url],
                          env=gateway_env(env), capture_output=True, text=True, timeout=120, check=True)
    columns, found = scan.stdout.strip().split(" ", 1)
    assert int(columns) > 40
    assert found == "[]", f"IP-like values stored: {found}"
    without_times = re.sub(r"\b\d{2}:\d{2}:\d{2}(\.\d+)?\b", "", shown.stdout)  # 20:46:44 looks like IPv6
    assert not re.search(IP_SHAPED, without_times)
