"""Login throttling: locks after repeated failures, releases after the window, keeps no addresses.

An attempt ``reserve`` lets through counts as a failure until ``succeeded`` says otherwise."""

from __future__ import annotations

import pytest

from gateway.dashboard.throttle import LoginThrottle

IP, OTHER_IP = "203.0.113.7", "198.51.100.23"


def fail(throttle: LoginThrottle, times: int, user: str = "anna", client: str = IP, now: float = 0.0,
         step: float = 1.0) -> float:
    for i in range(times):
        throttle.reserve(user, client, now + i * step)
    return now + (times - 1) * step


def test_five_failures_lock_the_name_until_the_oldest_leaves_the_window() -> None:
    throttle = LoginThrottle()
    last = fail(throttle, 4, step=10)
    assert throttle.retry_after("anna", IP, last) == 0
    throttle.reserve("anna", IP, 40)
    assert throttle.retry_after("anna", IP, 40) == pytest.approx(900 - 40)
    assert throttle.retry_after("ANNA", OTHER_IP, 100) == pytest.approx(800)  # any client, any case
    assert throttle.retry_after("bob", IP, 100) == 0  # other names are not locked
    assert throttle.retry_after("anna", IP, 900) == 0  # the first failure left the window
    throttle.reserve("anna", IP, 900)  # one more wrong guess locks again, until the second leaves
    assert throttle.retry_after("anna", IP, 901) == pytest.approx(910 - 901)


def test_twenty_failures_from_one_client_lock_it_for_every_name() -> None:
    throttle = LoginThrottle()
    for i in range(20):
        throttle.reserve(f"user{i}", IP, float(i))
    assert throttle.retry_after("someone-new", IP, 20) == pytest.approx(900 - 20)
    assert throttle.retry_after("someone-new", OTHER_IP, 20) == 0
    assert throttle.retry_after("someone-new", IP, 900) == 0


def test_a_successful_login_clears_the_names_failures_but_not_the_clients() -> None:
    throttle = LoginThrottle(per_client=10)
    fail(throttle, 4)
    throttle.succeeded("Anna", IP, 5)
    fail(throttle, 4, now=6)
    assert throttle.retry_after("anna", IP, 10) == 0  # 4 since the success
    fail(throttle, 2, user="bob", now=11)
    assert throttle.retry_after("carol", IP, 13) > 0  # the client's count went on: 4 + 4 + 2


def test_no_client_address_or_name_is_kept() -> None:
    throttle = LoginThrottle()
    fail(throttle, 3, user="anna@example.com")
    tables = (throttle._users._failures, throttle._clients._failures)
    keys = [key for table in tables for key in table]
    assert len(keys) == 2
    assert all(IP.encode() not in key and b"anna" not in key for key in keys)
    # The key is random per process: another instance cannot recognise the same address.
    other = LoginThrottle()
    fail(other, 1)
    assert set(other._clients._failures).isdisjoint(throttle._clients._failures)


def test_memory_stays_bounded_under_a_flood_of_names_and_addresses() -> None:
    throttle = LoginThrottle(max_entries=100)
    for i in range(5000):
        throttle.reserve(f"user{i}", f"10.0.{i // 256}.{i % 256}", i * 0.01)
    assert throttle.sizes() == (100, 100)
    assert throttle.retry_after("user4999", "10.0.19.135", 50) == 0  # recent entries are kept, unlocked


def test_old_failures_are_forgotten() -> None:
    throttle = LoginThrottle()
    fail(throttle, 4)
    assert throttle.retry_after("anna", IP, 1000) == 0
    assert throttle.sizes() == (0, 0)


def test_parallel_guesses_are_counted_before_the_slow_password_check() -> None:
    # Forty requests queue for the hash at once: each takes its attempt first, so only five get one.
    throttle = LoginThrottle()
    waits = [throttle.reserve("anna", "client", 100.0) for _ in range(40)]
    assert waits[:5] == [0.0] * 5 and all(wait > 0 for wait in waits[5:])


def test_a_reserved_attempt_that_succeeds_is_not_held_against_the_client() -> None:
    throttle = LoginThrottle(per_client=2)
    for second in range(5):
        assert throttle.reserve(f"user{second}", "office", float(second)) == 0.0
        throttle.succeeded(f"user{second}", "office", float(second))


def test_an_attempt_that_checked_no_password_is_given_back() -> None:
    # The users file could not be read: five such attempts must not lock the user out afterwards.
    throttle = LoginThrottle()
    for second in range(5):
        assert throttle.reserve("anna", "office", float(second)) == 0.0
        throttle.release("anna", "office", float(second))
    assert throttle.reserve("anna", "office", 6.0) == 0.0
