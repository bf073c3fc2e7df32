"""How the files of deploy/ fit together, as a deployment would find out the hard way: the start order,
the proxy the gateways trust, the cluster's shards, replicas, macros and Keeper, the secrets and where
each side reads them, the probes and stop timeouts against the gateway's shutdown timeout, and every
setting each deployment gives, loaded by the gateway's own settings loader (paths mapped to a test
folder, secret files written).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.deploy_files import (
    COMPOSE,
    COMPOSE_CLUSTER,
    DEPLOY,
    DOCKERFILE,
    KUBERNETES,
    SYSTEMD_UNIT,
    final_stage,
    image_home,
    left_out_packages,
    load_all_yaml,
    load_yaml,
    xml_root,
)

SERVER = DEPLOY / "clickhouse" / "server"
GATEWAYS = ("gateway-1", "gateway-2")
SECRETS = {"secret_keys": "k" * 48, "clickhouse_password": "a-password", "metrics_token": "t" * 24}


def seconds(text: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(s|m)?", text).groups()  # type: ignore[union-attr]
    return float(number) * (60 if unit == "m" else 1)


@pytest.mark.parametrize("path", (COMPOSE, COMPOSE_CLUSTER), ids=lambda p: p.name)
def test_compose_starts_clickhouse_then_the_schema_then_the_gateways_then_caddy(path: Path) -> None:
    compose = load_yaml(path)
    services = compose["services"]
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, (name, target)
            healthcheck = services[target].get("healthcheck", {})
            if rule["condition"] == "service_healthy":
                assert healthcheck.get("test") and not healthcheck.get("disable"), (name, target)
        assert set(service.get("secrets", [])) <= set(compose["secrets"]), name
        named = {v.split(":")[0] for v in service.get("volumes", []) if not v.startswith((".", "/"))}
        assert named <= set(compose["volumes"]), name
    one_shot = "migrate" if "migrate" in services else "schema"
    assert services[one_shot]["restart"] == "no"
    for name in GATEWAYS:
        gateway = services[name]
        assert gateway["depends_on"] == {one_shot: {"condition": "service_completed_successfully"}}
        env = gateway["environment"]
        assert env["GATEWAY_MIGRATE_ON_START"] == "false"
        # Docker's stop waits longer than the gateway's own stop may take.
        assert seconds(gateway["stop_grace_period"]) > float(env["GATEWAY_SHUTDOWN_TIMEOUT"])
        # The image's HEALTHCHECK and the compose one are the same probe, on /-/live.
        assert gateway["healthcheck"]["test"] == ["CMD", *final_stage().healthcheck]
        assert "/-/live" in gateway["healthcheck"]["test"][-1]
    assert set(services["caddy"]["depends_on"]) == set(GATEWAYS)
    assert all(services[g]["environment"]["GATEWAY_INSTANCE_NAME"] == g for g in GATEWAYS)


@pytest.mark.parametrize("path", (COMPOSE, COMPOSE_CLUSTER), ids=lambda p: p.name)
def test_the_gateways_trust_caddy_alone_and_clickhouse_is_out_of_reach(path: Path) -> None:
    compose = load_yaml(path)
    services, networks = compose["services"], compose["networks"]
    caddy = services["caddy"]["networks"]["edge"]["ipv4_address"]
    subnet = ipaddress.ip_network(networks["edge"]["ipam"]["config"][0]["subnet"])
    assert ipaddress.ip_address(caddy) in subnet
    for name in GATEWAYS:
        assert services[name]["environment"]["GATEWAY_TRUSTED_PROXIES"] == f"{caddy}/32"
        assert services[name]["networks"] == ["edge", "storage"]
    assert networks["storage"]["internal"] is True
    for name, service in services.items():
        if service.get("image", "").startswith("clickhouse/"):
            assert service["networks"] == ["storage"] and "ports" not in service, name


def cluster_layout() -> dict[str, tuple[str, str]]:
    """replica host -> (shard number, host) from cluster.xml's remote_servers."""
    root = xml_root(SERVER / "cluster.xml")
    (cluster,) = list(root.find("remote_servers") or [])
    assert cluster.tag == "consent_gateway"
    layout = {}
    for number, shard in enumerate(cluster.findall("shard"), start=1):
        assert shard.findtext("internal_replication") == "true"
        for replica in shard.findall("replica"):
            layout[replica.findtext("host") or ""] = (str(number), replica.findtext("port") or "")
    return layout


