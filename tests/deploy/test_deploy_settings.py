"""Every deployment's settings, loaded by the gateway's own loader as each platform would hand them over
(compose environment and secrets, a Kubernetes ConfigMap, Secret and pod spec, a systemd unit with its
EnvironmentFile and credentials), with only their paths moved to a test folder; then what each platform
does around the gateway measured against those settings: stop timeouts, probes, proxies, volumes. The
Kubernetes dashboard users: a Secret the operator makes from a copy changed with the gateway's own
commands, projected on the pods as the kubelet does, a new version taken up without a restart.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.config.settings import Settings, load_settings
from gateway.dashboard.users import UserStore, users_path
from tests.support.deploy_files import (
    COMPOSE,
    COMPOSE_CLUSTER,
    DEPLOY,
    KUBERNETES,
    SYSTEMD_ENV,
    SYSTEMD_UNIT,
    Container,
    final_stage,
    load_all_yaml,
    load_yaml,
)

SECRETS = {"secret_keys": "k" * 48, "clickhouse_password": "a-password", "metrics_token": "t" * 24,
           "cluster_secret": "c" * 32}


def image_env(paths: dict[str, Path]) -> dict[str, str]:
    """The Dockerfile's ENV (PATH aside), its paths moved."""
    env = {}
    for name, value in final_stage().env.items():
        if name != "PATH":
            env[name] = next((str(paths[p]) + value[len(p):] for p in paths if value.startswith(p)), value)
    return env


def write_secrets(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(SECRETS[name] + "\n")


COMPOSE_SERVICES = [(COMPOSE, "gateway-1"), (COMPOSE, "migrate"), (COMPOSE_CLUSTER, "gateway-1"),
                    (COMPOSE_CLUSTER, "gateway-2")]


@pytest.mark.parametrize(("path", "service"), COMPOSE_SERVICES,
                         ids=lambda v: v.name if isinstance(v, Path) else v)
def test_compose_settings_load(path: Path, service: str, tmp_path: Path) -> None:
    spec = load_yaml(path)["services"][service]
    container = Container(tmp_path, path, spec)
    write_secrets(tmp_path / "secrets", spec["secrets"])
    settings = load_settings(image_env({"/var/lib/consent-gateway": tmp_path / "data"})
                             | container.environment({}))
    assert settings.secret_keys == (SECRETS["secret_keys"],)
    assert settings.metrics_token == SECRETS["metrics_token"]
    target = settings.clickhouse_target
    assert (target.username, target.password, target.database) == ("gateway", "a-password", "gateway")
    assert not settings.migrate_on_start
    assert not settings.demo  # the sites of gateway.toml, not the demo site
    if path == COMPOSE_CLUSTER:
        assert target.cluster == "consent_gateway" and len(target.servers) == 4


def kubernetes(kind: str, name: str) -> dict[str, Any]:
    for file in load_yaml(KUBERNETES / "kustomization.yaml")["resources"]:
        for document in load_all_yaml(KUBERNETES / file):
            if (document["kind"], document["metadata"]["name"]) == (kind, name):
                return document  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} {name}")


def pod_settings(pod: dict[str, Any], tmp_path: Path, container: dict[str, Any] | None = None) -> Settings:
    """The settings of ``container`` (the pod's only one by default): envFrom ConfigMaps, then env,
    mounts moved here. The Secrets kustomize generates get their files; another stays empty."""
    if container is None:
        (container,) = pod["containers"]
    mounts = {m["mountPath"]: tmp_path / m["name"] for m in container["volumeMounts"]}
    for volume in pod["volumes"]:
        folder = tmp_path / volume["name"]
        folder.mkdir(parents=True, exist_ok=True)
        if "configMap" in volume:
            for key, text in kubernetes("ConfigMap", volume["configMap"]["name"])["data"].items():
                (folder / key).write_text(text)
        elif "secret" in volume:
            generated = load_yaml(KUBERNETES / "kustomization.yaml")["secretGenerator"]
            files = [s["files"] for s in generated if s["name"] == volume["secret"]["secretName"]]
            write_secrets(folder, [entry.split("=")[0] for entry in files[0]] if files else [])
    env = image_env({"/var/lib/consent-gateway": tmp_path / "data"})
    for source in container.get("envFrom", []):
        env |= kubernetes("ConfigMap", source["configMapRef"]["name"])["data"]
    env |= {e["name"]: e["value"] for e in container.get("env", [])}
    for name, value in env.items():
        for mount, folder in mounts.items():
            if value.startswith(mount + "/"):
                env[name] = str(folder) + value[len(mount):]
    return load_settings(env)


