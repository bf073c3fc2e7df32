"""The set-up scripts as a new user runs them: ``scripts/serve``'s demo token and ``scripts/cg``.

``serve`` runs against a stand-in venv whose ``consent-gateway`` only records its arguments, so the
script's own work (files, modes, messages) is tested in a second, without a network or a server.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAKE_CLI = """#!/usr/bin/env bash
echo "$*" >> "$FAKE_CLI_LOG"
if [ "$1" = check-config ] && [ -n "${FAKE_CONFIG_BAD:-}" ]; then exit 2; fi
if [ "$1 $2" = "users add" ]; then cat >/dev/null; : > "$GATEWAY_DATA_DIR/users.json"; fi
"""


@pytest.fixture
def fake_venv(tmp_path: Path) -> Path:
    """A venv as ``_venv.sh`` sees it, installed, whose ``consent-gateway`` is FAKE_CLI."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    cli = venv / "bin" / "consent-gateway"
    cli.write_text(FAKE_CLI)
    cli.chmod(0o755)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (venv / f".installed-{digest}-base").touch()
    return venv


def run_script(name: str, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "CONSENT_GATEWAY_"))}
    base |= {"PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHON": sys.executable}  # no venv on PATH
    return subprocess.run([str(ROOT / "scripts" / name), *args], env=base | env, cwd=cwd, text=True,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False)


def test_serve_makes_the_demo_token_once_private_and_says_where(fake_venv: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)  # as `consent-gateway geoip install` leaves it
    log = tmp_path / "cli.log"
    # A relative data folder means the folder serve is run from, though it runs in the project folder.
    env = {"CONSENT_GATEWAY_VENV": str(fake_venv), "GATEWAY_DATA_DIR": "data", "FAKE_CLI_LOG": str(log)}
    first = run_script("serve", env, tmp_path, "--port", "8123")
    assert first.returncode == 0, first.stderr
    token_file = data / "demo-token"
    token = token_file.read_text().strip()
    assert len(token) == 32  # secrets.token_urlsafe(24)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    # Not a terminal: where the token is, never the token itself (it would end up in a service's log).
    assert f"its token is in {token_file}" in first.stderr and token not in first.stderr
    # Full addresses, and commands a new user can run as printed.
    assert "Dashboard: http://127.0.0.1:8123/dashboard, user demo" in first.stderr
    assert "./scripts/cg users passwd demo" in first.stderr
    assert "Stats API: http://127.0.0.1:8123/dashboard/1.json" in first.stderr
    assert log.read_text().splitlines()[-1] == "serve --port 8123"

    second = run_script("serve", env, tmp_path)
    assert second.returncode == 0, second.stderr
    assert token_file.read_text().strip() == token
    assert "demo-token" not in second.stderr


def test_serve_with_ones_own_configuration_makes_no_demo_token(fake_venv: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"CONSENT_GATEWAY_VENV": str(fake_venv), "GATEWAY_DATA_DIR": str(data),
           "GATEWAY_CONFIG": str(tmp_path / "gateway.toml"), "FAKE_CLI_LOG": str(tmp_path / "cli.log")}
    assert run_script("serve", env, tmp_path).returncode == 0
    assert not (data / "demo-token").exists()


