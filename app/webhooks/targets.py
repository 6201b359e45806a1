"""Where a webhook may be sent: SSRF checks, when an endpoint is saved and again at delivery.

A URL names a host; what it reaches is the address the name resolves to *when the request
connects*. Checking the name once at creation is not enough (its DNS may later point at
127.0.0.1 or the cloud metadata service at 169.254.169.254), and checking it at delivery
and then letting the HTTP client resolve it again leaves a window for a rebind. So the
deliverer resolves the name itself (`resolve`, injectable for tests), refuses it unless
every address is public, and connects to that checked address, sending the name as the
`Host` header and as the TLS server name, so the certificate is still verified for the
name (`app.webhooks.sender`).

Public means `ipaddress`' `is_global`, and not multicast nor reserved, after unwrapping
the IPv4 address inside IPv4-mapped, 6to4, Teredo and NAT64 IPv6 addresses: loopback,
private (RFC 1918), shared (100.64/10), link-local (169.254/16, fe80::/10), unique-local
(fc00::/7), documentation (TEST-NET, 2001:db8::/32), unspecified and reserved addresses
are all refused. With WEBHOOKS_ALLOW_PRIVATE_TARGETS (never in production), loopback and
plain `http://` are allowed too; every other refusal stands.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to
Resolver = Callable[[str, int], Awaitable[list[str]]]
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedTarget(Exception):
    """A URL that webhooks may not be sent to; the message says why (no secrets in it)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # the name (or literal address) the URL gives, without brackets
    port: int
    path: str  # path and query


def parse_target(url: str, *, allow_private: bool) -> Target:
    """The URL's parts, or `RefusedTarget` for a scheme, form or literal address refused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise RefusedTarget("is not a valid URL") from error
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise RefusedTarget("must be an https:// URL")
    if not parts.hostname:
        raise RefusedTarget("must name a host")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget("must not carry credentials")
    if parts.fragment:
        raise RefusedTarget("must not have a fragment")
    literal = _literal(parts.hostname)
    if literal is not None:
        check_address(literal, allow_private=allow_private)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def check_address(address: IPAddress, *, allow_private: bool) -> None:
    """`RefusedTarget` unless `address` is public (or loopback, when allowed)."""
    if isinstance(address, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(address)) is not None:
        # Only a mapped address is the embedded one itself; a 6to4, Teredo or NAT64 one
        # of loopback reaches a relay, never this host: refused even with the setting.
        mapped = address.ipv4_mapped is not None
        check_address(embedded, allow_private=allow_private and mapped)
        if mapped:
            return
    if allow_private and address.is_loopback:
        return
    if not address.is_global or address.is_multicast or address.is_reserved or address.is_loopback:
        raise RefusedTarget(f"resolves to {address}, which is not a public address")


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_checked(target: Target, resolver: Resolver, *, allow_private: bool) -> IPAddress:
    """The address to connect to: the literal one, or the first the name resolves to,
    once every address it resolves to has passed the check."""
    literal = _literal(target.host)
    if literal is not None:
        check_address(literal, allow_private=allow_private)
        return literal
    try:
        found = await resolver(target.host, target.port)
    except OSError as error:
        raise RefusedTarget(f"the host name does not resolve ({type(error).__name__})") from error
    addresses = [ipaddress.ip_address(value.split("%")[0]) for value in found]
    if not addresses:
        raise RefusedTarget("the host name does not resolve")
    for address in addresses:
        check_address(address, allow_private=allow_private)
    return addresses[0]
