"""Reading deploy/ as Docker, Compose, Kubernetes and systemd would, for tests/deploy/.

- ``final_stage``: the runtime stage of deploy/docker/Dockerfile (its ENTRYPOINT, CMD, ENV, HEALTHCHECK
  and COPY lines, exec forms parsed as JSON); ``image_home``: its user's home;
- ``compose_service``: one service of a compose file, YAML anchors and merge keys resolved;
- ``Container``: a container's paths laid out under a test folder as Compose would mount them (bind
  mounts, named volumes, nested ones included, and /run/secrets), so a command and environment read
  from the files run on this machine with only their paths replaced;
- ``xml_root``, ``load_yaml``: the files as data;
- ``tool``: a validator installed with the test extra (hadolint, caddy...), next to this Python.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
COMPOSE = DEPLOY / "compose" / "compose.yml"
COMPOSE_CLUSTER = DEPLOY / "compose" / "compose.cluster.yml"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD_UNIT = DEPLOY / "systemd" / "consent-gateway.service"
SYSTEMD_ENV = DEPLOY / "systemd" / "gateway.env"


def tool(name: str) -> Path:
    """A command installed into this venv by the test extra; a clear failure when it is missing."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is missing: install the test extra (pip install -e '.[test]')"
    return path


@dataclass(frozen=True, slots=True)
class Stage:
    """The instructions of one Dockerfile stage that say how its container runs."""

    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    healthcheck: list[str]
    copies: dict[str, str]  # destination in the image -> source in the build context


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines()
                                           if not line.lstrip().startswith("#")))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage(path: Path = DOCKERFILE) -> Stage:
    """The last stage; ENTRYPOINT, CMD and HEALTHCHECK must be in exec (JSON) form, as they are."""
    instructions = _instructions(path.read_text())
    last = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    entrypoint: list[str] = []
    cmd: list[str] = []
    healthcheck: list[str] = []
    env: dict[str, str] = {}
    copies: dict[str, str] = {}
    for keyword, rest in instructions[last + 1:]:
        if keyword == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif keyword == "CMD":
            cmd = json.loads(rest)
        elif keyword == "HEALTHCHECK":
            healthcheck = json.loads(rest.partition(" CMD ")[2])
        elif keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value
        elif keyword == "COPY":
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            if not any(w.startswith("--from") for w in shlex.split(rest)):
                copies[words[-1]] = words[0]
    return Stage(entrypoint, cmd, env, healthcheck, copies)


def image_home(path: Path = DOCKERFILE) -> str:
    """The home of the image's user (useradd --home-dir), from which Docker and Kubernetes set HOME."""
    found = re.search(r"useradd .*--home-dir (\S+)", re.sub(r"\\\n", " ", path.read_text()))
    assert found is not None, "the Dockerfile no longer names its user's home"
    return found.group(1)


def left_out_packages() -> set[str]:
    """What the build stage uninstalls unless EMBEDDED_CLICKHOUSE=true, as import names."""
    found = re.search(r"pip uninstall --yes ([\w\- ]+)", DOCKERFILE.read_text())
    assert found is not None, "the Dockerfile no longer uninstalls embedded ClickHouse"
    return {name.removesuffix("-core").replace("-", "_") for name in found.group(1).split()}


def xml_root(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # noqa: S314 (the repository's own files)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all_yaml(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def compose_service(path: Path, name: str) -> dict[str, Any]:
    service: dict[str, Any] = load_yaml(path)["services"][name]
    return service


@dataclass
class Container:
    """A compose service's container laid out under ``root``: each path it would see maps to one here.
    Services laid out under the same ``root`` share their named volumes, as in one compose project.

    ``bind``: container path -> host path; a named volume nested in another (the GeoIP volume in the
    data volume) becomes a symbolic link inside the outer one, so the inner path is one folder either way.
    """

    root: Path
    compose_file: Path
    service: dict[str, Any]
    bind: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for volume in self.service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                self.bind[target] = (self.compose_file.parent / source).resolve()
            else:
                self.bind[target] = self.root / "volumes" / source
        for name in self.service.get("secrets", []):
            self.bind[f"/run/secrets/{name}"] = self.root / "secrets" / name
        for target in sorted(self.bind, key=len):  # outer volumes first
            host = self.bind[target]
            outer = self._outer(target)
            if outer is None or self.bind[outer].is_file():
                host.parent.mkdir(parents=True, exist_ok=True)
                continue
            # A volume nested in another: its folder stands where the outer volume has that path.
            host.mkdir(parents=True, exist_ok=True)
            link = self.bind[outer] / Path(target).relative_to(outer)
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():  # another service of the same project laid it out already
                link.symlink_to(host, target_is_directory=True)
        for target, host in self.bind.items():
            if not target.startswith("/run/secrets/") and not host.exists():
                host.mkdir(parents=True)

    def _outer(self, target: str) -> str | None:
        outers = [t for t in self.bind if t != target and target.startswith(t.rstrip("/") + "/")]
        return max(outers, key=len) if outers else None

    def host_path(self, path: str, extra: dict[str, Path] | None = None) -> str:
        """``path`` as seen on this machine: through the longest mount (or ``extra`` mapping) it lies in."""
        table = {**self.bind, **(extra or {})}
        for target in sorted(table, key=len, reverse=True):
            if path == target or path.startswith(target.rstrip("/") + "/"):
                return str(table[target]) + path[len(target):]
        return path

    def environment(self, servers: dict[str, str], extra: dict[str, Path] | None = None) -> dict[str, str]:
        """The service's environment with its paths on this machine and the hosts of other services
        (``servers``: "name:port" -> "host:port") replaced."""
        env = {name: str(value) for name, value in (self.service.get("environment") or {}).items()}
        remapped = {}
        for name, value in env.items():
            if "://" in value:
                value = ",".join(_replace_server(url, servers) for url in value.split(","))
            elif value.startswith("/"):
                value = self.host_path(value, extra)
            remapped[name] = value
        return remapped


def _replace_server(url: str, servers: dict[str, str]) -> str:
    parts = urlsplit(url)
    user, _, hostport = parts.netloc.rpartition("@")
    replaced = servers.get(hostport, hostport)
    return urlunsplit(parts._replace(netloc=f"{user}@{replaced}" if user else replaced))
