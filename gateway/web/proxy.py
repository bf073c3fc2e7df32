"""Who the client is and whether it used HTTPS, when the gateway sits behind reverse proxies.

uvicorn runs with ``proxy_headers=False``, so ``scope["client"]`` is always the socket peer. The
forwarding headers (X-Forwarded-For, RFC 7239 Forwarded, X-Forwarded-Proto) are believed only when
that peer is in ``GATEWAY_TRUSTED_PROXIES``, and then only as far along the chain as each hop is
itself a trusted proxy: every proxy appends on the right, so whatever lies left of the first
untrusted hop was written by the client and proves nothing.

Hot path: `TrustedProxies` is built once at start-up with the networks as (address, mask)
integers; hops and headers are parsed by ``gateway.web.forwarding``, which trusts none of them.

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
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network, IPv6Network

from starlette.types import Scope

from gateway.web.forwarding import (
    MAPPED,
    forwarded_elements,
    forwarding_headers,
    forwards,
    is_local,
    parse_node,
)

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

_CACHE_SIZE = 256  # trusted proxy addresses remembered; a deployment has a handful
_CACHE_KEY_MAX = 64  # longer hop strings (e.g. a long IPv6 zone id) are resolved but not cached


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
            elif network.prefixlen >= 96 and value >> 32 == MAPPED:
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
        parsed = parse_node(node)
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


def _noticed(scope: Scope, trusted: TrustedProxies, untrusted_peer: str) -> bool:
    """Whether an untrusted peer is an undeclared local proxy; if so the request is counted."""
    if is_local(untrusted_peer) and forwards(scope):
        trusted._undeclared(untrusted_peer)
        return True
    return False


def _resolved_peer(scope: Scope, trusted: TrustedProxies) -> tuple[str | None, bool]:
    """(the socket peer's normalised address, or None when it is not an IP; whether it is trusted)."""
    client = scope.get("client")
    host = client[0] if client else None
    return trusted._resolve(host) if isinstance(host, str) else (None, False)


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
    xff, forwarded, _ = forwarding_headers(scope)
    if xff:
        return _walk(",".join(xff).split(","), address, trusted)[0]
    if forwarded:
        return _walk([node for node, _ in forwarded_elements(forwarded)], address, trusted)[0]
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
    _, forwarded, xfp = forwarding_headers(scope)
    if xfp:
        return xfp[-1].rpartition(",")[2].strip().lower() == "https"
    if forwarded:
        elements = forwarded_elements(forwarded)
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
    if address is None or is_trusted or not is_local(address):
        return None
    xff, forwarded, _ = forwarding_headers(scope)
    if xff:
        hop = xff[-1].rpartition(",")[2]
    elif forwarded:
        hop = forwarded_elements(forwarded)[-1][0]
    else:
        real = [v.decode("latin-1") for n, v in scope.get("headers") or () if n == b"x-real-ip"]
        if not real or not real[-1].strip():
            return None  # no forwarding header, or one that names no client (X-Forwarded-Proto)
        hop = real[-1]
    parsed = parse_node(hop.strip())
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
    if address is not None and not is_trusted and is_local(address):
        return undeclared_proxy_client(scope, trusted), address
    if ip is not None and is_local(ip):
        return None, ip
    return ip, None
