"""``consent-gateway users`` and ``share`` as an operator uses them: messages, exit codes, no secrets."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from gateway import cli
from gateway.dashboard import users_cli
from gateway.dashboard.users import UserStore

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
SITES = """
[[sites]]
id = 1
name = "Shop"
origins = ["https://shop.example"]

[[sites]]
id = 2
name = "Blog"
origins = ["https://blog.example"]
"""

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith("GATEWAY_")]:
        monkeypatch.delenv(key)
    config = tmp_path / "gateway.toml"
    config.write_text(SITES)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_CONFIG", str(config))
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)  # keep pytest's log capture
    monkeypatch.setattr(users_cli, "UserStore", lambda path: UserStore(path, hasher=FAST))
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``consent-gateway ARGS`` in this process, ``stdin`` as standard input: (status, stdout, stderr)."""

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        status = cli.main(list(args))
        out, err = capsys.readouterr()
        assert PASSWORD not in out + err and "argon2" not in out + err
        return status, out, err

    return run


def store(data_dir: Path) -> UserStore:
    return UserStore(data_dir / "users.json", hasher=FAST)


def test_add_list_passwd_remove(run: Run, data_dir: Path) -> None:
    assert run("users", "add", "Anna", "--role", "viewer", "--site", "2", "--site", "1", "--password-stdin",
               stdin=PASSWORD + "\n") == (0, "added viewer 'anna' (sites 1, 2)\n", "")
    assert run("users", "add", "root", "--role", "admin", "--password-stdin", stdin=PASSWORD)[0] == 0
    status, out, _ = run("users", "list")
    lines = out.splitlines()
    assert status == 0 and lines[0].split() == ["NAME", "ROLE", "SITES", "CREATED"]
    assert lines[1].split()[:4] == ["anna", "viewer", "1,", "2"]
    assert lines[2].split()[:3] == ["root", "admin", "all"]
    assert store(data_dir).verify("anna", PASSWORD) is not None

    assert run("users", "passwd", "ANNA", "--password-stdin", stdin="a brand new password\n") == (
        0, "changed the password of 'anna'; their open sessions are signed out\n", "")
    assert store(data_dir).verify("anna", PASSWORD) is None
    assert store(data_dir).verify("anna", "a brand new password") is not None

    assert run("users", "access", "anna", "--role", "viewer", "--site", "2") == (
        0, "'anna' is now viewer (sites 2); open sessions see it at once\n", "")
    changed = store(data_dir).get("anna")
    assert changed is not None and changed.can_view(2) and not changed.can_view(1)
    assert run("users", "access", "anna", "--role", "viewer", "--site", "9")[0] == 2  # no such site
    assert run("users", "access", "nobody", "--role", "admin")[0] == 2

    assert run("users", "remove", "anna") == (0, "removed 'anna'; their open sessions are signed out\n", "")
    assert [u.name for u in store(data_dir).users()] == ["root"]


def test_list_without_users_says_how_to_add_one(run: Run) -> None:
    status, out, _ = run("users", "list")
    assert status == 0 and "users add NAME --role admin" in out


ADD = ["users", "add", "anna", "--password-stdin"]


@pytest.mark.parametrize(("args", "stdin", "message"), [
    ([*ADD, "--role", "viewer"], PASSWORD, "a viewer needs at least one site"),
    ([*ADD, "--role", "viewer", "--site", "9"], PASSWORD, "site 9 is not configured (configured sites: 1, 2"),
    ([*ADD, "--role", "admin", "--site", "1"], PASSWORD, "sites are assigned to viewers only"),
    (["users", "add", "anna smith", "--role", "admin"], PASSWORD, "a user name has 1 to 64"),
    ([*ADD, "--role", "admin"], "too short\n", "at least 10 characters"),
    ([*ADD, "--role", "admin"], "", "no password on standard input"),
    (["users", "passwd", "nobody", "--password-stdin"], PASSWORD, "no user 'nobody'"),
    (["users", "remove", "nobody"], "", "no user 'nobody'"),
    (["share", "create", "--site", "9"], "", "site 9 is not configured"),
    (["share", "revoke", "deadbeef"], "", "no share link 'deadbeef'"),
])
def test_bad_input_exits_2_with_one_line(run: Run, data_dir: Path, args: list[str], stdin: str,
                                         message: str) -> None:
    status, out, err = run(*args, stdin=stdin)
    assert (status, out) == (2, "")
    assert err.startswith("consent-gateway: ") and message in err and err.count("\n") == 1
    assert not (data_dir / "users.json").exists()