def test_the_kubernetes_pods_load_their_settings_probe_separately_and_stop_in_time(tmp_path: Path) -> None:
    statefulset = kubernetes("StatefulSet", "consent-gateway")
    pod = statefulset["spec"]["template"]["spec"]
    settings = pod_settings(pod, tmp_path / "gateway")
    assert settings.secret_keys == (SECRETS["secret_keys"],) and not settings.migrate_on_start
    (container,) = pod["containers"]
    # Readiness and liveness on separate endpoints; liveness never asks ClickHouse.
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/-/live"
    ports = {p["name"] for p in container["ports"]}
    assert all(container[p]["httpGet"]["port"] in ports for p in ("readinessProbe", "livenessProbe"))
    pause = float(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] > pause + settings.shutdown_timeout
    # The spool lives on a volume of the pod's own that outlives it.
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    data = next(m for m in container["volumeMounts"] if m["name"] == claim["metadata"]["name"])
    assert data["mountPath"] == final_stage().env["GATEWAY_DATA_DIR"]
    assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Retain"
    assert "replicas" not in statefulset["spec"]  # the autoscaler's
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert pod["securityContext"]["runAsNonRoot"]
    # Service links would add variables such as GATEWAY_PORT (a Service named `gateway`): refused.
    assert pod["enableServiceLinks"] is False
    # Each pod migrates before its gateway starts (no Job: its pod template cannot change, so an
    # apply with a new image failed while the finished Job was kept), on the same ClickHouse.
    (migrate,) = pod["initContainers"]
    assert (migrate["image"], migrate["args"]) == (container["image"], ["migrate"])
    migrating = pod_settings(pod, tmp_path / "migrate", migrate)
    assert migrating.clickhouse_target == settings.clickhouse_target
    assert migrate["securityContext"] == container["securityContext"]
    assert not any(kubernetes_kinds("Job"))


def project(mount: Path, files: dict[str, bytes], version: int) -> None:
    """Put ``files`` into ``mount`` as the kubelet does a Secret volume's: a folder per version,
    ``..data`` linked to the current one (swapped in one rename), each file a link through it."""
    folder = mount / f"..version-{version}"
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
        if not (mount / name).is_symlink():
            (mount / name).symlink_to(Path("..data") / name)
    (mount / "..data.tmp").symlink_to(folder.name)
    (mount / "..data.tmp").rename(mount / "..data")


def test_every_pod_reads_the_users_of_one_secret_and_sees_a_new_version(tmp_path: Path) -> None:
    pod = kubernetes("StatefulSet", "consent-gateway")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    settings = pod_settings(pod, tmp_path / "pod")
    # The users file is in a Secret volume mounted whole and read-only (a subPath mount never sees a
    # new version), not on the pod's own claim, which a pod added by the autoscaler starts without.
    mount = next(m for m in container["volumeMounts"] if str(settings.users_file).startswith(
        str(tmp_path / "pod" / m["name"]) + "/"))
    assert mount["readOnly"] and "subPath" not in mount
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "consent-gateway-users"
    generated = {g["name"] for g in load_yaml(KUBERNETES / "kustomization.yaml")["secretGenerator"]}
    assert "consent-gateway-users" not in generated  # an apply must not bring back an old version
    # The operator's copy, changed with the gateway's own commands as deploy/README.md says.
    local = tmp_path / "operator"
    local.mkdir()
    sites = kubernetes("ConfigMap", "consent-gateway-sites")["data"]["gateway.toml"]
    (local / "gateway.toml").write_text(sites)
    env = {name: value for name, value in os.environ.items() if not name.startswith("GATEWAY_")}
    env |= {"GATEWAY_USERS_FILE": str(local / "users.json"), "GATEWAY_CONFIG": str(local / "gateway.toml")}
    command = [str(Path(sys.executable).parent / "consent-gateway")]

    def run(*args: str, stdin: str = "") -> str:
        done = subprocess.run([*command, *args], env=env, input=stdin, capture_output=True, text=True,
                              timeout=60, check=False, cwd=local)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("users", "add", "admin", "--role", "admin", "--password-stdin", stdin="a-long-password-1\n")
    created = run("share", "create", "--site", "1", "--label", "agency")
    link = re.search(r"share link (\w+)", created)
    key = re.search(r"key=(\S+)", created)
    assert link is not None and key is not None
    # `kubectl create secret ... | kubectl apply -f -`, then the kubelet's projection on every pod.
    served = Path(str(settings.users_file)).parent
    project(served, {"users.json": (local / "users.json").read_bytes()}, 1)
    store = UserStore(users_path(settings))  # as a serving gateway keeps it
    assert store.verify("admin", "a-long-password-1") is not None
    assert store.find_share(key.group(1)) is not None
    # A link revoked in the copy is gone on the pods once the new version is projected.
    run("share", "revoke", link.group(1))
    project(served, {"users.json": (local / "users.json").read_bytes()}, 2)
    assert store.find_share(key.group(1)) is None
    assert store.get("admin") is not None


