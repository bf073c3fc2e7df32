"""Signed cookies: sessions end when they should, and no token passes for another kind or key."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from gateway.dashboard.sessions import SESSION_MAX_AGE, Sessions, cookie_options
from gateway.dashboard.users import User, UserStore

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
KEY, OLD_KEY = "k" * 40, "o" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> UserStore:
    return UserStore(tmp_path / "users.json", hasher=FAST)


@pytest.fixture
def anna(store: UserStore) -> User:
    return store.add("anna", PASSWORD, "viewer", [1])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(clock: Clock) -> Sessions:
    return Sessions([KEY], clock=clock)


def test_a_session_cookie_names_its_user_until_it_expires(sessions: Sessions, clock: Clock, store: UserStore,
                                                         anna: User) -> None:
    cookie = sessions.issue(anna)
    assert sessions.user(cookie, store) == anna
    clock.now += SESSION_MAX_AGE
    assert sessions.user(cookie, store) == anna
    clock.now += 1
    assert sessions.user(cookie, store) is None


def test_a_cookie_from_the_future_is_refused(sessions: Sessions, clock: Clock, store: UserStore,
                                             anna: User) -> None:
    cookie = sessions.issue(anna)
    clock.now -= 60
    assert sessions.user(cookie, store) is None


def test_a_new_password_ends_old_sessions(sessions: Sessions, store: UserStore, anna: User) -> None:
    cookie = sessions.issue(anna)
    store.set_password("anna", "another long password")
    assert sessions.user(cookie, store) is None
    assert sessions.user(sessions.issue(store.get("anna") or anna), store) is not None


def test_a_removed_user_is_signed_out_even_if_the_name_comes_back(sessions: Sessions, store: UserStore,
                                                                  anna: User) -> None:
    cookie = sessions.issue(anna)
    store.remove("anna")
    assert sessions.user(cookie, store) is None
    store.add("anna", PASSWORD, "admin", [])  # same name and password, a new account
    assert sessions.user(cookie, store) is None


def test_a_damaged_users_file_signs_everyone_out_without_failing(sessions: Sessions, store: UserStore,
                                                                  anna: User) -> None:
    cookie, share = sessions.issue(anna), sessions.issue_share(store.create_share(1)[0])
    store.path.write_text("{")
    assert sessions.user(cookie, store) is None and sessions.share(share, store) is None


def test_the_readable_payload_holds_no_hash(sessions: Sessions, anna: User) -> None:
    payload = sessions.issue(anna).split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert decoded == f'["anna","{anna.session_version}"]' and "argon2" not in decoded


def test_a_session_sees_role_and_site_changes_at_once(sessions: Sessions, store: UserStore,
                                                      anna: User) -> None:
    cookie = sessions.issue(anna)
    store.set_role("anna", "viewer", [2])
    user = sessions.user(cookie, store)
    assert user is not None and user.sites == (2,) and not user.can_view(1)


@pytest.mark.parametrize("value", [None, "", "garbage", "a.b.c", "x" * 5000])
def test_garbage_is_no_session(sessions: Sessions, store: UserStore, value: str | None) -> None:
    assert sessions.user(value, store) is None
    assert sessions.share(value, store) is None


def test_a_tampered_cookie_is_refused(sessions: Sessions, store: UserStore, anna: User) -> None:
    store.add("adam", PASSWORD, "admin", [])
    cookie = sessions.issue(anna)
    payload, timestamp, signature = cookie.split(".")
    forged = Sessions(["attacker's own key, long enough!"]).issue(store.get("adam") or anna)
    assert sessions.user(forged, store) is None
    assert sessions.user(f"{forged.split('.')[0]}.{timestamp}.{signature}", store) is None
    # The first character, not the last: a base64 string's last character also carries padding
    # bits, and changing only those leaves the decoded signature as it was.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert sessions.user(f"{payload}.{timestamp}.{flipped}", store) is None


def test_a_token_of_one_kind_never_passes_as_another(sessions: Sessions, store: UserStore,
                                                     anna: User) -> None:
    link, _ = store.create_share(1)
    session, share = sessions.issue(anna), sessions.issue_share(link)
    assert sessions.user(share, store) is None
    assert sessions.share(session, store) is None
    csrf_cookie = sessions.new_csrf_cookie()
    assert sessions.user(sessions.csrf_token(csrf_cookie), store) is None
    assert not sessions.check_csrf(session, sessions.csrf_token(session)[::-1])


def test_keys_rotate_without_signing_everyone_out(clock: Clock, store: UserStore, anna: User) -> None:
    before = Sessions([OLD_KEY], clock=clock)
    during = Sessions([KEY, OLD_KEY], clock=clock)  # the new key first: it signs
    after = Sessions([KEY], clock=clock)
    old_cookie = before.issue(anna)
    assert during.user(old_cookie, store) == anna
    assert after.user(old_cookie, store) is None
    assert after.user(during.issue(anna), store) == anna
    csrf = before.new_csrf_cookie()
    assert during.check_csrf(csrf, before.csrf_token(csrf))
    assert after.check_csrf(csrf, during.csrf_token(csrf))
    assert not after.check_csrf(csrf, before.csrf_token(csrf))


def test_a_share_cookie_works_until_the_link_is_revoked(sessions: Sessions, store: UserStore) -> None:
    link, _ = store.create_share(3, "agency")
    cookie = sessions.issue_share(link)
    assert sessions.share(cookie, store) == link
    store.revoke_share(link.id)
    assert sessions.share(cookie, store) is None


def test_the_csrf_token_is_derived_from_this_browsers_cookie(sessions: Sessions) -> None:
    cookie, other = sessions.new_csrf_cookie(), sessions.new_csrf_cookie()
    assert cookie != other and len(cookie) >= 40
    token = sessions.csrf_token(cookie)
    assert token != cookie and sessions.check_csrf(cookie, token)
    assert not sessions.check_csrf(other, token)
    assert not sessions.check_csrf(cookie, sessions.csrf_token(other))
    for bad in (None, "", "é", "x" * 5000):
        assert not sessions.check_csrf(cookie, bad)
        assert not sessions.check_csrf(bad, token)


def test_cookies_are_http_only_same_site_strict_and_secure_over_https() -> None:
    assert cookie_options(True) == {"httponly": True, "samesite": "strict", "path": "/", "secure": True}
    assert cookie_options(False)["secure"] is False


def test_no_keys_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="secret key"):
        Sessions([])
