"""The image's entrypoint, run here exactly as compose.yml runs it, against the ClickHouse stand-in.

No Docker engine runs where the tests do, so the container is laid out in a test folder instead
(tests/support/deploy_files.py): the Dockerfile's ENTRYPOINT and CMD, the compose services' command,
environment, volumes and secrets are read from the files, and only paths, the ClickHouse host and the
port are replaced. The packages the image leaves out (chDB, pandas, pyarrow, numpy) cannot be imported.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

from gateway.cli import _parser
from gateway.storage.clickhouse import Database, connect
from gateway.storage.migrations import pending
from tests.support.clickhouse_standin import running_standin
from tests.support.deploy_files import (
    COMPOSE,
    ROOT,
    Container,
    compose_service,
    final_stage,
    image_home,
    left_out_packages,
)
from tests.support.load import BROWSER, grant

PORTS = range(18100, 18200)  # this test's range; it listens on 127.0.0.1 only
BLOCKER = """import sys
class _LeftOut:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {names!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the image)", name=name)
        return None
sys.meta_path.insert(0, _LeftOut())
"""


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 18100-18199")


def image_command(service: dict[str, object], port: int) -> list[str]:
    """ENTRYPOINT + (the service's command or CMD), on this machine: tini if it is installed here too
    (Debian's tini), the entrypoint script from the repository, and 127.0.0.1 on ``port``."""
    stage = final_stage()
    entrypoint = list(stage.entrypoint)
    if not Path(entrypoint[0]).exists():
        entrypoint = entrypoint[entrypoint.index("--") + 1:]  # no tini: the script is the process signalled
    script = ROOT / stage.copies[entrypoint[-1]]
    entrypoint[-1] = str(script)
    command = service.get("command") or stage.cmd
    assert isinstance(command, list)
    swap = {"0.0.0.0": "127.0.0.1", "8000": str(port)}
    return [*entrypoint, *(swap.get(str(word), str(word)) for word in command)]


def image_environment(tmp_path: Path, container: Container, clickhouse: str, seed: Path) -> dict[str, str]:
    """The Dockerfile's ENV, then the service's environment (as Docker merges them), paths mapped."""
    stage = final_stage()
    venv_bin = str(Path(sys.executable).parent)
    blocker = tmp_path / "left-out"
    blocker.mkdir(exist_ok=True)
    (blocker / "sitecustomize.py").write_text(BLOCKER.format(names=sorted(left_out_packages())))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "CONSENT_GATEWAY_"))}
    env |= {name: container.host_path(value) for name, value in stage.env.items() if name != "PATH"}
    env |= container.environment({"clickhouse:8123": clickhouse})
    # HOME as Docker and Kubernetes set it: the home of the image's user, a path in the container, here
    # in its volume if it lies in one (as a home in the data folder would) or else where its root file
    # system would be (nothing is made there).
    home = image_home()
    in_volume = container.host_path(home)
    env |= {
        "HOME": in_volume if in_volume != home else str(tmp_path / "rootfs" / home.lstrip("/")),
        "PATH": f"{venv_bin}:{env['PATH']}", "PYTHONPATH": str(blocker),
        # The image's seed folder, here; and a registry that refuses, so no test can download.
        "CONSENT_GATEWAY_GEOIP_SEED": str(seed), "NPM_CONFIG_REGISTRY": "http://127.0.0.1:9/",
        "TINI_SUBREAPER": "1",  # tini is not PID 1 here: it reaps as a subreaper instead
    }
    return env