def kubernetes_kinds(kind: str) -> list[dict[str, Any]]:
    return [document for file in load_yaml(KUBERNETES / "kustomization.yaml")["resources"]
            for document in load_all_yaml(KUBERNETES / file) if document["kind"] == kind]


def test_the_kubernetes_pods_trust_the_ingress_pods_alone(tmp_path: Path) -> None:
    pod = kubernetes("StatefulSet", "consent-gateway")["spec"]["template"]["spec"]
    settings = pod_settings(pod, tmp_path)
    # Pod ranges of a few nodes (a /24 each, as most clusters give a node), never a block as wide as
    # the ones nodes take their own addresses from: a node's traffic comes from the node's address.
    assert settings.trusted_proxies
    assert all(network.prefixlen >= (24 if network.version == 4 else 64)
               for network in settings.trusted_proxies), settings.trusted_proxies


def test_the_kubernetes_objects_point_at_each_other() -> None:
    statefulset = kubernetes("StatefulSet", "consent-gateway")
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert kubernetes("PodDisruptionBudget", "consent-gateway")["spec"]["selector"]["matchLabels"].items() \
        <= labels.items()
    headless = kubernetes("Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    for service in (headless, kubernetes("Service", "consent-gateway")):
        assert service["spec"]["selector"].items() <= labels.items()
        assert all(p["targetPort"] == "http" for p in service["spec"]["ports"])
    autoscaler = kubernetes("HorizontalPodAutoscaler", "consent-gateway")
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert autoscaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                                    "name": "consent-gateway"}
    assert autoscaler["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert autoscaler["spec"]["minReplicas"] >= 2


def unit_lines(key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in SYSTEMD_UNIT.read_text().splitlines()
            if line.startswith(f"{key}=")]


def test_the_systemd_unit_loads_its_settings_and_stops_after_the_gateway(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    names = [spec.split(":")[0] for spec in unit_lines("LoadCredential")]
    write_secrets(credentials, names)
    env = dict(line.split("=", 1) for line in unit_lines("Environment"))
    env |= dict(line.split("=", 1) for line in SYSTEMD_ENV.read_text().splitlines()
                if line and not line.startswith("#"))
    assert unit_lines("EnvironmentFile") == [f"/etc/consent-gateway/{SYSTEMD_ENV.name}"]
    state = unit_lines("StateDirectory")[0]
    moved = {"%d": str(credentials), f"/var/lib/{state}": str(tmp_path / "state"),
             # The unit's sites file is the operator's; the compose example stands in for it.
             "/etc/consent-gateway/gateway.toml": str(DEPLOY / "compose" / "gateway.toml")}
    for name, value in env.items():
        for old, new in moved.items():
            value = value.replace(old, new)
        env[name] = value
    # Each credential is read through its *_FILE setting, and each *_FILE names a credential.
    assert {v.split("/")[-1] for k, v in env.items() if k.endswith("_FILE") and str(credentials) in v} \
        == set(names)
    settings = load_settings(env)
    assert settings.metrics_token == SECRETS["metrics_token"]
    assert float(unit_lines("TimeoutStopSec")[0]) > settings.shutdown_timeout
    # The proxies on this host reach the gateway where it listens, and it believes them.
    listen = re.search(r"--host (\S+) --port (\d+)", unit_lines("ExecStart")[0])
    assert listen is not None
    address = f"{listen.group(1)}:{listen.group(2)}"
    assert f"server {address};" in (DEPLOY / "nginx" / "consent-gateway.conf").read_text()
    assert f"reverse_proxy {address} {{" in (DEPLOY / "caddy" / "Caddyfile").read_text()
    assert any(listen.group(1) in str(network) for network in settings.trusted_proxies)