def test_the_cluster_is_two_shards_of_two_replicas_with_macros_unique_per_node() -> None:
    services = load_yaml(COMPOSE_CLUSTER)["services"]
    layout = cluster_layout()
    assert sorted(shard for shard, _ in layout.values()) == ["1", "1", "2", "2"]
    replicas = []
    for host, (shard, port) in layout.items():
        node = services[host]
        assert (node["hostname"], port) == (host, "9000")
        assert node["environment"]["CLUSTER_SHARD"] == shard
        replicas.append(node["environment"]["CLUSTER_REPLICA"])
        assert any("cluster.xml:/etc/clickhouse-server/config.d/" in v for v in node["volumes"])
    assert len(set(replicas)) == 4, "{replica} must be unique across the cluster"
    macros = xml_root(SERVER / "cluster.xml").find("macros")
    assert macros is not None
    assert {m.tag: m.get("from_env") for m in macros} == {"shard": "CLUSTER_SHARD",
                                                          "replica": "CLUSTER_REPLICA"}
    # Keeper: three nodes in a Raft group, each with its own id, and every ClickHouse node knows them.
    keeper = xml_root(SERVER / "keeper.xml")
    raft = {s.findtext("hostname"): s.findtext("id") for s in keeper.iter("server")}
    assert {services[h]["environment"]["KEEPER_SERVER_ID"] for h in raft} == set(raft.values())
    assert len(raft) == 3
    zookeeper = xml_root(SERVER / "cluster.xml").find("zookeeper")
    assert zookeeper is not None
    assert {n.findtext("host") for n in zookeeper} == set(raft)
    # One cluster name everywhere: the SQL files, the script that applies them, the gateways.
    sql_clusters = {m for f in (DEPLOY / "clickhouse" / "cluster").glob("*.sql")
                    for m in re.findall(r"ON CLUSTER (\w+)", f.read_text())}
    assert sql_clusters == {"consent_gateway"}
    script = (DEPLOY / "compose" / "apply-cluster-schema.sh").read_text()
    assert 'cluster="${CLUSTER_NAME:-consent_gateway}"' in script
    for name in GATEWAYS:
        env = services[name]["environment"]
        assert env["GATEWAY_CLICKHOUSE_CLUSTER"] == "consent_gateway"
        hosts = re.findall(r"@([\w-]+):8123/gateway", env["GATEWAY_CLICKHOUSE_URL"])
        assert sorted(hosts) == sorted(layout)
    schema = services["schema"]
    assert set(schema["depends_on"]) == set(layout)
    assert "../clickhouse/cluster:/consent-gateway/schema:ro" in schema["volumes"]


def test_clickhouse_takes_the_gateway_password_from_the_secret_and_nowhere_else() -> None:
    users = xml_root(SERVER / "users.xml").find("users")
    assert users is not None
    gateway = users.find("gateway")
    assert gateway is not None
    password = gateway.find("password")
    assert password is not None and not (password.text or "").strip()
    wrapper = (SERVER / "clickhouse-entrypoint.sh").read_text()
    assert f"export {password.get('from_env')}" in wrapper
    # The stock user answers the operator inside the container only.
    default = users.find("default")
    assert default is not None
    networks = default.find("networks")
    assert networks is not None and networks.get("replace") == "replace"
    assert [ip.text for ip in networks] == ["127.0.0.1", "::1"]
    grants = " ".join(q.text or "" for q in gateway.iter("query"))
    for path in (COMPOSE, COMPOSE_CLUSTER):
        for name in GATEWAYS:
            url = load_yaml(path)["services"][name]["environment"]["GATEWAY_CLICKHOUSE_URL"]
            assert set(re.findall(r"//(\w+)@[^/]+/(\w+)", url)) == {("gateway", "gateway")}
    assert "ON gateway.*" in grants