def write_secrets(container: Container) -> dict[str, str]:
    values = {"secret_keys": "k" * 48, "clickhouse_password": "a-clickhouse-password",
              "metrics_token": "an-operator-token-0123456789"}
    for name in container.service["secrets"]:
        path = Path(container.host_path(f"/run/secrets/{name}"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(values[name] + "\n")
    return values


@dataclass
class Replica:
    """One gateway service of compose.yml, started through the image's entrypoint."""

    name: str
    base: str
    log: Path
    process: subprocess.Popen[bytes]
    exit_code: int | None = None


@contextmanager
def replica(name: str, root: Path, clickhouse: str, seed: Path) -> Iterator[Replica]:
    """The service ``name`` of compose.yml in the container folder ``root``, shared with the other
    services as their volumes are; stopped by SIGTERM as `docker stop` stops it."""
    container = Container(root, COMPOSE, compose_service(COMPOSE, name))
    write_secrets(container)
    env = image_environment(root.parent, container, clickhouse, seed)
    port = free_port()
    log = root.parent / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(image_command(container.service, port), env=env, stdout=output,
                                   stderr=subprocess.STDOUT)
    running = Replica(name, f"http://127.0.0.1:{port}", log, process)
    try:
        deadline = time.monotonic() + 90
        while not ready(running.base):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not ready in 90 s:\n{log.read_text()}"
            time.sleep(0.2)
        # The image's HEALTHCHECK, as Docker runs it (its port is the one CMD gave, here ours).
        probe = [word.replace(":8000/", f":{port}/") for word in final_stage().healthcheck]
        assert subprocess.run(probe, env=env, timeout=30, check=False).returncode == 0
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        running.exit_code = process.wait(timeout=60)


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/-/ready", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def stored(db: Database, path: str) -> int:
    for _ in range(100):  # the writer flushes every second
        count = int(db.query("SELECT count() FROM events WHERE url_path = {p:String}", {"p": path})[0][0])
        if count:
            return count
        time.sleep(0.2)
    return 0


def test_the_compose_gateways_migrate_serve_store_consented_hits_and_stop_on_sigterm(
        tmp_path: Path, city_db: Path) -> None:
    root = tmp_path / "container"
    migrate = Container(root, COMPOSE, compose_service(COMPOSE, "migrate"))
    secrets = write_secrets(migrate)
    seed = tmp_path / "seed"
    seed.mkdir()
    shutil.copy(city_db, seed / "city.mmdb")  # as GEOIP_SOURCE=... would have put it in the image
    config = tomllib.loads(Path(migrate.host_path("/etc/consent-gateway/gateway.toml")).read_text())
    site = config["sites"][0]
    origin = site["origins"][0]
    with running_standin(tmp_path / "clickhouse") as standin:
        clickhouse = f"{standin.host}:{standin.port}"
        env = image_environment(tmp_path, migrate, clickhouse, seed)
        # The one-shot `migrate` service: the same image, environment and volumes, its own command.
        migrated = subprocess.run(image_command(migrate.service, free_port()), env=env, capture_output=True,
                                  text=True, timeout=180, check=False)
        assert migrated.returncode == 0, migrated.stderr
        db = connect(env["GATEWAY_CLICKHOUSE_URL"], create_database=False)
        try:
            assert pending(db) == ()
            # Both replicas at once on the shared volumes (GATEWAY_MIGRATE_ON_START=false: they would
            # refuse to start on a schema that is not there).
            with replica("gateway-1", root, clickhouse, seed) as one, \
                    replica("gateway-2", root, clickhouse, seed) as two:
                # The operator token from its secret file; healthy: ClickHouse answers and the GeoIP
                # database copied from the seed is in use.
                operator = {"Authorization": f"Bearer {secrets['metrics_token']}"}
                health = httpx.get(f"{one.base}/-/health", headers=operator, timeout=10).json()
                assert health["status"] == "ok", health
                # A visitor's consent on one replica is honoured on the other (keys from one secret).
                cookies = grant(one.base, origin=origin, site=site["id"])
                for gateway in (one, two):
                    with httpx.Client(base_url=gateway.base, cookies=cookies, timeout=10,
                                      headers={"Origin": origin, "User-Agent": BROWSER}) as visitor:
                        hit = visitor.get("/matomo.php", params={"idsite": site["id"], "rec": 1,
                                                                 "url": f"{origin}/via-{gateway.name}"})
                    assert hit.status_code in (200, 204), hit.text
                    assert stored(db, f"/via-{gateway.name}") == 1
        finally:
            db.close()
    data = Path(env["GATEWAY_DATA_DIR"])
    for gateway in (one, two):
        # tini maps the SIGTERM uvicorn re-raises after its graceful stop to 0; without tini here,
        # that re-raised signal is the status.
        tini = Path(final_stage().entrypoint[0]).exists()
        assert gateway.exit_code == (0 if tini else -signal.SIGTERM), gateway.log.read_text()
        text = gateway.log.read_text()
        assert "Application shutdown complete" in text and "Traceback" not in text, text
        # The GeoIP database was in place (the seed, then `geoip install --if-missing` found it), and
        # the data folder is the gateway's own: not taken for a shared one, nothing foreign in it.
        for complaint in ("no GeoIP database installed", "shared folder", "holds more than", "WARNING"):
            assert complaint not in text, text
    # One spool folder each in the shared volume; keys from the secret file, none generated; the
    # GeoIP database seeded into its volume.
    assert sorted(p.name for p in (data / "spool").iterdir()) == ["0", "1"]
    # A fresh volume here is made with the umask's 0755; the gateway made it private.
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert not (data / "secret_key").exists()
    assert (Path(migrate.host_path("/var/lib/consent-gateway/geoip")) / "city.mmdb").is_file()


# Stands in for the gateway the entrypoint execs: records the arguments it was given.
RECORDER = """#!/bin/sh
printf '%s\\n' "$@" > "$RECORDED_ARGS"
"""


@pytest.mark.parametrize(("given", "expected"), [
    ([], ("serve", "0.0.0.0", 8000, 1)),
    (["--workers", "2"], ("serve", "0.0.0.0", 8000, 2)),
    (["--workers", "2", "--host", "127.0.0.1", "--port", "9000"], ("serve", "127.0.0.1", 9000, 2)),
    (["serve"], ("serve", "127.0.0.1", 8000, 1)),  # a command given whole is left as it is
    (["migrate"], ("migrate", None, None, None)),
], ids=["nothing", "options", "options-host-port", "serve", "migrate"])
def test_options_alone_serve_on_every_address_unless_a_later_one_is_given(
        tmp_path: Path, given: list[str], expected: tuple[object, ...]) -> None:
    # `docker run IMAGE --workers 2` replaces the CMD: serve must still listen where Docker's port
    # mapping and the Service reach it, not on serve's own default, 127.0.0.1.
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    (bin_folder / "consent-gateway").write_text(RECORDER)
    (bin_folder / "consent-gateway").chmod(0o755)
    script = ROOT / final_stage().copies["/usr/local/bin/consent-gateway-entrypoint"]
    env = {"PATH": f"{bin_folder}:/usr/bin:/bin", "RECORDED_ARGS": str(tmp_path / "args"),
           "GATEWAY_DATA_DIR": str(tmp_path / "data"), "CONSENT_GATEWAY_GEOIP_SOURCE": "none",
           "CONSENT_GATEWAY_GEOIP_SEED": str(tmp_path / "no-seed")}
    done = subprocess.run(["sh", str(script), *given], env=env, capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stderr
    # What the gateway's own parser makes of the arguments it was handed.
    parsed = _parser().parse_args((tmp_path / "args").read_text().splitlines())
    assert tuple(getattr(parsed, name, None) for name in ("command", "host", "port", "workers")) == expected
