"""Tests for gateway.web.proxy: client address and scheme behind trusted reverse proxies."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import pytest

from gateway.web.proxy import (
    TrustedProxies,
    budget_addresses,
    client_ip,
    request_is_https,
    undeclared_proxy,
    undeclared_proxy_client,
)

NETWORKS = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "2001:db8:ffff::/48")]
TRUSTED = TrustedProxies(NETWORKS)
NOBODY = TrustedProxies(())

PROXY = "10.0.0.1"  # a trusted peer
VISITOR = "203.0.113.7"


def scope(peer: str | None, *headers: tuple[str, str], scheme: str = "http") -> dict[str, Any]:
    return {
        "type": "http",
        "scheme": scheme,
        "client": None if peer is None else (peer, 50123),
        "headers": [(name.encode(), value.encode("latin-1")) for name, value in headers],
    }


def xff(value: str) -> tuple[str, str]:
    return ("x-forwarded-for", value)


def fwd(value: str) -> tuple[str, str]:
    return ("forwarded", value)


def xfp(value: str) -> tuple[str, str]:
    return ("x-forwarded-proto", value)


def real(value: str) -> tuple[str, str]:
    return ("x-real-ip", value)


CLIENT_CASES: list[tuple[str, str | None, list[tuple[str, str]], str | None]] = [
    # (id, peer, headers, expected) with TRUSTED
    ("direct", VISITOR, [], VISITOR),
    ("untrusted-peer-xff-ignored", VISITOR, [xff("198.51.100.1")], VISITOR),
    ("untrusted-peer-forwarded-ignored", VISITOR, [fwd("for=198.51.100.1")], VISITOR),
    ("trusted-peer-no-headers", PROXY, [], PROXY),
    ("one-hop", PROXY, [xff(VISITOR)], VISITOR),
    ("chain-trusted-hops-skipped", PROXY, [xff(f"{VISITOR}, 10.0.0.2, 10.9.9.9")], VISITOR),
    ("spoofed-left-part-ignored", PROXY, [xff(f"1.1.1.1, 10.0.0.3, {VISITOR}, 10.0.0.2")], VISITOR),
    ("all-trusted-left-most", PROXY, [xff("10.0.0.5, 10.0.0.6, 2001:db8:ffff::2")], "10.0.0.5"),
    ("multiple-xff-in-order", PROXY, [xff("198.51.100.9"), xff(VISITOR)], VISITOR),
    ("multiple-xff-across", PROXY, [xff("198.51.100.9, 10.0.0.3"), xff("10.0.0.2")], "198.51.100.9"),
    ("xff-before-forwarded", PROXY, [fwd("for=198.51.100.9"), xff(VISITOR)], VISITOR),
    ("whitespace", PROXY, [xff(f" \t{VISITOR} ,\t10.0.0.2  ")], VISITOR),
    ("v4-port", PROXY, [xff(f"{VISITOR}:5678")], VISITOR),
    ("v6-bracket-port-in-xff", PROXY, [xff("[2001:DB8::7]:443")], "2001:db8::7"),
    ("v6-bare-normalised", PROXY, [xff("2001:0db8:0:0:0:0:0:0007")], "2001:db8::7"),
    ("v4-mapped-hop", PROXY, [xff(f"::ffff:{VISITOR}")], VISITOR),
    ("v4-mapped-trusted-hop", PROXY, [xff(f"{VISITOR}, ::ffff:10.0.0.2")], VISITOR),
    ("v4-mapped-peer-trusted", "::ffff:10.0.0.1", [xff(VISITOR)], VISITOR),
    ("v4-mapped-peer-untrusted", f"::ffff:{VISITOR}", [xff("198.51.100.1")], VISITOR),
    ("v6-peer-normalised", "2001:DB8:0::1", [], "2001:db8::1"),
    ("v6-zone-id-dropped", PROXY, [xff("fe80::1%eth0")], "fe80::1"),
    # A hop that is not an address ends the chain: the last valid address to its right wins.
    ("malformed-hop", PROXY, [xff(f"{VISITOR}, not-an-ip, 10.0.0.2")], "10.0.0.2"),
    ("malformed-only", PROXY, [xff("garbage")], PROXY),
    ("malformed-leading-zero", PROXY, [xff("010.0.0.2")], PROXY),
    ("malformed-five-octets", PROXY, [xff("1.2.3.4.5")], PROXY),
    ("malformed-empty-port", PROXY, [xff(f"{VISITOR}:")], PROXY),
    ("malformed-bracketed-v4", PROXY, [xff(f"[{VISITOR}]")], PROXY),
    ("malformed-unclosed-bracket", PROXY, [xff("[2001:db8::1")], PROXY),
    ("malformed-empty-element", PROXY, [xff(f"{VISITOR}, , 10.0.0.2")], "10.0.0.2"),
    ("empty-xff", PROXY, [xff("")], PROXY),
    ("blank-xff-falls-back-to-forwarded", PROXY, [xff("  "), fwd(f"for={VISITOR}")], VISITOR),
    ("forwarded-one", PROXY, [fwd(f"for={VISITOR}")], VISITOR),
    ("forwarded-quoted-v6-port", PROXY, [fwd('for="[2001:db8::1]:4711"')], "2001:db8::1"),
    ("forwarded-quoted-v6", PROXY, [fwd('For="[2001:DB8:0:0::1]";proto=https')], "2001:db8::1"),
    ("forwarded-v4-port-quoted", PROXY, [fwd(f'for="{VISITOR}:80"')], VISITOR),
    ("forwarded-chain", PROXY,
     [fwd('for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:ffff::5]"')], "192.0.2.60"),
    ("forwarded-multiple-headers", PROXY, [fwd("for=198.51.100.9"), fwd(f"for={VISITOR}")], VISITOR),
    ("forwarded-spaces", PROXY, [fwd(f' for = "{VISITOR}" ; proto=https ')], VISITOR),
    ("forwarded-unknown", PROXY, [fwd("for=unknown")], PROXY),
    ("forwarded-unknown-then-trusted", PROXY, [fwd(f"for={VISITOR}, for=unknown, for=10.0.0.2")], "10.0.0.2"),
    ("forwarded-obfuscated", PROXY, [fwd("for=_hidden, for=10.0.0.2")], "10.0.0.2"),
    ("forwarded-obfuscated-port", PROXY, [fwd(f'for="{VISITOR}:_abc"')], VISITOR),
    ("forwarded-no-for", PROXY, [fwd("proto=https;by=10.0.0.1")], PROXY),
    ("forwarded-unclosed-quote", PROXY, [fwd(f'for="[2001:db8::1, for={VISITOR}')], VISITOR),
    ("no-client", None, [xff(VISITOR)], None),
    ("peer-not-an-ip", "testclient", [xff(VISITOR)], None),
]


@pytest.mark.parametrize(("peer", "headers", "expected"), [c[1:] for c in CLIENT_CASES],
                         ids=[c[0] for c in CLIENT_CASES])
def test_client_ip(peer: str | None, headers: list[tuple[str, str]], expected: str | None) -> None:
    assert client_ip(scope(peer, *headers), TRUSTED) == expected


@pytest.mark.parametrize("peer", [PROXY, VISITOR, "127.0.0.1"])
def test_without_trusted_proxies_the_peer_is_the_client(peer: str) -> None:
    spoofed = scope(peer, xff("198.51.100.1"), fwd("for=198.51.100.2"), xfp("https"))
    assert client_ip(spoofed, NOBODY) == peer
    assert request_is_https(spoofed, NOBODY) is False


def test_missing_client_and_headers_keys() -> None:
    assert client_ip({"type": "http"}, TRUSTED) is None
    assert client_ip({"type": "http", "client": (PROXY, 1)}, TRUSTED) == PROXY
    assert request_is_https({"type": "http", "client": (PROXY, 1)}, TRUSTED) is False


HTTPS_CASES: list[tuple[str, str, str, list[tuple[str, str]], bool]] = [
    # (id, scheme, peer, headers, expected) with TRUSTED
    ("direct-https", "https", VISITOR, [], True),
    ("direct-wss", "wss", VISITOR, [], True),
    ("direct-http", "http", VISITOR, [], False),
    ("untrusted-xfp-ignored", "http", VISITOR, [xfp("https")], False),
    ("untrusted-forwarded-ignored", "http", VISITOR, [fwd(f"for={VISITOR};proto=https")], False),
    ("proxy-xfp-https", "http", PROXY, [xff(VISITOR), xfp("https")], True),
    ("proxy-xfp-uppercase", "http", PROXY, [xfp(" HTTPS ")], True),
    ("proxy-xfp-http", "http", PROXY, [xfp("http")], False),
    ("proxy-xfp-right-most", "http", PROXY, [xfp("https, http")], False),
    ("proxy-xfp-right-most-header", "http", PROXY, [xfp("http"), xfp("https")], True),
    ("proxy-no-headers", "http", PROXY, [], False),
    ("proxy-forwarded-https", "http", PROXY, [fwd("proto=https")], True),
    ("proxy-forwarded-quoted", "http", PROXY, [fwd(f'for={VISITOR};proto="HTTPS"')], True),
    # The element the walk ends at is the one the first trusted proxy wrote.
    ("forwarded-entry-used", "http", PROXY,
     [fwd(f"for={VISITOR};proto=https, for=10.0.0.2;proto=http")], True),
    ("forwarded-client-claim-ignored", "http", PROXY,
     [fwd(f"for=198.51.100.1;proto=https, for={VISITOR};proto=http")], False),
    ("forwarded-all-trusted-left-most", "http", PROXY, [fwd("for=10.0.0.3;proto=https, for=10.0.0.2")], True),
    ("forwarded-unknown-client", "http", PROXY, [fwd("for=unknown;proto=https")], True),
    ("xfp-over-forwarded", "http", PROXY, [fwd("proto=https"), xfp("http")], False),
]


@pytest.mark.parametrize(("scheme", "peer", "headers", "expected"), [c[1:] for c in HTTPS_CASES],
                         ids=[c[0] for c in HTTPS_CASES])
def test_request_is_https(scheme: str, peer: str, headers: list[tuple[str, str]], expected: bool) -> None:
    assert request_is_https(scope(peer, *headers, scheme=scheme), TRUSTED) is expected


@pytest.mark.parametrize(("ip", "expected"), [
    ("10.0.0.1", True),
    (" 10.255.255.255 ", True),
    ("10.0.0.1:8080", True),
    ("::ffff:10.0.0.1", True),
    ("2001:db8:ffff::1", True),
    ("[2001:db8:ffff::1]:443", True),
    ("11.0.0.1", False),
    ("2001:db8::1", False),
    ("", False),
    ("garbage", False),
    ("10.0.0.256", False),
    ("10.0.0.1/8", False),
])
def test_trusted_proxies_contains(ip: str, expected: bool) -> None:
    assert (ip in TRUSTED) is expected


def test_ipv4_mapped_network_matches_ipv4_hops() -> None:
    trusted = TrustedProxies([ipaddress.IPv6Network("::ffff:10.0.0.0/104")])
    assert "10.1.2.3" in trusted and "::ffff:10.1.2.3" in trusted
    assert "11.1.2.3" not in trusted


def test_only_proxy_addresses_are_remembered() -> None:
    trusted = TrustedProxies(NETWORKS)
    for _ in range(3):
        assert client_ip(scope(PROXY, xff(f"{VISITOR}, 10.0.0.2")), trusted) == VISITOR
        assert client_ip(scope(VISITOR), trusted) == VISITOR
    assert set(trusted._cache) == {PROXY, "10.0.0.2"}  # never a visitor address


def test_cache_is_bounded() -> None:
    trusted = TrustedProxies(NETWORKS)
    for i in range(2000):
        assert f"10.0.{i // 256}.{i % 256}" in trusted
    assert len(trusted._cache) <= 256
    assert "10.0.7.207" in trusted  # still answered correctly when the cache is full


STRUCTURE = ',;="[]:%_ \t.' + "0123456789abcdefABCDEF" + "forwardunknownprotohttps"


def junk(rng: random.Random) -> str:
    length = rng.randrange(0, 80)
    if rng.random() < 0.5:
        return bytes(rng.randrange(256) for _ in range(length)).decode("latin-1")
    return "".join(rng.choice(STRUCTURE) for _ in range(length))


def test_never_raises_on_junk_headers() -> None:
    rng = random.Random(7239)
    for _ in range(500):
        headers = [(rng.choice(["x-forwarded-for", "forwarded", "x-forwarded-proto"]), junk(rng))
                   for _ in range(rng.randrange(1, 4))]
        for peer in (PROXY, VISITOR, junk(rng)):
            for trusted in (TRUSTED, NOBODY):
                s = scope(peer, *headers)
                ip = client_ip(s, trusted)
                assert ip is None or str(ipaddress.ip_address(ip)) == ip
                if peer == VISITOR or (trusted is NOBODY and peer == PROXY):
                    assert ip == peer
                assert request_is_https(s, trusted) in (True, False)
                found = undeclared_proxy_client(s, trusted)
                assert found in (None, "unknown") or str(ipaddress.ip_address(found)) == found
        assert isinstance(junk(rng) in TRUSTED, bool)


def test_ipv6_normalisation_matches_ipaddress() -> None:
    rng = random.Random(5952)
    for _ in range(2000):
        # Zero groups are common so that runs of every length, ties and edges occur.
        words = [rng.choice([0, 0, 0, 1, 0xFFFF, rng.randrange(0x10000)]) for _ in range(8)]
        address = ipaddress.IPv6Address(b"".join(w.to_bytes(2, "big") for w in words))
        expected = str(address.ipv4_mapped or address)
        for written in (address.exploded, address.compressed, address.exploded.upper()):
            assert client_ip(scope(written), NOBODY) == expected
            assert client_ip(scope(PROXY, xff(written)), TRUSTED) == expected
            assert client_ip(scope(PROXY, fwd(f'for="[{written}]:443"')), TRUSTED) == expected


# --- a proxy on this host or a private network that GATEWAY_TRUSTED_PROXIES leaves out ---------------

UNDECLARED_CASES: list[tuple[str, str | None, list[tuple[str, str]], str | None]] = [
    # (id, peer, headers, the client the undeclared proxy forwarded) with TRUSTED (10.0.0.0/8 trusted)
    ("loopback-xff", "127.0.0.1", [xff(VISITOR)], VISITOR),
    ("loopback-xff-right-most", "127.0.0.1", [xff(f"1.1.1.1, {VISITOR}")], VISITOR),  # what nginx appends
    ("loopback-last-xff-header", "127.0.0.1", [xff("1.1.1.1"), xff(f"{VISITOR}:5678")], VISITOR),
    ("v6-loopback-forwarded", "::1", [fwd(f"for=1.1.1.1, for={VISITOR}")], VISITOR),
    ("docker-x-real-ip", "172.17.0.1", [real("2001:DB8::7")], "2001:db8::7"),
    ("private-xff-over-real-ip", "192.168.1.2", [real("1.1.1.1"), xff(VISITOR)], VISITOR),
    ("unique-local", "fd00::2", [xff(VISITOR)], VISITOR),
    ("link-local", "169.254.0.9", [xff(VISITOR)], VISITOR),
    ("carrier-grade-nat-pod-network", "100.64.3.4", [xff(VISITOR)], VISITOR),
    ("not-carrier-grade-nat", "100.128.0.1", [xff(VISITOR)], None),
    ("garbage-hop", "127.0.0.1", [xff("not-an-ip")], "unknown"),
    ("proto-only-names-nobody", "127.0.0.1", [xfp("https")], None),
    ("loopback-no-headers", "127.0.0.1", [], None),
    ("trusted-proxy", PROXY, [xff(VISITOR)], None),  # declared: client_ip's walk applies
    ("public-peer", VISITOR, [xff("198.51.100.1")], None),  # a corporate forward proxy, or a liar
    ("not-private-172", "172.32.0.1", [xff(VISITOR)], None),
    ("no-client", None, [xff(VISITOR)], None),
    ("peer-not-an-ip", "testclient", [xff(VISITOR)], None),
]


@pytest.mark.parametrize(("peer", "headers", "expected"), [c[1:] for c in UNDECLARED_CASES],
                         ids=[c[0] for c in UNDECLARED_CASES])
def test_the_client_an_undeclared_local_proxy_forwarded(peer: str | None, headers: list[tuple[str, str]],
                                                        expected: str | None) -> None:
    assert undeclared_proxy_client(scope(peer, *headers), TRUSTED) == expected


def test_an_undeclared_local_proxy_is_counted_on_each_request_and_warned_about_once(
        caplog: pytest.LogCaptureFixture) -> None:
    counted: list[tuple[str, str]] = []
    trusted = TrustedProxies(NETWORKS, count=lambda name, reason: counted.append((name, reason)))
    for headers in ([], [xff("198.51.100.1")]):  # nothing to notice: public peers, trusted proxies
        assert client_ip(scope(VISITOR, *headers), trusted) == VISITOR
        assert client_ip(scope(PROXY, *headers), trusted) in (PROXY, "198.51.100.1")
    assert client_ip(scope("127.0.0.1"), trusted) == "127.0.0.1"
    assert not trusted.misconfigured and not counted and not caplog.records
    assert trusted.misconfigured_peer is None
    for _ in range(3):
        assert client_ip(scope("127.0.0.1", xff(VISITOR)), trusted) == "127.0.0.1"  # still not believed
    assert trusted.misconfigured_peer == "127.0.0.1"  # the proxy's address, for /-/health's operator details
    assert undeclared_proxy(scope("::1", xfp("https")), trusted)
    assert not undeclared_proxy(scope("127.0.0.1"), trusted)
    assert trusted.misconfigured and trusted.misconfigured_peer == "::1"  # the last one
    assert counted == [("proxy", "untrusted-forwarded")] * 4
    [warning] = caplog.records
    assert warning.levelname == "WARNING" and "GATEWAY_TRUSTED_PROXIES" in warning.getMessage()
    assert not any(char.isdigit() for char in warning.getMessage())  # no address, not even the proxy's


BUDGET_CASES: list[tuple[str, str, list[tuple[str, str]], tuple[str | None, str | None]]] = [
    # (id, peer, headers, (the one client, the local peer charged for all)) with TRUSTED (10.0.0.0/8)
    ("public-peer", VISITOR, [xff("198.51.100.1")], (VISITOR, None)),
    ("declared-proxy-names-the-client", PROXY, [xff(VISITOR)], (VISITOR, None)),
    ("declared-proxy-names-nobody", PROXY, [], (None, PROXY)),
    ("loopback-no-headers", "127.0.0.1", [], (None, "127.0.0.1")),
    ("loopback-undeclared-proxy", "127.0.0.1", [xff(f"1.1.1.1, {VISITOR}")], (VISITOR, "127.0.0.1")),
    ("docker-bridge-no-headers", "172.17.0.1", [], (None, "172.17.0.1")),
    ("istio-sidecar", "127.0.0.6", [xff(VISITOR)], (VISITOR, "127.0.0.6")),
    ("pod-network-cgnat", "100.64.0.9", [real(VISITOR)], (VISITOR, "100.64.0.9")),
    ("garbage-hop", "::1", [xff("not-an-ip")], ("unknown", "::1")),
]


@pytest.mark.parametrize(("peer", "headers", "expected"), [c[1:] for c in BUDGET_CASES],
                         ids=[c[0] for c in BUDGET_CASES])
def test_budget_addresses(peer: str, headers: list[tuple[str, str]], expected: tuple[str | None, str | None]
                          ) -> None:
    s = scope(peer, *headers)
    assert budget_addresses(s, TRUSTED, client_ip(s, TRUSTED)) == expected
