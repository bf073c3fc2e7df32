"""The ``consent-gateway`` command as an operator runs it (real subprocesses, embedded ClickHouse)."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from gateway.cli import DATA_ENTRIES
from gateway.storage.permissions import secure_data_dir
from tests.e2e.gateway_process import run_cli as run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"GATEWAY_DATA_DIR": str(tmp_path / "data")}


def test_check_config_prints_effective_settings_with_secrets_redacted(env: dict[str, str]) -> None:
    env |= {"GATEWAY_SECRET_KEYS": "k" * 40, "GATEWAY_CLICKHOUSE_URL": "http://gw:hunter2@ch:8123/gw"}
    result = run(["check-config"], env)
    assert result.returncode == 0, result.stderr
    assert "GATEWAY_CLICKHOUSE_URL=http://gw:<redacted>@ch:8123/gw" in result.stdout
    assert "GATEWAY_SECRET_KEYS=<redacted>" in result.stdout
    assert "hunter2" not in result.stdout and "k" * 40 not in result.stdout
    assert "site 1 'Demo site': origins http://localhost:*, http://127.0.0.1:*" in result.stdout


@pytest.mark.parametrize(("extra", "key"), [
    ({"GATEWAY_WRITER_BATCH_SIZE": "0"}, "GATEWAY_WRITER_BATCH_SIZE"),
    ({"GATEWAY_TRUSTED_PROXY": "10.0.0.0/8"}, "GATEWAY_TRUSTED_PROXY"),
    ({"GATEWAY_CLICKHOUSE_URL": "mysql://db"}, "GATEWAY_CLICKHOUSE_URL"),
])
def test_invalid_configuration_exits_2_naming_the_key(env: dict[str, str], extra: dict[str, str],
                                                      key: str) -> None:
    for command in (["check-config"], ["serve"], ["migrate"]):
        result = run(command, env | extra)
        assert result.returncode == 2
        assert f"configuration error: {key}" in result.stderr
        assert "Traceback" not in result.stderr


def test_check_config_and_serve_report_every_error_at_once(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('log_levl = "debug"\n\n[[sites]]\nid = 1\norigins = ["ftp://shop.example"]\n'
                      'timezone = "Europe/Berln"\n')
    known = ("data_dir, clickhouse_url, clickhouse_password, clickhouse_ca_file, clickhouse_cluster, "
             "secret_keys, users_file, geoip_city_db, geoip_asn_db, geoip_reload_interval, trusted_proxies, "
             "shutdown_timeout, migrate_on_start, writer_batch_size, writer_flush_interval, "
             "writer_max_pending, visit_timeout, opt_in_countries, instance_name, log_level, log_format, "
             "metrics_token, sites")
    for command in (["check-config"], ["serve"]):
        result = run(command, env | {"GATEWAY_CONFIG": str(config)})
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.splitlines() == [
            "consent-gateway: 3 configuration errors:",
            f"  {config}: log_levl: unknown key; did you mean 'log_level'? (known: {known})",
            f"  {config}: sites[0].origins: 'ftp://shop.example' is not an origin like https://example.com, "
            "https://*.example.com or http://localhost:*",
            f"  {config}: sites[0].timezone: unknown time zone 'Europe/Berln': an IANA name such as "
            "Europe/Berlin, America/New_York or UTC; did you mean 'Europe/Berlin'?",
        ]


def test_check_config_tells_where_the_demo_sites_token_lives(env: dict[str, str]) -> None:
    token_file = Path(env["GATEWAY_DATA_DIR"]) / "demo-token"
    result = run(["check-config"], env)
    assert f"token not set (no {token_file}; ./scripts/serve writes it)" in result.stdout
    token_file.parent.mkdir()
    token_file.write_text("demo-token-from-scripts-serve-0123\n")
    result = run(["check-config"], env)
    assert f"token set (from {token_file})" in result.stdout and "0123" not in result.stdout
    # With a configuration file (and still no [[sites]]), ./scripts/serve writes no token: not said.
    (Path(env["GATEWAY_DATA_DIR"]) / "gateway.toml").write_text('log_level = "info"\n')
    token_file.unlink()
    result = run(["check-config"], env | {"GATEWAY_CONFIG": str(token_file.parent / "gateway.toml")})
    assert f"token not set (no {token_file})" in result.stdout


def test_the_data_folder_counts_the_demo_files_as_the_gateways_own(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("demo-password", "demo-token", "secret_key"):
        (data / name).write_text("x" * 32)
        (data / name).chmod(0o644)
    data.chmod(0o755)
    secure_data_dir(data, DATA_ENTRIES)
    # Nothing foreign: the folder itself is made private too, and every file in it.
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()} == {0o600}


def test_migrate_twice_is_a_no_op_the_second_time(env: dict[str, str]) -> None:
    first = run(["migrate"], env)
    assert first.returncode == 0, first.stderr
    assert ("Applied 7 migration(s): 0001 events and consent log, 0002 consent configs and sources, "
            "0003 visits at query time and hashed user id, 0004 visitors rights, 0005 undelivered grants, "
            "0006 visit summary, 0007 chart annotations." in first.stdout)
    second = run(["migrate"], env)
    assert second.returncode == 0, second.stderr
    assert "Schema is up to date (7 migrations applied earlier); nothing to do." in second.stdout


def test_migrate_against_an_unreachable_server_says_so_in_one_line(env: dict[str, str]) -> None:
    result = run(["migrate"], env | {"GATEWAY_CLICKHOUSE_URL": "http://default:@127.0.0.1:9/gw"})
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("consent-gateway: cannot reach ClickHouse at http://default@127.0.0.1:9/gw")
    assert "Traceback" not in result.stderr


def test_serve_with_json_logs_says_it_cannot_reach_clickhouse_in_json(env: dict[str, str]) -> None:
    result = run(["serve"], env | {"GATEWAY_CLICKHOUSE_URL": "http://default:@127.0.0.1:9/gw",
                                   "GATEWAY_LOG_FORMAT": "json"})
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert records[-1]["level"] == "ERROR" and "cannot reach ClickHouse" in records[-1]["message"]


def test_migrate_emit_sql_writes_the_deploy_files(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["migrate", "--emit-sql", str(tmp_path / "sql")], env)
    assert result.returncode == 0
    assert sorted(p.name for p in (tmp_path / "sql").iterdir()) == [
        "0001_events_and_consent_log.sql", "0002_consent_configs_and_sources.sql",
        "0003_visits_at_query_time_and_hashed_user_id.sql", "0004_visitors_rights.sql",
        "0005_undelivered_grants.sql", "0006_visit_summary.sql", "0007_chart_annotations.sql"]


def test_migrate_emit_sql_for_a_cluster(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["migrate", "--emit-sql", str(tmp_path / "cluster"), "--cluster", "shop"], env)
    assert result.returncode == 0, result.stderr
    first = (tmp_path / "cluster" / "0001_events_and_consent_log.sql").read_text()
    assert "CREATE TABLE IF NOT EXISTS events_local ON CLUSTER shop" in first
    embedded = run(["migrate", "--cluster", "shop"], env)  # applied ON CLUSTER: a server's work
    assert embedded.returncode == 2 and "--cluster needs a ClickHouse server URL" in embedded.stderr
    bad = run(["migrate", "--emit-sql", str(tmp_path / "bad"), "--cluster", "a b"], env)
    assert bad.returncode == 2 and "name 'a b'" in bad.stderr and "Traceback" not in bad.stderr


def test_embedded_clickhouse_refuses_several_workers(env: dict[str, str]) -> None:
    result = run(["serve", "--workers", "2"], env)
    assert result.returncode == 2
    assert "needs a ClickHouse server" in result.stderr


def test_geoip_install_if_missing_respects_a_configured_database(env: dict[str, str], city_db: Path) -> None:
    result = run(["geoip", "install", "--if-missing"], env | {"GATEWAY_GEOIP_CITY_DB": str(city_db)})
    assert result.returncode == 0, result.stderr
    assert "configured" in result.stdout and "nothing to install" in result.stdout
    assert not (Path(env["GATEWAY_DATA_DIR"]) / "geoip").exists()


def test_geoip_install_if_missing_keeps_an_installed_database(env: dict[str, str], city_db: Path) -> None:
    target = Path(env["GATEWAY_DATA_DIR"]) / "geoip" / "city.mmdb"
    target.parent.mkdir(parents=True)
    shutil.copy(city_db, target)
    result = run(["geoip", "install", "--if-missing"], env)
    assert result.returncode == 0, result.stderr
    assert f"GeoIP city database ready: {target}" in result.stdout
    assert target.read_bytes() == city_db.read_bytes()


@pytest.mark.network
@pytest.mark.parametrize("source", ["geolite2", "dbip"])
def test_geoip_install_fetches_a_real_database_into_the_default_relative_data_dir(tmp_path: Path,
                                                                                  source: str) -> None:
    # As scripts/serve runs it: no configuration, so the data folder is the relative ./data.
    result = run(["geoip", "install", "--source", source], {}, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    installed = tmp_path / "data" / "geoip" / "city.mmdb"
    assert f"GeoIP city database ready: {installed}" in result.stdout
    assert "attribution required:" in result.stdout
    again = run(["geoip", "install", "--if-missing"], {}, cwd=tmp_path)
    assert again.returncode == 0 and "ready" in again.stdout


def test_stats_rebuild_builds_the_visit_summary_of_every_closed_day_and_refuses_bad_input(
        env: dict[str, str]) -> None:
    # Directly (no gateway serves this folder); the demo site has no events: every kept closed day is
    # registered as built without visits, so dashboards read them from the summary.
    assert run(["migrate"], env).returncode == 0
    result = run(["stats", "rebuild"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("site 1: rebuilt 0 day(s) with visits and ")
    narrow = run(["stats", "rebuild", "--site", "1", "--from", "2020-01-01", "--to", "2020-01-31"], env)
    assert narrow.stdout.strip() == "site 1: rebuilt 0 day(s) with visits and 0 without"  # past retention
    for args, message in ((["--site", "9"], "unknown site 9"), (["--from", "2026-13-01"], "not a date"),
                          (["--from", "2026-02-01", "--to", "2026-01-01"], "--from must not be after --to")):
        bad = run(["stats", "rebuild", *args], env)
        assert bad.returncode == 1 and message in bad.stderr and "Traceback" not in bad.stderr
