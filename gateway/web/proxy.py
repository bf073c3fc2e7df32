"""Who the client is and whether it used HTTPS, when the gateway sits behind reverse proxies.

uvicorn runs with ``proxy_headers=False``, so ``scope["client"]`` is always the socket peer. The
forwarding headers (X-Forwarded-For, RFC 7239 Forwarded, X-Forwarded-Proto) are believed only when
that peer is in ``GATEWAY_TRUSTED_PROXIES``, and then only as far along the chain as each hop is
itself a trusted proxy: every proxy appends on the right, so whatever lies left of the first
untrusted hop was written by the client and proves nothing.

Hot path: `TrustedProxies` is built once at start-up with the networks as (address, mask)
integers; hops are parsed with ``socket.inet_pton`` and formatted without ``ipaddress``, no regex.

A proxy on this host or a private network that ``GATEWAY_TRUSTED_PROXIES`` leaves out makes every
visitor look like the proxy. When such a peer (loopback, private, carrier-grade NAT, link-local or
unique-local) sends forwarding headers (X-Forwarded-For, Forwarded, X-Real-IP, X-Forwarded-Proto),
``client_ip`` counts the request (metric ``proxy/untrusted-forwarded``), sets
``TrustedProxies.misconfigured`` and ``misconfigured_peer`` (the proxy's address, for the operator's
eyes in ``/-/health``) and logs one warning per process. Public peers are not counted: clients behind
a corporate forward proxy send X-Forwarded-For too, and a public proxy cannot be told from a client
writing the header itself.

Invariant 1: no header content can make these functions raise, and the one warning names no
address. The only addresses remembered between requests are those of proxies (trusted ones, and the
last undeclared one); visitor addresses are never cached.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_network

from starlette.types import Scope

__all__ = ["TrustedProxies", "budget_addresses", "client_ip", "request_is_https", "undeclared_proxy",
           "undeclared_proxy_client"]

log = logging.getLogger(__name__)
UNTRUSTED_FORWARDED = ("proxy", "untrusted-forwarded")  # the metric
UNDECLARED_PROXY_WARNING = (
    "requests from a loopback or private-network peer carry forwarding headers (X-Forwarded-For, "
    "Forwarded, X-Real-IP or X-Forwarded-Proto), but GATEWAY_TRUSTED_PROXIES does not list that peer: "
    "every visitor behind it looks like one client. Set GATEWAY_TRUSTED_PROXIES to the reverse proxy's "
    "address or network (the loopback network when it runs on this host); until then dashboard logins "
    "through it are refused")
_FORWARDING = frozenset((b"x-forwarded-for", b"forwarded", b"x-real-ip", b"x-forwarded-proto"))
# Peers that can only be a proxy, NAT or host of this deployment, never a visitor on the Internet
# (100.64.0.0/10 is carrier-grade NAT space, which some pod networks use).
_LOCAL = tuple(ip_network(n) for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                       "100.64.0.0/10", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"))
_LOCAL_V4 = tuple((int(n.network_address), int(n.netmask)) for n in _LOCAL if n.version == 4)
_LOCAL_V6 = tuple((int(n.network_address), int(n.netmask)) for n in _LOCAL if n.version == 6)
_LOCAL_START = ("127.", "10.", "172.", "192.168.", "100.", "169.254.", "::1", "f")  # a cheap first sieve
_LOCAL_SURE = ("127.", "10.", "192.168.", "169.254.")  # of a normalised IPv4 address: no need to parse

_CACHE_SIZE = 256  # trusted proxy addresses remembered; a deployment has a handful
_CACHE_KEY_MAX = 64  # longer hop strings (e.g. a long IPv6 zone id) are resolved but not cached
_MAPPED = 0xFFFF  # bits 32..47 of an IPv4-mapped IPv6 address (::ffff:0:0/96)
_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
_ZERO_RUNS = tuple(":0" * n + ":" for n in range(8, 1, -1))

_Parsed = tuple[str, int, bool]  # normalised text, integer value, is IPv4


def _parse_ip(text: str) -> _Parsed | None:
    """A bare address (no port, no brackets) normalised to ipaddress's str form, or None."""
    if ":" not in text:
        try:
            packed = socket.inet_pton(socket.AF_INET, text)
        except (OSError, ValueError):
            return None
        # Only the canonical dotted quad, as ipaddress does (some platforms accept leading zeros).
        if socket.inet_ntoa(packed) != text:
            return None
        return text, int.from_bytes(packed), True
    try:
        # A zone id ("%eth0") means nothing beyond the host that saw it.
        packed = socket.inet_pton(socket.AF_INET6, text.partition("%")[0])
    except (OSError, ValueError):
        return None
    if packed[:12] == _MAPPED_PREFIX:
        return socket.inet_ntoa(packed[12:]), int.from_bytes(packed[12:]), True
    return _format_ipv6(packed), int.from_bytes(packed), False


