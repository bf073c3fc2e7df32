"""Reading what forwarding headers claim: addresses, hops and the headers themselves, trusting none.

``proxy`` decides which of these claims to believe; this module only turns header text into
normalised addresses. Hot path: hops are parsed with ``socket.inet_pton`` and formatted without
``ipaddress``, no regex. Malformed input gives None or is skipped, never an exception (invariant 1),
and nothing here remembers an address.
"""

from __future__ import annotations

import socket
import struct
from ipaddress import ip_network

from starlette.types import Scope

FORWARDING = frozenset((b"x-forwarded-for", b"forwarded", b"x-real-ip", b"x-forwarded-proto"))
# Peers that can only be a proxy, NAT or host of this deployment, never a visitor on the Internet
# (100.64.0.0/10 is carrier-grade NAT space, which some pod networks use).
_LOCAL = tuple(ip_network(n) for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                       "100.64.0.0/10", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"))
_LOCAL_V4 = tuple((int(n.network_address), int(n.netmask)) for n in _LOCAL if n.version == 4)
_LOCAL_V6 = tuple((int(n.network_address), int(n.netmask)) for n in _LOCAL if n.version == 6)
_LOCAL_START = ("127.", "10.", "172.", "192.168.", "100.", "169.254.", "::1", "f")  # a cheap first sieve
_LOCAL_SURE = ("127.", "10.", "192.168.", "169.254.")  # of a normalised IPv4 address: no need to parse

MAPPED = 0xFFFF  # bits 32..47 of an IPv4-mapped IPv6 address (::ffff:0:0/96)
_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
_ZERO_RUNS = tuple(":0" * n + ":" for n in range(8, 1, -1))

Parsed = tuple[str, int, bool]  # normalised text, integer value, is IPv4


def parse_ip(text: str) -> Parsed | None:
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


def parse_node(node: str) -> Parsed | None:
    """One hop: ``1.2.3.4``, ``1.2.3.4:80``, ``2001:db8::1``, ``[2001:db8::1]`` or ``[2001:db8::1]:80``."""
    if node[:1] == "[":
        end = node.find("]")
        rest = node[end + 1:]
        if end < 0 or (rest and not (rest[0] == ":" and _is_port(rest[1:]))):
            return None
        host = node[1:end]
        return parse_ip(host) if ":" in host else None  # brackets are for IPv6 only
    if node.count(":") == 1:
        host, _, port = node.partition(":")
        return parse_ip(host) if _is_port(port) else None
    return parse_ip(node)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].strip()
    return value


def is_local(address: str) -> bool:
    """Whether a normalised address is loopback, private, link-local or unique-local."""
    if not address.startswith(_LOCAL_START):
        return False
    if address.startswith(_LOCAL_SURE):
        return True
    parsed = parse_ip(address)
    if parsed is None:
        return False
    _, value, is_v4 = parsed
    return any(value & mask == network for network, mask in (_LOCAL_V4 if is_v4 else _LOCAL_V6))


def forwards(scope: Scope) -> bool:
    """Whether the request carries any forwarding header, blank or not."""
    return any(name in FORWARDING for name, _ in scope.get("headers") or ())


def forwarding_headers(scope: Scope) -> tuple[list[str], list[str], list[str]]:
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


def forwarded_elements(values: list[str]) -> list[tuple[str, str]]:
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
