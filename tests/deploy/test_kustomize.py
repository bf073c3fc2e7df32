"""deploy/kubernetes/ as `kubectl kustomize` builds it (offline, with the Secret's files written); the
documented commands that make and read the dashboard users' Secret, run offline (`--dry-run=client`,
`--local`); and the runbook for the hits left on a removed pod's claim (runbook/drain-claim.sh) run
against a recording stand-in for kubectl that answers from that build, as the cluster would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploy_files import KUBERNETES, ROOT, load_yaml, tool

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
DRAIN = KUBERNETES / "runbook" / "drain-claim.sh"

# Answers the calls drain-claim.sh makes as a cluster with the built objects would, and records them.
FAKE_KUBECTL = """#!{python}
import os, pathlib, subprocess, sys
args = sys.argv[1:]
state = pathlib.Path(os.environ["FAKE_KUBECTL_STATE"])
with (state / "calls").open("a") as calls:
    calls.write(" ".join(args) + "\\n")
if args[:2] in (["get", "pvc"], ["get", "pod"]):
    found = args[2] in os.environ["FAKE_KUBECTL_OBJECTS"].split()
    sys.exit(0 if found else f"Error from server (NotFound): {{args[1]}} {{args[2]!r}} not found")
if args[:3] == ["get", "statefulset", "consent-gateway"]:
    # The real kubectl evaluates the JSONPath on the StatefulSet kustomize built, offline.
    template = args[args.index("-o") + 1]
    sys.exit(subprocess.run([os.environ["REAL_KUBECTL"], "annotate", "--local", "-f",
                             os.environ["BUILT_STATEFULSET"], "checked=yes", "-o", template]).returncode)
if args == ["apply", "-f", "-"]:
    (state / "applied.yaml").write_text(sys.stdin.read())
    sys.exit(0)