def _format_ipv6(packed: bytes) -> str:
    """ipaddress's str form (RFC 5952), about three times as fast; inet_ntop differs across libcs."""
    text = ":{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:".format(*struct.unpack("!8H", packed))
    for run in _ZERO_RUNS:  # the longest run of two or more zero groups, the first on ties
        start = text.find(run)
        if start >= 0:
            return text[1:start] + "::" + text[start + len(run):-1]  # empty slices at either edge
    return text[1:-1]


def _is_port(port: str) -> bool:
    # Digits, or an RFC 7239 obfuscated port such as "_abc".
    return port.isascii() and (port.isdigit() or (port[:1] == "_" and len(port) > 1))


def _parse_node(node: str) -> _Parsed | None:
    """One hop: ``1.2.3.4``, ``1.2.3.4:80``, ``2001:db8::1``, ``[2001:db8::1]`` or ``[2001:db8::1]:80``."""
    if node[:1] == "[":
        end = node.find("]")
        rest = node[end + 1:]
        if end < 0 or (rest and not (rest[0] == ":" and _is_port(rest[1:]))):
            return None
        host = node[1:end]
        return _parse_ip(host) if ":" in host else None  # brackets are for IPv6 only
    if node.count(":") == 1:
        host, _, port = node.partition(":")
        return _parse_ip(host) if _is_port(port) else None
    return _parse_ip(node)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].strip()
    return value


class TrustedProxies:
    """The networks of reverse proxies whose forwarding headers are believed; built once at start-up."""

    __slots__ = ("_cache", "_count", "_v4", "_v6", "misconfigured", "misconfigured_peer", "networks")

    def __init__(self, networks: Sequence[IPv4Network | IPv6Network],
                 count: Callable[[str, str], object] | None = None) -> None:
        self.networks = tuple(networks)
        self._count = count  # the app's Metrics.count
        # A local peer left out of ``networks`` sent forwarding headers: a reverse proxy not declared.
        self.misconfigured = False
        # The last such peer: a proxy's address (never a visitor's), which the operator must list.
        self.misconfigured_peer: str | None = None
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for network in self.networks:
            value, mask = int(network.network_address), int(network.netmask)
            if isinstance(network, IPv4Network):
                v4.append((value, mask))
            elif network.prefixlen >= 96 and value >> 32 == _MAPPED:
                # ::ffff:10.0.0.0/104 means 10.0.0.0/8: mapped hops are compared as IPv4.
                v4.append((value & 0xFFFFFFFF, mask & 0xFFFFFFFF))
            else:
                v6.append((value, mask))
        self._v4 = tuple(v4)
        self._v6 = tuple(v6)
        # hop string -> normalised address, for trusted hops only (proxies, never visitors).
        self._cache: dict[str, str] = {}

    def __contains__(self, ip: str) -> bool:
        """Whether `ip` (an address, optionally with a port) is a trusted proxy; False when malformed."""
        return self._resolve(ip.strip())[1]

    def _resolve(self, node: str) -> tuple[str | None, bool]:
        """(normalised address, or None when `node` is not one; whether it is a trusted proxy)."""
        known = self._cache.get(node)
        if known is not None:
            return known, True
        parsed = _parse_node(node)
        if parsed is None:
            return None, False
        text, value, is_v4 = parsed
        for network, mask in self._v4 if is_v4 else self._v6:
            if value & mask == network:
                if len(self._cache) < _CACHE_SIZE and len(node) <= _CACHE_KEY_MAX:
                    self._cache[node] = text
                return text, True
        return text, False

    def _undeclared(self, peer: str) -> None:
        """Count a request from an undeclared local proxy; warn the first time."""
        self.misconfigured_peer = peer
        if self._count is not None:
            self._count(*UNTRUSTED_FORWARDED)
        if not self.misconfigured:
            self.misconfigured = True
            log.warning(UNDECLARED_PROXY_WARNING)