def test_no_secret_is_written_into_clickhouses_preprocessed_configs() -> None:
    # ClickHouse saves every configuration it loads, from_env values filled in, under
    # /var/lib/clickhouse/preprocessed_configs/; hide_in_preprocessed="true" leaves an element out.
    exported = set(re.findall(r"^\s*export (\w+)$", (SERVER / "clickhouse-entrypoint.sh").read_text(), re.M))
    assert exported == {"CONSENT_GATEWAY_CLICKHOUSE_PASSWORD", "CONSENT_GATEWAY_CLUSTER_SECRET"}
    hidden = {}
    for name in ("users.xml", "cluster.xml", "keeper.xml"):
        for element in xml_root(SERVER / name).iter():
            if element.get("from_env") in exported:
                hidden[element.get("from_env")] = (element.tag, element.get("hide_in_preprocessed"))
    assert hidden == {"CONSENT_GATEWAY_CLICKHOUSE_PASSWORD": ("password", "true"),
                      "CONSENT_GATEWAY_CLUSTER_SECRET": ("secret", "true")}


def test_the_images_are_pinned_and_the_cluster_runs_one_clickhouse_version() -> None:
    images = {s["image"] for p in (COMPOSE, COMPOSE_CLUSTER) for s in load_yaml(p)["services"].values()
              if not s["image"].startswith("${")}
    for image in images:
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+(\.\d+)?", image), image
    versions = {image.split(":")[1] for image in images if image.startswith("clickhouse/")}
    assert len(versions) == 1, versions


def test_the_image_seed_volume_and_user_are_where_the_others_expect_them() -> None:
    text = DOCKERFILE.read_text()
    seed = re.search(r"COPY --from=build /seed/geoip (\S+)", text)
    assert seed is not None
    entrypoint = (DEPLOY / "docker" / "entrypoint.sh").read_text()
    assert f"CONSENT_GATEWAY_GEOIP_SEED:-{seed.group(1)}" in entrypoint
    data_dir = final_stage().env["GATEWAY_DATA_DIR"]
    # The image makes both folders, owned by its user: a new named volume mounted there takes that.
    assert re.search(rf"install -d -o consent-gateway .*\s+{data_dir} {data_dir}/geoip\n", text)
    for path in (COMPOSE, COMPOSE_CLUSTER):
        assert f"geoip:{data_dir}/geoip" in load_yaml(path)["x-gateway"]["volumes"]
    (pod,) = [d for d in load_all_yaml(KUBERNETES / "statefulset.yaml")]
    assert pod["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(
        re.search(r"--uid (\d+)", text).group(1))  # type: ignore[union-attr]


def test_the_service_users_homes_are_not_their_data_folders() -> None:
    # The gateway leaves a data folder that is its user's HOME as it is (a shared folder), so each
    # user's home, from which Docker, Kubernetes and systemd set HOME, lies outside it.
    data_dir = final_stage().env["GATEWAY_DATA_DIR"]
    assert not f"{image_home()}/".startswith(f"{data_dir}/")
    unit = SYSTEMD_UNIT.read_text()
    state = re.search(r"^StateDirectory=(\S+)$", unit, re.M)
    cache = re.search(r"^CacheDirectory=(\S+)$", unit, re.M)
    assert state is not None and cache is not None
    sysusers = (DEPLOY / "systemd" / "consent-gateway.sysusers.conf").read_text()
    (line,) = [shlex.split(text) for text in sysusers.splitlines() if text.startswith("u ")]
    assert re.search(rf"^User={line[1]}$", unit, re.M)
    # The home is the unit's cache folder, where npm keeps its cache when `geoip install` uses it.
    assert line[4] == f"/var/cache/{cache.group(1)}" != f"/var/lib/{state.group(1)}"


