"""Login throttling: guessers are slowed more and more (capped), the real user elsewhere never is.

An attempt ``reserve`` lets through counts as a failure until ``succeeded`` says otherwise. Time is
the throttle's own clock, passed in as ``now``: nothing here sleeps."""

from __future__ import annotations

import pytest

from gateway.dashboard.throttle import LoginThrottle, client_network, delay, wide_network

NETWORK_A, NETWORK_B = "203.0.113.7", "198.51.100.23"


def guess(throttle: LoginThrottle, times: int, user: str = "admin", client: str = NETWORK_A,
          now: float = 0.0) -> tuple[float, list[float]]:
    """``times`` wrong passwords, each as soon as the throttle lets it through: the time after the last,
    and the waits the guesser was told after each."""
    waits = []
    for _ in range(times):
        now += throttle.retry_after(user, client, now)
        assert throttle.reserve(user, client, now) == 0.0
        waits.append(throttle.retry_after(user, client, now))
    return now, waits


def test_a_guesser_is_slowed_by_growing_delays_up_to_a_cap() -> None:
    throttle = LoginThrottle()
    _, waits = guess(throttle, 14)
    assert waits[:4] == [0.0] * 4  # a few typos cost nothing
    assert waits[4:12] == [1, 2, 4, 8, 16, 32, 60, 60]  # then each failure doubles the wait
    assert max(waits) == 60


def test_a_stranger_failing_fifty_times_does_not_stop_the_real_user_on_another_network() -> None:
    throttle = LoginThrottle()
    now, waits = guess(throttle, 50, user="ADMIN ")  # names match whatever the case and spaces
    assert waits[-1] == 60 and now > 40 * 60  # the stranger got about a guess a minute
    assert throttle.retry_after("admin", NETWORK_A, now) == 60
    assert throttle.reserve("admin", NETWORK_B, now) == 0.0  # the real user's network: straight in
    throttle.succeeded("admin", NETWORK_B)
    # One stranger is not a distributed attack: the real user's typos cost nothing more than before.
    _, typos = guess(throttle, 4, client=NETWORK_B, now=now)
    assert typos == [0.0] * 4


def test_a_name_under_distributed_attack_slows_only_the_networks_that_failed_for_it() -> None:
    throttle = LoginThrottle(user_alarm=10)
    for host in range(9):  # nine networks, one guess each: each keeps its free attempts
        throttle.reserve("admin", f"10.0.0.{host}", 0.0)
    assert throttle.retry_after("admin", "10.0.0.1", 0.0) == 0.0
    throttle.reserve("admin", "10.0.0.9", 0.0)  # the tenth: the name is under attack
    assert all(throttle.retry_after("admin", f"10.0.0.{host}", 0.0) == 1.0 for host in range(10))
    assert throttle.retry_after("admin", NETWORK_B, 0.0) == 0.0  # never failed for admin
    assert throttle.retry_after("someone", "10.0.0.1", 0.0) == 0.0  # other names: as before


def test_one_network_trying_many_names_is_slowed_across_names() -> None:
    throttle = LoginThrottle()
    for i in range(20):  # credential stuffing: one guess per name
        assert throttle.reserve(f"user{i}", NETWORK_A, 0.0) == 0.0
    assert throttle.retry_after("someone-new", NETWORK_A, 0.0) == 1.0
    assert throttle.retry_after("someone-new", NETWORK_B, 0.0) == 0.0
    waits = []
    now = 0.0
    for i in range(20, 30):
        now += throttle.retry_after(f"user{i}", NETWORK_A, now)
        throttle.reserve(f"user{i}", NETWORK_A, now)
        waits.append(throttle.retry_after("anyone", NETWORK_A, now))
    assert waits == [2, 4, 8, 16, 32, 60, 60, 60, 60, 60]