def _is_local(address: str) -> bool:
    """Whether a normalised address is loopback, private, link-local or unique-local."""
    if not address.startswith(_LOCAL_START):
        return False
    if address.startswith(_LOCAL_SURE):
        return True
    parsed = _parse_ip(address)
    if parsed is None:
        return False
    _, value, is_v4 = parsed
    return any(value & mask == network for network, mask in (_LOCAL_V4 if is_v4 else _LOCAL_V6))


def _forwards(scope: Scope) -> bool:
    return any(name in _FORWARDING for name, _ in scope.get("headers") or ())


def _noticed(scope: Scope, trusted: TrustedProxies, untrusted_peer: str) -> bool:
    """Whether an untrusted peer is an undeclared local proxy; if so the request is counted."""
    if _is_local(untrusted_peer) and _forwards(scope):
        trusted._undeclared(untrusted_peer)
        return True
    return False


def _resolved_peer(scope: Scope, trusted: TrustedProxies) -> tuple[str | None, bool]:
    """(the socket peer's normalised address, or None when it is not an IP; whether it is trusted)."""
    client = scope.get("client")
    host = client[0] if client else None
    return trusted._resolve(host) if isinstance(host, str) else (None, False)


def _forwarding_headers(scope: Scope) -> tuple[list[str], list[str], list[str]]:
    """Non-blank X-Forwarded-For, Forwarded and X-Forwarded-Proto values, in order of appearance."""
    xff: list[str] = []
    forwarded: list[str] = []
    xfp: list[str] = []
    for name, value in scope.get("headers") or ():
        if name == b"x-forwarded-for":
            target = xff
        elif name == b"forwarded":
            target = forwarded
        elif name == b"x-forwarded-proto":
            target = xfp
        else:
            continue
        text = value.decode("latin-1")
        if text.strip():
            target.append(text)
    return xff, forwarded, xfp


def _forwarded_elements(values: list[str]) -> list[tuple[str, str]]:
    """(for, proto) of each RFC 7239 element, left to right; "" where a parameter is absent.

    Deliberately not quote-aware when splitting on commas: a client could otherwise open a quote
    in its own part of the header and swallow the elements the proxies append after it.
    """
    elements: list[tuple[str, str]] = []
    for element in ",".join(values).split(","):
        node = proto = ""
        for pair in element.split(";"):
            key, _, value = pair.partition("=")
            key = key.strip().lower()
            if key == "for":
                node = _unquote(value)
            elif key == "proto":
                proto = _unquote(value).lower()
        elements.append((node, proto))
    return elements


def _walk(nodes: Sequence[str], address: str, trusted: TrustedProxies) -> tuple[str, int]:
    """Walk the hops right to left from the trusted peer `address`.

    Returns the client address and the index of the hop where the walk ended (-1 when there are
    no hops): the first untrusted hop; else the first hop that is not an address, in which case
    the address returned is the trusted one to its right; else the left-most hop.
    """
    for index in range(len(nodes) - 1, -1, -1):
        hop, hop_trusted = trusted._resolve(nodes[index].strip())
        if hop is None:
            return address, index
        address = hop
        if not hop_trusted:
            return address, index
    return address, (0 if nodes else -1)


def client_ip(scope: Scope, trusted: TrustedProxies) -> str | None:
    """The client's address in ipaddress's str form, or None when the scope has no IP peer.

    The socket peer, unless it is a trusted proxy: then the forwarding chain is walked from the
    right (X-Forwarded-For, all occurrences in order; without any, the ``for=`` values of
    Forwarded), skipping trusted proxies, and the first untrusted hop is the client. If every hop
    is trusted, the left-most one is. A hop that is not an address (garbage, an empty element,
    ``unknown``, an obfuscated ``_name``, a Forwarded element without ``for=``) ends the chain:
    the trusted proxy that appended it could not vouch for it, so the last valid address to its
    right (possibly the peer) is returned. Ports are dropped, IPv4-mapped IPv6 becomes IPv4, an
    IPv6 zone id is dropped. A peer that is not an IP address (a test client name) gives None.
    """
    address, is_trusted = _resolved_peer(scope, trusted)
    if address is None:
        return None
    if not is_trusted:
        _noticed(scope, trusted, address)
        return address
    xff, forwarded, _ = _forwarding_headers(scope)
    if xff:
        return _walk(",".join(xff).split(","), address, trusted)[0]
    if forwarded:
        return _walk([node for node, _ in _forwarded_elements(forwarded)], address, trusted)[0]
    return address