def test_a_first_start_has_as_long_for_its_geoip_download_everywhere() -> None:
    # systemd's ExecStartPre and Kubernetes' startupProbe both wait for `geoip install --if-missing`.
    probe = load_yaml(KUBERNETES / "statefulset.yaml")["spec"]["template"]["spec"]["containers"][0][
        "startupProbe"]
    timeout = re.search(r"^TimeoutStartSec=(\d+)min$", SYSTEMD_UNIT.read_text(), re.M)
    assert timeout is not None
    assert int(timeout.group(1)) * 60 >= probe["periodSeconds"] * probe["failureThreshold"]


def runtime_closure() -> dict[str, set[str]]:
    """Each installed distribution in consent-gateway's run-time dependencies -> who requires it."""
    required_by: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [("consent-gateway", frozenset())]
    seen = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            wanted = requires(name) or []
        except PackageNotFoundError:
            continue
        for line in wanted:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker and not any(marker.evaluate({"extra": extra}) for extra in extras | {""}):
                continue
            child = canonicalize_name(requirement.name)
            required_by.setdefault(child, set()).add(canonicalize_name(name))
            todo.append((child, frozenset(requirement.extras)))
    return required_by


def test_the_image_leaves_out_embedded_clickhouse_and_only_what_nothing_else_needs() -> None:
    left_out = {"chdb-core" if name == "chdb" else name for name in left_out_packages()}
    closure = runtime_closure()
    for name in left_out:
        assert closure[name] <= left_out | {"consent-gateway"}, (name, closure[name])
    assert closure["chdb-core"] == {"consent-gateway"}


# Answers as clickhouse-client would for the calls apply-cluster-schema.sh makes, and records them:
# the versions a file's INSERT INTO schema_migrations records are what the next query reads back.
FAKE_CLIENT = """#!{python}
import os, pathlib, re, sys
state = pathlib.Path(os.environ["FAKE_CLICKHOUSE_STATE"])
versions = state / "versions"
known = sorted(int(v) for v in versions.read_text().split()) if versions.exists() else []
args = sys.argv[1:]
with (state / "calls").open("a") as calls:
    if "--query" in args:
        query = args[args.index("--query") + 1]
        if "FROM schema_migrations" in query:
            print(" ".join(f"{{v:04d}}" for v in known))
        else:
            calls.write("query " + query + "\\n")
    else:
        sql = sys.stdin.read()
        calls.write("file " + sql.splitlines()[0] + "\\n")
        found = [int(v) for v in re.findall(r"INSERT INTO schema_migrations .*VALUES \\((\\d+),", sql)]
        versions.write_text(" ".join(str(v) for v in sorted(set(known + found))))
"""


def test_the_cluster_schema_script_applies_each_file_once(tmp_path: Path) -> None:
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    client = bin_folder / "clickhouse-client"
    client.write_text(FAKE_CLIENT.format(python=sys.executable))
    client.chmod(0o755)
    (tmp_path / "password").write_text("a-password\n")
    env = {"PATH": f"{bin_folder}:/usr/bin:/bin", "FAKE_CLICKHOUSE_STATE": str(tmp_path),
           "CLUSTER_SCHEMA_DIR": str(DEPLOY / "clickhouse" / "cluster"),
           "CLUSTER_PASSWORD_FILE": str(tmp_path / "password")}
    files = sorted((DEPLOY / "clickhouse" / "cluster").glob("*.sql"))
    script = DEPLOY / "compose" / "apply-cluster-schema.sh"
    for run in (1, 2):
        (tmp_path / "calls").write_text("")
        done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stderr
        calls = (tmp_path / "calls").read_text().splitlines()
        assert calls[0] == "query CREATE DATABASE IF NOT EXISTS gateway ON CLUSTER consent_gateway"
        applied = [line.split()[3] for line in calls[1:]]  # "file -- Migration 0004 for the cluster..."
        # The first run applies every file in order; the next only the table's CREATE IF NOT EXISTS.
        expected = files if run == 1 else files[:1]
        assert applied == [f.name[:4] for f in expected], calls
