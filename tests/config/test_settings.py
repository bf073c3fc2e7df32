"""Settings: defaults, precedence, validation errors that name the key, secret key generation, the demo
site's token."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config.settings import (
    DEMO_TOKEN_FILE,
    FIELDS,
    ConfigError,
    describe,
    ensure_secret_keys,
    load_settings,
    reference_markdown,
)
from gateway.config.sites import DEMO_SITE
from tests.conftest import SettingsFactory

SITE = """
[[sites]]
id = 7
name = "Parts catalogue"
origins = ["https://www.example.cn", "https://*.example.com"]
timezone = "Asia/Shanghai"
retention_days = 180
policy_version = "2026-03"
token = "t0ken-that-is-long-enough-1234"
"""


def test_defaults_give_embedded_clickhouse_and_the_demo_site(make_settings: SettingsFactory,
                                                             tmp_path: Path) -> None:
    settings = make_settings()
    assert settings.effective_clickhouse_url == f"chdb://{(tmp_path / 'data' / 'clickhouse').resolve()}"
    assert settings.city_db_path == tmp_path / "data" / "geoip" / "city.mmdb"
    assert settings.trusted_proxies == ()
    assert settings.migrate_on_start is True
    [demo] = settings.sites
    assert demo.id == 1
    assert demo.allows_origin("http://localhost:3000")
    assert demo.allows_origin("http://127.0.0.1:8000")
    assert not demo.allows_origin("https://evil.example")


def test_environment_overrides_the_file(make_settings: SettingsFactory) -> None:
    settings = make_settings({"GATEWAY_WRITER_BATCH_SIZE": "42"},
                             toml='writer_batch_size = 7\nlog_level = "debug"\n' + SITE)
    assert settings.writer_batch_size == 42
    assert settings.log_level == "debug"
    [site] = settings.sites
    assert (site.id, site.timezone, site.retention_days, site.policy_version) == (
        7, "Asia/Shanghai", 180, "2026-03")
    assert site.proof_days == 1095  # 3 years by default; longer when retention and lifetime add up to more
    longer = make_settings(toml=SITE.replace("retention_days = 180", "retention_days = 3000"))
    assert longer.sites[0].proof_days == 3000 + 182
    assert site.allows_origin("https://shop.example.com")
    assert not site.allows_origin("https://example.com")  # a wildcard means sub-domains only
    assert site.allows_origin("https://www.example.cn:443")
    assert not site.allows_origin("http://www.example.cn")


def test_lists_parse_from_env_and_toml(make_settings: SettingsFactory) -> None:
    settings = make_settings({"GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, 2001:db8::/32"})
    assert settings.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"),
                                        ipaddress.ip_network("2001:db8::/32"))
    keys = ["k" * 32, "j" * 40]
    assert make_settings(toml=f"secret_keys = {keys!r}".replace("'", '"')).secret_keys == tuple(keys)


@pytest.mark.parametrize(("env", "toml", "names"), [
    ({"GATEWAY_WRITER_BATCH_SIZE": "many"}, None, "GATEWAY_WRITER_BATCH_SIZE"),
    ({"GATEWAY_MIGRATE_ON_START": "perhaps"}, None, "GATEWAY_MIGRATE_ON_START"),
    ({"GATEWAY_TRUSTED_PROXIES": "10.0.0.0/33"}, None, "GATEWAY_TRUSTED_PROXIES"),
    ({"GATEWAY_SECRET_KEYS": "short"}, None, "GATEWAY_SECRET_KEYS"),
    ({"GATEWAY_LOG_LEVEL": "loud"}, None, "GATEWAY_LOG_LEVEL"),
    ({"GATEWAY_CLICKHOUS_URL": "x"}, None, "GATEWAY_CLICKHOUS_URL"),
    ({}, "writer_flush_interval = -1", "writer_flush_interval"),
    ({}, "colour = 'blue'", "colour"),
    ({}, "[[sites]]\nid = 1\n", "sites[0].origins"),
    ({}, SITE.replace('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"'), "sites[0].timezone"),
    ({}, SITE.replace('"https://www.example.cn", ', '"ftp://x", '), "sites[0].origins"),
    ({}, SITE.replace("retention_days = 180", "retention_days = 0"), "sites[0].retention_days"),
    # Proof outlives the data it proves: at least retention_days + consent_lifetime_days (182).
    ({}, SITE + "proof_days = 361\n", r"sites[0].proof_days: must be 362..4046"),
    ({}, SITE + "proof_days = 5000\n", "sites[0].proof_days"),
    ({}, SITE.replace('token = "t0ken-that-is-long-enough-1234"', 'token = "abc"'), "sites[0].token"),
    ({}, SITE + 'colour = "red"\n', "sites[0].colour"),
    ({}, SITE + SITE, "id 7 is used twice"),
    ({}, "this is not toml", "not valid TOML"),
])
def test_bad_configuration_fails_naming_the_key(make_settings: SettingsFactory, env: dict[str, str],
                                                toml: str | None, names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace("[", r"\[").replace("]", r"\]")):
        make_settings(env, toml)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_CONFIG: cannot read"):
        load_settings({"GATEWAY_CONFIG": str(tmp_path / "absent.toml")})


def test_secret_key_is_generated_once_and_kept_private(make_settings: SettingsFactory,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings()
    first = ensure_secret_keys(settings)
    second = ensure_secret_keys(make_settings())
    assert first.secret_keys == second.secret_keys
    assert len(first.secret_keys[0]) >= 32
    key_file = settings.data_dir / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "Production must set GATEWAY_SECRET_KEYS" in caplog.text
    configured = make_settings({"GATEWAY_SECRET_KEYS": "a" * 32})
    assert ensure_secret_keys(configured).secret_keys == ("a" * 32,)


def test_check_config_says_whether_the_generated_key_exists_yet(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    key_file = settings.data_dir / "secret_key"
    shown = {env: value for env, value, _ in describe(settings)}
    assert shown["GATEWAY_SECRET_KEYS"] == f"(generated on first serve in {key_file})"
    ensure_secret_keys(settings)
    shown = {env: value for env, value, _ in describe(settings)}
    assert shown["GATEWAY_SECRET_KEYS"] == f"(generated in {key_file})"


def test_describe_redacts_every_secret(make_settings: SettingsFactory) -> None:
    settings = make_settings({"GATEWAY_SECRET_KEYS": "s3cret" * 6,
                              "GATEWAY_CLICKHOUSE_URL": "https://writer:pa55word@ch.internal:8443/gw"},
                             toml=SITE)
    text = "\n".join(f"{env}={value}" for env, value, _ in describe(settings))
    assert "s3cret" not in text and "pa55word" not in text
    assert "GATEWAY_CLICKHOUSE_URL=https://writer:<redacted>@ch.internal:8443/gw" in text
    assert "t0ken" not in repr(settings)


def test_the_configuration_reference_documents_every_setting_as_declared() -> None:
    reference = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = reference.split("<!-- settings:start -->\n")[1].split("<!-- settings:end -->")[0]
    regenerate = "python -c 'import gateway.config.settings as s; print(s.reference_markdown())'"
    assert section == reference_markdown(), f"docs/configuration.md is stale: paste `{regenerate}`"
    assert all(f.help for f in FIELDS)


def test_configuration_errors_never_print_a_secret(make_settings: SettingsFactory) -> None:
    leaked = "THIS-IS-MY-REAL-SECRET-KEY-0123456789"
    for toml in (f'secret_keys = ["{leaked}", 5]', SITE.replace('"t0ken-that-is-long-enough-1234"', "12345")):
        with pytest.raises(ConfigError) as caught:
            make_settings(toml=toml)
        assert leaked not in str(caught.value) and "12345" not in str(caught.value)
        assert "not shown" in str(caught.value)


DEMO_TOKEN = "demo-token-from-scripts-serve-0123"


def test_the_demo_site_takes_the_token_scripts_serve_wrote(make_settings: SettingsFactory,
                                                           tmp_path: Path) -> None:
    settings = make_settings()
    assert settings.demo and settings.sites == (DEMO_SITE,)
    token_file = tmp_path / "data" / DEMO_TOKEN_FILE
    token_file.parent.mkdir()
    token_file.write_text(DEMO_TOKEN + "\n")
    [demo] = make_settings().sites
    assert demo.token == DEMO_TOKEN and (demo.id, demo.origins) == (DEMO_SITE.id, DEMO_SITE.origins)
    assert make_settings(toml="log_level = 'debug'\n").sites == (demo,)  # a file without [[sites]]
    configured = make_settings(toml=SITE)  # its own sites: the demo site, and its token, are gone
    assert not configured.demo and [s.id for s in configured.sites] == [7]


def test_a_damaged_demo_token_is_named_never_shown(make_settings: SettingsFactory, tmp_path: Path) -> None:
    token_file = tmp_path / "data" / DEMO_TOKEN_FILE
    token_file.parent.mkdir()
    token_file.write_text("half-a-token\n")
    with pytest.raises(ConfigError, match=f"^{token_file}: not a site token") as caught:
        make_settings()
    assert "half-a-token" not in str(caught.value)


def test_the_demo_token_opens_the_demo_sites_stats_api(make_settings: SettingsFactory, clickhouse_url: str,
                                                       city_db: Path, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / DEMO_TOKEN_FILE).write_text(DEMO_TOKEN + "\n")
    settings = make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url,
                              "GATEWAY_GEOIP_CITY_DB": str(city_db)})
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        assert client.get("/demo/").status_code == 200  # still the demo, with its page
        api = "/dashboard/1.json?period=7d"
        assert client.get(api, headers={"Authorization": f"Bearer {DEMO_TOKEN}"}).status_code == 200
        assert client.get(api).status_code == 401
        assert client.get(api, headers={"Authorization": f"Bearer {DEMO_TOKEN[::-1]}"}).status_code == 401


def test_secrets_come_from_files_as_docker_kubernetes_and_systemd_mount_them(
        make_settings: SettingsFactory, tmp_path: Path) -> None:
    keys = tmp_path / "secret_keys"
    keys.write_text("k" * 40 + "," + "o" * 40 + "\n")
    password = tmp_path / "clickhouse_password"
    password.write_text("pa55 word with spaces\n")  # kept as written, but for the final newline
    settings = make_settings({"GATEWAY_SECRET_KEYS_FILE": str(keys),
                              "GATEWAY_CLICKHOUSE_URL": "https://writer:old@ch1:8443/gw,https://writer:old@ch2/gw",
                              "GATEWAY_CLICKHOUSE_PASSWORD_FILE": str(password),
                              "GATEWAY_CLICKHOUSE_CLUSTER": "consent_gateway"}, toml=SITE)
    assert settings.secret_keys == ("k" * 40, "o" * 40)
    target = settings.clickhouse_target
    assert (target.password, target.cluster, target.servers) == (
        "pa55 word with spaces", "consent_gateway", (("ch1", 8443), ("ch2", 8443)))
    shown = {env: value for env, value, _ in describe(settings)}
    assert shown["GATEWAY_CLICKHOUSE_URL"] == "https://writer:<redacted>@ch1:8443/gw,https://writer:<redacted>@ch2/gw"
    assert shown["GATEWAY_CLICKHOUSE_PASSWORD"] == "<redacted>"


def test_a_secret_file_that_cannot_be_used_is_a_named_error_that_never_shows_the_value(
        make_settings: SettingsFactory, tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("hunter2\n")
    with pytest.raises(ConfigError) as caught:
        make_settings({"GATEWAY_SECRET_KEYS_FILE": str(short),
                       "GATEWAY_CLICKHOUSE_PASSWORD_FILE": str(tmp_path / "missing"),
                       "GATEWAY_LOG_LEVEL": "info", "GATEWAY_LOG_LEVEL_FILE": str(short),
                       "GATEWAY_CLICKHOUSE_CLUSTER": "consent_gateway"})
    problems = "\n".join(caught.value.problems)
    assert "hunter2" not in problems
    assert f"GATEWAY_CLICKHOUSE_PASSWORD_FILE: cannot read {tmp_path / 'missing'}" in problems
    assert "GATEWAY_LOG_LEVEL_FILE: GATEWAY_LOG_LEVEL is set too" in problems
    assert "GATEWAY_SECRET_KEYS_FILE: key #1 is shorter than 32 characters" in problems
    assert "GATEWAY_CLICKHOUSE_CLUSTER: a cluster needs server URLs" in problems
    assert "unknown" not in problems  # *_FILE names are known settings


def test_a_secret_file_holds_one_key_per_line_and_an_empty_one_is_refused(
        make_settings: SettingsFactory, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("a" * 40 + "\r\n" + "b" * 40 + "\r\n")
    assert make_settings({"GATEWAY_SECRET_KEYS_FILE": str(keys)}).secret_keys == ("a" * 40, "b" * 40)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError) as caught:  # not "no keys": every instance would make its own
        make_settings({"GATEWAY_SECRET_KEYS_FILE": str(empty)})
    assert list(caught.value.problems) == [f"GATEWAY_SECRET_KEYS_FILE: {empty} is empty"]


def test_a_comma_in_a_clickhouse_password_is_a_password_not_a_second_server(
        make_settings: SettingsFactory) -> None:
    settings = make_settings({"GATEWAY_CLICKHOUSE_URL": "https://gw:pa,ss@ch1/gw, https://gw:pa,ss@ch2/gw"})
    target = settings.clickhouse_target
    assert (target.password, target.servers) == ("pa,ss", (("ch1", 8443), ("ch2", 8443)))
    shown = {env: value for env, value, _ in describe(settings)}["GATEWAY_CLICKHOUSE_URL"]
    assert shown == "https://gw:<redacted>@ch1/gw,https://gw:<redacted>@ch2/gw" and "ss" not in shown


def test_a_ca_file_must_exist_and_serve_https(make_settings: SettingsFactory, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings({"GATEWAY_CLICKHOUSE_URL": "http://ch/gw",
                       "GATEWAY_CLICKHOUSE_CA_FILE": str(tmp_path / "ca.pem")})
    assert list(caught.value.problems) == [
        f"GATEWAY_CLICKHOUSE_CA_FILE: no such file: {tmp_path / 'ca.pem'}",
        "GATEWAY_CLICKHOUSE_CA_FILE: only https:// ClickHouse URLs use a CA file"]