sys.exit(f"unexpected kubectl call: {{args}}")
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> object, as `kubectl kustomize` builds the folder once its secrets/ are written."""
    assert KUBECTL is not None
    folder = tmp_path_factory.mktemp("kubernetes") / "kubernetes"
    shutil.copytree(KUBERNETES, folder)
    for entry in load_yaml(KUBERNETES / "kustomization.yaml")["secretGenerator"][0]["files"]:
        (folder / entry.split("=")[1]).write_text("s" * 48 + "\n")
    done = subprocess.run([KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "KUBECONFIG": os.devnull})
    assert done.returncode == 0, done.stderr
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(done.stdout) if d}


@needs_kubectl
def test_kubectl_builds_the_folder_offline_with_the_users_secret_left_to_the_operator(
        built: dict[tuple[str, str], dict[str, Any]], tmp_path: Path) -> None:
    statefulset = built[("StatefulSet", "consent-gateway")]
    pod = statefulset["spec"]["template"]["spec"]
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    # The generated Secret, renamed with its content's hash (a new secret rolls the pods); the users'
    # Secret kept by its own name and not generated: an apply never brings back an old version.
    assert secrets["secrets"].startswith("consent-gateway-") and ("Secret", secrets["secrets"]) in built
    assert secrets["users"] == "consent-gateway-users" and ("Secret", "consent-gateway-users") not in built
    # The image of kustomization.yaml in the gateway and in the migrations before it; no Job.
    images = {c["name"]: c["image"] for c in pod["initContainers"] + pod["containers"]}
    assert images == {"migrate": "registry.example.com/consent-gateway:0.1.0",
                      "gateway": "registry.example.com/consent-gateway:0.1.0"}
    assert not [key for key in built if key[0] == "Job"]
    # What kubectl would send still matches the Kubernetes schemas.
    (tmp_path / "built.yaml").write_text(yaml.safe_dump_all(built.values()))
    validated = subprocess.run([str(tool("kubernetes-validate")), "--strict", "--quiet",
                                str(tmp_path / "built.yaml")], capture_output=True, text=True, timeout=120,
                               check=False)
    assert validated.returncode == 0, validated.stdout + validated.stderr


def run_drain(tmp_path: Path, number: str, objects: list[str], statefulset: Path | None = None) -> \
        subprocess.CompletedProcess[str]:
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir(exist_ok=True)
    (bin_folder / "kubectl").write_text(FAKE_KUBECTL.format(python=sys.executable))
    (bin_folder / "kubectl").chmod(0o755)
    env = {"PATH": f"{bin_folder}:/usr/bin:/bin", "FAKE_KUBECTL_STATE": str(tmp_path),
           "FAKE_KUBECTL_OBJECTS": " ".join(objects), "REAL_KUBECTL": KUBECTL or "kubectl",
           "BUILT_STATEFULSET": str(statefulset or tmp_path / "missing.yaml"), "KUBECONFIG": os.devnull}
    (tmp_path / "calls").write_text("")
    return subprocess.run(["sh", str(DRAIN), number], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


@needs_kubectl
def test_the_drain_pod_runs_the_gateway_of_the_statefulset_on_the_removed_pods_claim(
        built: dict[tuple[str, str], dict[str, Any]], tmp_path: Path) -> None:
    statefulset = built[("StatefulSet", "consent-gateway")]
    (tmp_path / "statefulset.yaml").write_text(yaml.safe_dump(statefulset))
    done = run_drain(tmp_path, "3", ["data-consent-gateway-3"], tmp_path / "statefulset.yaml")
    assert done.returncode == 0, done.stderr
    drain = yaml.safe_load((tmp_path / "applied.yaml").read_text())
    spec, template = drain["spec"], statefulset["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    # The claim asked for; the Secret and the image the StatefulSet runs with.
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "data-consent-gateway-3"
    assert all(volumes[v["name"]] == v for v in template["volumes"] if v["name"] != "users")
    (container,) = spec["containers"]
    (gateway,) = template["containers"]
    # The StatefulSet's gateway, without the dashboard users (it takes no traffic) or the probes.
    for key in ("image", "args", "envFrom", "ports", "resources", "securityContext"):
        assert container[key] == gateway[key], key
    assert container["env"] == [e for e in gateway["env"] if e["name"] != "GATEWAY_USERS_FILE"]
    assert container["volumeMounts"] == [m for m in gateway["volumeMounts"] if m["name"] != "users"]
    assert spec["securityContext"] == template["securityContext"]
    # No Service sends it traffic, and the PodDisruptionBudget does not count it.
    labels = drain["metadata"]["labels"]
    for kind, name in (("Service", "consent-gateway"), ("Service", "consent-gateway-pods")):
        assert not built[(kind, name)]["spec"]["selector"].items() <= labels.items()
    budget = built[("PodDisruptionBudget", "consent-gateway")]["spec"]["selector"]["matchLabels"]
    assert not budget.items() <= labels.items()


@pytest.mark.parametrize(("number", "objects", "status"), [
    ("3", ["data-consent-gateway-3", "consent-gateway-3"], 1),  # the pod is back: it replays its own
    ("3", [], 1),                                                # no such claim
    ("three", ["data-consent-gateway-3"], 2),
    ("", [], 2),
], ids=["pod-running", "no-claim", "not-a-number", "nothing"])
def test_drain_claim_applies_nothing_when_there_is_nothing_to_drain(
        tmp_path: Path, number: str, objects: list[str], status: int) -> None:
    done = run_drain(tmp_path, number, objects)
    assert done.returncode == status, done.stderr
    assert done.stderr
    assert not (tmp_path / "applied.yaml").exists()


@needs_kubectl
@pytest.mark.parametrize("page", [ROOT / "docs" / "deploy.md", KUBERNETES.parent / "README.md"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_documented_users_secret_commands_carry_the_file_both_ways(
        page: Path, built: dict[tuple[str, str], dict[str, Any]], tmp_path: Path) -> None:
    text = page.read_text()
    create = re.search(r"kubectl create secret generic (\S+) --from-file=(\S+)=(\S+)", text)
    fetch = re.search(r"kubectl get secret (\S+) -o go-template='([^']+)'", text)
    assert create is not None and fetch is not None
    pod = built[("StatefulSet", "consent-gateway")]["spec"]["template"]["spec"]
    (users,) = [v["secret"] for v in pod["volumes"] if v["name"] == "users"]
    mounted = next(e["value"] for e in pod["containers"][0]["env"] if e["name"] == "GATEWAY_USERS_FILE")
    # The Secret the pods mount, holding the key whose file name GATEWAY_USERS_FILE names.
    assert create.group(1) == fetch.group(1) == users["secretName"]
    assert create.group(2) == Path(mounted).name
    local = tmp_path / "users.json"
    local.write_bytes(b'{"users": {}, "shares": {}, "note": "caf\xc3\xa9"}\n')
    kubectl = [KUBECTL or "kubectl"]
    env = {**os.environ, "KUBECONFIG": os.devnull}
    made = subprocess.run([*kubectl, "create", "secret", "generic", create.group(1),
                           f"--from-file={create.group(2)}={local}", "--dry-run=client", "-o", "yaml"],
                          capture_output=True, text=True, timeout=60, check=False, env=env)
    assert made.returncode == 0, made.stderr
    (tmp_path / "secret.yaml").write_text(made.stdout)
    # The documented read-back, evaluated offline on that Secret as `kubectl get` would on the cluster's.
    read = subprocess.run([*kubectl, "annotate", "--local", "-f", str(tmp_path / "secret.yaml"),
                           "checked=yes", "-o", f"go-template={fetch.group(2)}"], capture_output=True,
                          timeout=60, check=False, env=env)
    assert read.returncode == 0, read.stderr
    assert read.stdout == local.read_bytes()