def test_an_ipv6_client_is_its_64_and_ipv4_mapped_addresses_are_ipv4() -> None:
    assert client_network("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert client_network("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_network("2001:db8:1:3::1") != client_network("2001:db8:1:2::1")
    assert client_network("::ffff:203.0.113.7") == NETWORK_A
    assert client_network("fe80::1%eth0") == "fe80::/64"
    assert client_network("testclient") == "testclient"
    throttle = LoginThrottle()
    guess(throttle, 5, client="2001:db8:1:2::1")
    assert throttle.retry_after("admin", "2001:db8:1:2:ffff::9", 0.0) == 1.0  # a rotated address
    assert throttle.retry_after("admin", "2001:db8:1:3::1", 0.0) == 0.0  # the next /64


def test_a_success_clears_that_name_on_that_network_but_not_the_networks_other_failures() -> None:
    throttle = LoginThrottle(free_per_client=10)
    now, _ = guess(throttle, 6)
    assert throttle.retry_after("admin", NETWORK_A, now) == 2.0
    throttle.succeeded("admin", NETWORK_A)  # the reserved attempt was the right password after all
    assert throttle.retry_after("admin", NETWORK_A, now) == 0.0
    now, _ = guess(throttle, 5, user="bob", now=now)
    assert throttle.retry_after("carol", NETWORK_A, now) > 0  # the network's count went on: 5 + 5


def test_no_client_address_or_name_is_kept() -> None:
    throttle = LoginThrottle()
    guess(throttle, 3, user="anna@example.com")
    tables = (throttle._pairs._entries, throttle._clients._entries, throttle._users._entries)
    keys = [key for table in tables for key in table]
    assert len(keys) == 3
    assert all(NETWORK_A.encode() not in key and b"anna" not in key for key in keys)
    # The key is random per process: another instance cannot recognise the same address.
    other = LoginThrottle()
    guess(other, 1)
    assert set(other._clients._entries).isdisjoint(throttle._clients._entries)


def test_memory_stays_bounded_under_a_flood_of_names_and_addresses() -> None:
    throttle = LoginThrottle(max_entries=100)
    for i in range(5000):
        throttle.reserve(f"user{i}", f"10.0.{i // 256}.{i % 256}", i * 0.01)
    assert throttle.sizes() == (100, 100, 100)
    assert throttle.retry_after("user4999", "10.0.19.135", 50) == 0  # recent entries are kept, not slowed


def test_old_failures_are_forgotten() -> None:
    throttle = LoginThrottle(forget=900)
    now, _ = guess(throttle, 8)
    assert throttle.retry_after("admin", NETWORK_A, now + 899) == 0  # the wait is long over
    throttle.reserve("someone", NETWORK_B, now + 900)  # a later failure sweeps the stale entries
    assert throttle.sizes() == (1, 1, 1)
    assert throttle.reserve("admin", NETWORK_A, now + 900) == 0.0  # free attempts again
    assert throttle.retry_after("admin", NETWORK_A, now + 900) == 0.0


def test_parallel_guesses_are_counted_before_the_slow_password_check() -> None:
    # Forty requests queue for the hash at once: each takes its attempt first, so only five get one.
    throttle = LoginThrottle()
    waits = [throttle.reserve("admin", NETWORK_A, 100.0) for _ in range(40)]
    assert waits[:5] == [0.0] * 5 and all(wait == 1.0 for wait in waits[5:])


def test_a_reserved_attempt_that_succeeds_is_not_held_against_the_client() -> None:
    throttle = LoginThrottle(free_per_client=2)
    for second in range(5):
        assert throttle.reserve(f"user{second}", "office", float(second)) == 0.0
        throttle.succeeded(f"user{second}", "office")


def test_an_attempt_that_checked_no_password_is_given_back() -> None:
    # The users file could not be read: such attempts must not slow the user down afterwards.
    throttle = LoginThrottle()
    for _ in range(10):
        assert throttle.reserve("admin", "office", 0.0) == 0.0
        throttle.release("admin", "office")
    assert throttle.sizes() == (0, 0, 0)


def test_a_clock_set_back_never_makes_anyone_wait_longer_than_the_cap() -> None:
    throttle = LoginThrottle()
    now, _ = guess(throttle, 6, now=10_000.0)
    assert throttle.retry_after("admin", NETWORK_A, now - 5_000) == 60.0


@pytest.mark.parametrize(("failures", "expected"), [(0, 0), (4, 0), (5, 1), (6, 2), (10, 32), (11, 60),
                                                    (10_000, 60)])
def test_the_delay_grows_from_one_second_to_the_cap(failures: int, expected: float) -> None:
    assert delay(failures, free=5, base=1.0, cap=60.0) == expected


def test_the_wait_runs_from_the_answer_not_from_the_question() -> None:
    # The hash of the fifth guess takes a while: the guesser still waits a full second after learning.
    throttle = LoginThrottle()
    now, _ = guess(throttle, 5)
    throttle.failed("admin", NETWORK_A, now + 0.4)
    assert throttle.retry_after("admin", NETWORK_A, now + 0.4) == pytest.approx(1.0)


def test_rotating_ipv6_slash_64s_inside_one_slash_48_is_slowed_like_one_client() -> None:
    throttle = LoginThrottle()  # 80 failures free per /48
    now, tries = 0.0, 0
    while now < 900 and tries < 10_000:  # a quarter of an hour, a fresh /64 (of 65,536) for every guess
        client = f"2001:db8:9:{tries:x}::1"
        now += throttle.retry_after("admin", client, now)
        assert throttle.reserve("admin", client, now) == 0.0
        throttle.failed("admin", client, now)
        tries += 1
    # 80 free, then 1, 2, 4 ... 32 s, then a minute each. Without the /48: each fresh /64 at once, unbounded.
    assert tries == 80 + 6 + 14
    assert throttle.retry_after("admin", "2001:db8:9:ffff::1", now) > 0  # a /64 it never used
    assert throttle.retry_after("admin", "2001:db8:a::1", now) == 0.0  # the next /48: untouched
    assert throttle.retry_after("admin", NETWORK_B, now) == 0.0


def test_the_wide_network_is_the_ipv6_slash_48() -> None:
    assert wide_network("2001:db8:1:2:aaaa::1") == "2001:db8:1::/48"
    assert wide_network("2001:db8:1:ffff::1") == wide_network("2001:db8:1:2::1")
    assert wide_network("2001:db8:2::1") != wide_network("2001:db8:1::1")
    assert wide_network(NETWORK_A) is None and wide_network("::ffff:203.0.113.7") is None
    assert wide_network("testclient") is None


def test_a_success_or_an_unchecked_attempt_gives_the_slash_48_its_attempt_back() -> None:
    throttle = LoginThrottle(free_per_wide=2)
    for n in range(10):  # real users of one /48 logging in, and an outage of the users file
        assert throttle.reserve(f"user{n}", f"2001:db8:1:{n:x}::1", 0.0) == 0.0
        if n % 2:
            throttle.succeeded(f"user{n}", f"2001:db8:1:{n:x}::1")
        else:
            throttle.release(f"user{n}", f"2001:db8:1:{n:x}::1")
    assert throttle.retry_after("anyone", "2001:db8:1:ff::1", 0.0) == 0.0
    assert len(throttle._wides) == 0