def test_cg_runs_the_cli_from_any_folder(tmp_path: Path) -> None:
    result = run_script("cg", {}, tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: consent-gateway")
    users = run_script("cg", {"GATEWAY_DATA_DIR": "data"}, tmp_path, "users", "list")
    assert users.returncode == 0, users.stderr
    assert "no dashboard users yet" in users.stdout
    # Relative paths in the environment mean the folder it runs from, not the project folder.
    (tmp_path / "gateway.toml").write_text('log_level = "debug"\n')
    check = run_script("cg", {"GATEWAY_CONFIG": "gateway.toml", "GATEWAY_DATA_DIR": "data"}, tmp_path,
                       "check-config")
    assert check.returncode == 0, check.stderr
    assert f"config file: {tmp_path / 'gateway.toml'}" in check.stdout
    assert "GATEWAY_LOG_LEVEL=debug" in check.stdout
    assert f"GATEWAY_DATA_DIR={tmp_path / 'data'}\n" in check.stdout


def test_cg_uses_the_venv_as_it_is(fake_venv: Path, tmp_path: Path) -> None:
    # No install stamp: were the venv checked as ./scripts/serve checks it, pip would run.
    for stamp in fake_venv.glob(".installed-*"):
        stamp.unlink()
    log = tmp_path / "cli.log"
    result = run_script("cg", {"CONSENT_GATEWAY_VENV": str(fake_venv), "FAKE_CLI_LOG": str(log)}, tmp_path,
                        "users", "list")
    assert result.returncode == 0, result.stderr
    assert "installing" not in result.stderr
    assert log.read_text() == "users list\n"


def test_serve_help_and_a_bad_configuration_go_straight_to_serve(fake_venv: Path, tmp_path: Path) -> None:
    # Neither installs a GeoIP database first (nor warns that it could not), nor makes demo files;
    # serve itself prints the help, or every configuration error, once.
    log = tmp_path / "cli.log"
    env = {"CONSENT_GATEWAY_VENV": str(fake_venv), "GATEWAY_DATA_DIR": str(tmp_path / "data"),
           "FAKE_CLI_LOG": str(log)}
    assert run_script("serve", env, tmp_path, "--port", "8123", "--help").returncode == 0
    assert log.read_text().splitlines() == ["serve --port 8123 --help"]
    log.unlink()
    bad = run_script("serve", env | {"FAKE_CONFIG_BAD": "1"}, tmp_path, "--port=9000")
    assert log.read_text().splitlines() == ["check-config", "serve --port=9000"]
    assert "GeoIP" not in bad.stderr and not (tmp_path / "data" / "demo-token").exists()


def test_serve_after_the_test_command_installs_nothing(fake_venv: Path, tmp_path: Path) -> None:
    # ./scripts/test installs the test extras, which include the base install ./scripts/serve needs.
    for stamp in fake_venv.glob(".installed-*"):
        stamp.rename(stamp.with_name(stamp.name.replace("-base", "-test")))
    env = {"CONSENT_GATEWAY_VENV": str(fake_venv), "GATEWAY_DATA_DIR": str(tmp_path / "data"),
           "FAKE_CLI_LOG": str(tmp_path / "cli.log")}
    result = run_script("serve", env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "installing" not in result.stderr


def test_serve_reads_a_home_folder_as_the_gateway_does(fake_venv: Path, tmp_path: Path) -> None:
    # GATEWAY_DATA_DIR='~/gw' from an env file: the demo token goes where the gateway will read it.
    home = tmp_path / "home"
    env = {"CONSENT_GATEWAY_VENV": str(fake_venv), "GATEWAY_DATA_DIR": "~/gw", "HOME": str(home),
           "FAKE_CLI_LOG": str(tmp_path / "cli.log")}
    result = run_script("serve", env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (home / "gw" / "demo-token").is_file()
    assert not (ROOT / "~").exists()


@pytest.mark.parametrize(("args", "address"), [
    (("--host", "::1", "--port", "9001"), "http://[::1]:9001"),
    (("--host=0.0.0.0",), "http://127.0.0.1:8000"),
])
def test_serve_prints_an_address_a_browser_opens(fake_venv: Path, tmp_path: Path, args: tuple[str, ...],
                                                 address: str) -> None:
    (tmp_path / "data").mkdir()  # as `consent-gateway geoip install` leaves it
    env = {"CONSENT_GATEWAY_VENV": str(fake_venv), "GATEWAY_DATA_DIR": str(tmp_path / "data"),
           "FAKE_CLI_LOG": str(tmp_path / "cli.log")}
    result = run_script("serve", env, tmp_path, *args)
    assert f"Dashboard: {address}/dashboard," in result.stderr, result.stderr


def test_a_home_folder_without_home_is_left_to_the_gateway(fake_venv: Path, tmp_path: Path) -> None:
    log = tmp_path / "cli.log"
    env = {"CONSENT_GATEWAY_VENV": str(fake_venv), "GATEWAY_CONFIG": "~/gateway.toml",
           "FAKE_CLI_LOG": str(log)}
    base = {k: v for k, v in os.environ.items() if k != "HOME"}
    result = subprocess.run([str(ROOT / "scripts" / "cg"), "users", "list"], env=base | env, cwd=tmp_path,
                            text=True, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr  # no "HOME: unbound variable" under set -u
    assert log.read_text() == "users list\n"
