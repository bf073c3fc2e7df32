"""The users file: logins, roles, share links, and a file that stays private, whole and current."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher

from gateway.dashboard.users import ShareLink, User, UserError, UsersFileError, UserStore

# Real argon2id, just cheap: the tests check behaviour, not cost (the CLI and one test use the defaults).
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "users.json"


@pytest.fixture
def store(path: Path) -> UserStore:
    return UserStore(path, hasher=FAST)


def test_login_works_with_the_right_password_only(store: UserStore) -> None:
    store.add("Anna@Example.com", PASSWORD, "viewer", [2, 1])
    user = store.verify("anna@example.COM", PASSWORD)
    assert user is not None and user.name == "anna@example.com" and user.sites == (1, 2)
    assert store.verify("anna@example.com", PASSWORD + "!") is None
    assert store.verify("anna@example.com", "") is None
    assert store.verify("bob", PASSWORD) is None


def test_an_unknown_name_costs_one_hash_check_like_a_known_one(path: Path) -> None:
    hasher = CountingHasher()
    store = UserStore(path, hasher=hasher)
    store.add("anna", PASSWORD, "admin", [])
    assert store.verify("nobody", PASSWORD) is None
    assert store.verify("not a valid name!", PASSWORD) is None
    assert store.verify("anna", "wrong password") is None
    assert len(hasher.verified) == 3
    assert hasher.verified[0] == hasher.verified[1] != hasher.verified[2]  # the same dummy hash


@pytest.mark.parametrize(("name", "password", "role", "sites", "message"), [
    ("", PASSWORD, "admin", [], "1 to 64"),
    ("a" * 65, PASSWORD, "admin", [], "1 to 64"),
    ("anna smith", PASSWORD, "admin", [], "1 to 64"),
    ("anna", "short-pw", "admin", [], "at least 10 characters"),
    ("anna", "x" * 1025, "admin", [], "at most 1024 characters"),
    ("anna", PASSWORD, "owner", [], "role must be one of admin, viewer"),
    ("anna", PASSWORD, "viewer", [], "at least one site"),
    ("anna", PASSWORD, "admin", [1], "sites are assigned to viewers only"),
])
def test_bad_input_is_refused_with_a_message_that_never_holds_the_password(
        store: UserStore, name: str, password: str, role: str, sites: list[int], message: str) -> None:
    with pytest.raises(UserError, match=message) as caught:
        store.add(name, password, role, sites)
    assert password not in str(caught.value)
    assert store.users() == []


def test_names_are_unique_whatever_their_case(store: UserStore) -> None:
    store.add("anna", PASSWORD, "admin", [])
    with pytest.raises(UserError, match="'anna' exists already"):
        store.add("ANNA", PASSWORD, "admin", [])


def test_a_viewer_sees_only_assigned_sites_and_an_admin_every_site(store: UserStore) -> None:
    viewer = store.add("vera", PASSWORD, "viewer", [1, 3])
    admin = store.add("adam", PASSWORD, "admin", [])
    assert [s for s in range(1, 5) if viewer.can_view(s)] == [1, 3]
    assert all(admin.can_view(s) for s in range(1, 5))
    changed = store.set_role("vera", "viewer", [2])
    assert changed.can_view(2) and not changed.can_view(1)


def test_a_new_password_replaces_the_old_one_and_changes_the_session_version(store: UserStore) -> None:
    before = store.add("anna", PASSWORD, "admin", [])
    after = store.set_password("Anna", "another long password")
    assert after.session_version != before.session_version
    assert store.verify("anna", PASSWORD) is None
    assert store.verify("anna", "another long password") == after
    with pytest.raises(UserError, match="no user 'bob'"):
        store.set_password("bob", "another long password")


def test_removed_users_cannot_log_in(store: UserStore) -> None:
    store.add("anna", PASSWORD, "admin", [])
    store.remove("ANNA")
    assert store.get("anna") is None and store.verify("anna", PASSWORD) is None
    with pytest.raises(UserError, match="no user 'anna'"):
        store.remove("anna")


def test_the_file_is_private_versioned_and_holds_no_password(store: UserStore, path: Path) -> None:
    store.add("anna", PASSWORD, "viewer", [1])
    store.create_share(1, "board meeting")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["version"] == 1
    assert document["users"][0]["password_hash"].startswith("$argon2id$")
    assert [s["label"] for s in document["shares"]] == ["board meeting"]
    assert PASSWORD not in path.read_text()
    assert sorted(p.name for p in path.parent.iterdir()) == [".users.lock", "users.json"]  # no temp left


def test_secrets_stay_out_of_reprs(store: UserStore) -> None:
    user = store.add("anna", PASSWORD, "admin", [])
    link, token = store.create_share(1)
    assert "argon2" not in repr(user) and user.password_hash not in repr(user)
    assert link.token_hash not in repr(link) and token not in repr(link)


def test_a_server_sees_changes_made_by_another_process(path: Path) -> None:
    server, cli = UserStore(path, hasher=FAST), UserStore(path, hasher=FAST)
    assert server.users() == []  # no file yet: no users
    cli.add("anna", PASSWORD, "admin", [])
    assert server.verify("anna", PASSWORD) is not None
    cli.remove("anna")
    assert server.get("anna") is None


def test_a_damaged_file_is_an_error_naming_it_logged_once(path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "users": [{"name": "anna"')
    store = UserStore(path, hasher=FAST)
    for _ in range(3):
        with pytest.raises(UsersFileError, match=f"{path}: the users file is damaged"):
            store.verify("anna", PASSWORD)
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    with pytest.raises(UsersFileError):  # and nothing overwrites it
        store.add("bob", PASSWORD, "admin", [])
    path.write_text('{"version": 1, "users": [{"name": "anna", "role": "admin"}]}')
    with pytest.raises(UsersFileError, match="missing key 'password_hash'"):
        store.users()


def test_an_outdated_hash_is_upgraded_at_login(path: Path) -> None:
    UserStore(path, hasher=FAST).add("anna", PASSWORD, "admin", [])
    server = UserStore(path)  # today's defaults
    user = server.verify("anna", PASSWORD)
    assert user is not None and "m=65536,t=3,p=4" in user.password_hash
    assert UserStore(path, hasher=FAST).get("anna") == user
    assert server.verify("anna", PASSWORD) == user  # and it is not rehashed again


def test_share_links_are_found_by_token_until_revoked(store: UserStore) -> None:
    link, token = store.create_share(2, "  for   the agency ")
    other, _ = store.create_share(3)
    assert isinstance(link, ShareLink) and link.label == "for the agency" and len(link.id) == 8
    assert store.find_share(token) == link
    assert store.find_share(token[:-1]) is None and store.find_share("") is None
    assert store.shares(2) == [link] and len(store.shares()) == 2
    store.revoke_share(link.id.upper())
    assert store.find_share(token) is None and store.shares() == [other]
    with pytest.raises(UserError, match="no share link"):
        store.revoke_share(link.id)


CONCURRENT_ADDS = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from argon2 import PasswordHasher
    from gateway.dashboard.users import UserStore
    store = UserStore(Path(sys.argv[1]), hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    while not Path(sys.argv[1]).with_name("go").exists():  # start together
        time.sleep(0.005)
    for i in range(40):
        store.add(f"{sys.argv[2]}{i}", "correct horse battery", "viewer", [1])
""")


def test_concurrent_adds_from_two_processes_are_all_kept(path: Path) -> None:
    path.parent.mkdir(parents=True)
    workers = [subprocess.Popen([sys.executable, "-c", CONCURRENT_ADDS, str(path), prefix])
               for prefix in ("a", "b")]
    (path.parent / "go").touch()
    assert [w.wait(timeout=60) for w in workers] == [0, 0]
    names = {u.name for u in UserStore(path).users()}
    assert names == {f"{p}{i}" for p in "ab" for i in range(40)}
    assert isinstance(UserStore(path).users()[0], User)