def test_adding_an_existing_name_fails_before_asking_for_a_password(run: Run) -> None:
    run("users", "add", "anna", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    status, _, err = run("users", "add", "ANNA", "--role", "admin")  # would prompt; must not get there
    assert status == 2 and "'anna' exists already" in err


def test_without_password_stdin_the_password_is_asked_twice(run: Run, data_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[str] = []
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    answers[:] = [PASSWORD, PASSWORD + "x"]
    assert run("users", "add", "anna", "--role", "admin") == (
        2, "", "consent-gateway: the passwords do not match; nothing changed\n")
    answers[:] = [PASSWORD, PASSWORD]
    assert run("users", "add", "anna", "--role", "admin")[0] == 0
    assert prompts[-2:] == ["New password for anna: ", "Repeat the password: "]
    assert store(data_dir).verify("anna", PASSWORD) is not None


def test_share_create_prints_the_key_once_then_list_and_revoke(run: Run, data_dir: Path) -> None:
    status, out, _ = run("share", "create", "--site", "2", "--label", "agency")
    assert status == 0
    path = out.splitlines()[-1]
    assert path.startswith("/dashboard/shared?key=") and len(path) > 50
    token = path.partition("=")[2]
    link = store(data_dir).find_share(token)
    assert link is not None and link.site_id == 2 and f"share revoke {link.id}" in out
    assert token not in (data_dir / "users.json").read_text()

    status, out, _ = run("share", "list")
    assert status == 0 and out.split() == ["ID", "SITE", "LABEL", "CREATED", link.id, "2", "Blog", "agency",
                                           link.created]
    assert token not in out
    assert run("share", "list", "--site", "1") == (0, "no share links\n", "")
    assert run("share", "revoke", link.id)[0] == 0
    assert store(data_dir).find_share(token) is None
    assert run("share", "list") == (0, "no share links\n", "")


def test_a_damaged_users_file_is_reported_not_overwritten(run: Run, data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "users.json").write_text("not json")
    status, _, err = run("users", "add", "anna", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    assert status == 1
    assert err.startswith(f"consent-gateway: {data_dir / 'users.json'}: the users file is damaged")
    assert (data_dir / "users.json").read_text() == "not json"


def test_the_real_command_with_default_hashing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATA_DIR"] = str(tmp_path / "data")

    def gateway(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gateway", *args], env=env, input=stdin, text=True,
                              capture_output=True, timeout=60, check=False)

    added = gateway("users", "add", "admin@example.com", "--role", "admin", "--password-stdin",
                    stdin=PASSWORD)
    assert added.returncode == 0, added.stderr
    listed = gateway("users", "list")
    assert listed.returncode == 0 and "admin@example.com" in listed.stdout
    document = json.loads((tmp_path / "data" / "users.json").read_text())
    assert "m=65536,t=3,p=4" in document["users"][0]["password_hash"]
    for result in (added, listed):
        assert PASSWORD not in result.stdout + result.stderr and "argon2" not in result.stdout
    bad = gateway("users", "add", "x", "--role", "owner")
    assert bad.returncode == 2 and "invalid choice: 'owner'" in bad.stderr


def test_a_shared_users_file_elsewhere_is_the_one_the_cli_writes_and_lists(
        run: Run, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "secret" / "users.json"  # as every pod of a deployment mounts one Secret
    shared.parent.mkdir()
    monkeypatch.setenv("GATEWAY_USERS_FILE", str(shared))
    status, _, _ = run("users", "add", "anna", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert status == 0 and store(shared.parent).get("anna") is not None
    assert not (data_dir / "users.json").exists()
    status, out, _ = run("users", "list")
    assert status == 0 and "anna" in out
