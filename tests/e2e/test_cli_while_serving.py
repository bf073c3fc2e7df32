"""Story: while the gateway serves on embedded ClickHouse, the operator looks a consent up from a shell.

The real ``serve`` holds the engine's data folder, so ``consent-gateway consent show`` asks it over
``DATA_DIR/control.sock``; once the gateway stops, the same command opens ClickHouse itself and prints
the same thing. Whatever goes wrong is one line on stderr, never a traceback (issue 15).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx2 as httpx

from tests.e2e.gateway_process import run_cli, running_gateway

ORIGIN = "https://shop.example.com"
PORT = 18611
CONFIG = f"""
[[sites]]
id = 1
name = "Shop"
origins = ["{ORIGIN}"]
policy_version = "v2"
"""
UNKNOWN = "0b6a2c53-5f0e-4f63-9a53-4f1c2a7d9e10"


def test_consent_show_works_while_the_gateway_serves_and_after_it_stops(tmp_path: Path,
                                                                        city_db: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG)
    data = tmp_path / "data"
    env = {"GATEWAY_DATA_DIR": str(data), "GATEWAY_GEOIP_CITY_DB": str(city_db),
           "GATEWAY_CONFIG": str(config)}
    with running_gateway(env, tmp_path / "serve.log", port=PORT) as gateway:
        receipt = httpx.post(f"{gateway.base}/consent?site=1", headers={"Origin": ORIGIN},
                             json={"categories": ["analytics"], "policy_version": "v2"}, timeout=10).json()
        consent_id = receipt["consent_id"]
        assert stat.S_IMODE((data / "control.sock").stat().st_mode) == 0o600

        serving = run_cli(["consent", "show", consent_id], env)
        assert serving.returncode == 0, serving.stderr
        lines = serving.stdout.splitlines()
        assert lines[0] == f"consent {consent_id}, site 1 (current policy v2)"
        assert lines[1].split()[2:4] == ["grant", "analytics,necessary"]
        as_json = run_cli(["consent", "show", consent_id, "--json"], env)
        assert as_json.returncode == 0, as_json.stderr
        proof = json.loads(as_json.stdout)
        assert (proof["consent_id"], proof["site"]) == (consent_id, 1)
        assert [d["action"] for d in proof["decisions"]] == ["grant"]

        unknown = run_cli(["consent", "show", UNKNOWN], env)
        assert (unknown.returncode, unknown.stdout) == (1, "")
        assert unknown.stderr == f"consent-gateway: no decisions are logged under {UNKNOWN}\n"

        # A gateway the command cannot reach (here: its socket moved away) still holds the engine.
        (data / "control.sock").rename(data / "moved.sock")
        try:
            held = run_cli(["consent", "show", consent_id], env)
        finally:
            (data / "moved.sock").rename(data / "control.sock")
        assert held.returncode == 1 and held.stdout == ""
        assert held.stderr.count("\n") == 1 and "Traceback" not in held.stderr
        assert held.stderr.startswith(f"consent-gateway: the embedded ClickHouse in {data / 'clickhouse'} is "
                                      "held by another process and no gateway answers")
    assert "control: consent.show done" in gateway.log
    assert UNKNOWN not in gateway.log  # the gateway logs which operation ran, not its arguments
    assert not (data / "control.sock").exists() and not (data / "control.token").exists()

    stopped = run_cli(["consent", "show", consent_id], env)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout == serving.stdout
    stopped_json = run_cli(["consent", "show", consent_id, "--json"], env)
    assert json.loads(stopped_json.stdout) == proof
    gone = run_cli(["consent", "show", UNKNOWN], env)
    assert (gone.returncode, gone.stderr) == (1, unknown.stderr)