def request_is_https(scope: Scope, trusted: TrustedProxies) -> bool:
    """Whether the client reached us (or the first trusted proxy) over TLS.

    True when the scope's own scheme is https (or wss); otherwise only when the peer is a trusted
    proxy and either the right-most X-Forwarded-Proto value is https, or, without X-Forwarded-Proto,
    the Forwarded element where the `client_ip` walk ends says ``proto=https``. That element is the
    left-most one a trusted proxy appended, so it describes the connection the client made.
    """
    if scope.get("scheme") in ("https", "wss"):
        return True
    address, is_trusted = _resolved_peer(scope, trusted)
    if address is None or not is_trusted:
        return False
    _, forwarded, xfp = _forwarding_headers(scope)
    if xfp:
        return xfp[-1].rpartition(",")[2].strip().lower() == "https"
    if forwarded:
        elements = _forwarded_elements(forwarded)
        end = _walk([node for node, _ in elements], address, trusted)[1]
        return end >= 0 and elements[end][1] == "https"
    return False


def undeclared_proxy(scope: Scope, trusted: TrustedProxies) -> bool:
    """Whether the request came through a local proxy that ``trusted`` leaves out (see above); counted
    as ``client_ip`` counts it, for a request that asks this instead."""
    address, is_trusted = _resolved_peer(scope, trusted)
    return address is not None and not is_trusted and _noticed(scope, trusted, address)


def undeclared_proxy_client(scope: Scope, trusted: TrustedProxies) -> str | None:
    """Behind a local proxy that ``trusted`` leaves out: the client it forwarded, else None.

    That is the right-most hop of the last X-Forwarded-For (the hop the proxy appends), else the last
    Forwarded ``for=``, else X-Real-IP; ``"unknown"`` when that is no address. Only a process on this
    host or network can connect from such a peer, so a proxy that appends names the real client; one
    that relays what clients send lets them pick a value, which is no worse than not telling clients
    apart. For limits kept in memory only: never for geography, nor for anything stored.
    """
    address, is_trusted = _resolved_peer(scope, trusted)
    if address is None or is_trusted or not _is_local(address):
        return None
    xff, forwarded, _ = _forwarding_headers(scope)
    if xff:
        hop = xff[-1].rpartition(",")[2]
    elif forwarded:
        hop = _forwarded_elements(forwarded)[-1][0]
    else:
        real = [v.decode("latin-1") for n, v in scope.get("headers") or () if n == b"x-real-ip"]
        if not real or not real[-1].strip():
            return None  # no forwarding header, or one that names no client (X-Forwarded-Proto)
        hop = real[-1]
    parsed = _parse_node(hop.strip())
    return "unknown" if parsed is None else parsed[0]


def budget_addresses(scope: Scope, trusted: TrustedProxies, ip: str | None) -> tuple[str | None, str | None]:
    """For consent budgets, kept in memory only: (the address of one client, or None; the address of a
    loopback or private peer that stands for many clients, or None). ``ip`` is ``client_ip``'s answer.

    A local peer that ``trusted`` leaves out (a proxy, a NAT such as Docker's userland proxy or a
    Kubernetes Service, a local tool) may name its client in a forwarding header, which it may also have
    relayed from the client: that is the one client, and the peer is charged for the sum of them. One
    that names nobody is not one client: only the peer is charged. Likewise a declared proxy that names
    nobody (or a client on a private network behind it), as ``ip`` is then a local address.
    """
    address, is_trusted = _resolved_peer(scope, trusted)
    if address is not None and not is_trusted and _is_local(address):
        return undeclared_proxy_client(scope, trusted), address
    if ip is not None and _is_local(ip):
        return None, ip
    return ip, None
