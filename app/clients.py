"""Who is calling: the one place that decides a request's client address.

Everything that needs the client's address (rate limits, consent records) takes it from
`ClientDep`, never from `request.client` or `X-Forwarded-For`. uvicorn runs with proxy
headers off (Dockerfile, `tickerfeed serve`), so the socket peer reaches us untouched and
`TRUSTED_PROXIES` alone says whose `X-Forwarded-For` is believed (issue 10, item 6).
"""

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# An IPv6 subscriber gets a /64 (RFC 6177): counting per address would give one client
# 2^64 buckets, so rate limits count per /64.
IPV6_BUCKET_PREFIX = 64
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Client:
    """`address` is recorded with consents; rate limits count by `rate_limit_key`, the
    IPv4 address or the IPv6 address's /64."""

    address: str
    rate_limit_key: str


@functools.lru_cache(maxsize=16)
def trusted_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    """The settings' `trusted_proxies`, parsed once per distinct value."""
    return tuple(ipaddress.ip_network(network, strict=False) for network in proxies)


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies and servers write it: bare, `a.b.c.d:port` or `[v6]:port`.

    A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`; they are unwrapped so one
    client is one address however it arrived. The zone (`%eth0`) names our interface, not
    the client, and is dropped.
    """
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forwarded_address(
    peer: IPAddress, forwarded_for: Iterable[str], trusted: Sequence[Network]
) -> IPAddress:
    """The peer, or the nearest hop of `X-Forwarded-For` that no trusted proxy owns.

    Walking from the right, each hop was written by the trusted proxy to its right, so a
    client cannot choose its own address by prepending hops. A hop our proxy wrote that
    does not parse leaves the proxy's own address: nothing better is known.
    """
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    current = peer
    while hops and any(current in network for network in trusted):
        previous = parse_address(hops.pop())
        if previous is None:
            break
        current = previous
    return current


def rate_limit_key(address: IPAddress) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_BUCKET_PREFIX), strict=False))
    return str(address)


def get_client(request: Request) -> Client:
    peer = parse_address(request.client.host) if request.client else None
    if peer is None:
        # Only a non-IP transport (a Unix socket) gets here; its callers share one bucket.
        return Client(address=UNKNOWN, rate_limit_key=UNKNOWN)
    trusted = trusted_networks(tuple(request.app.state.settings.trusted_proxies))
    address = forwarded_address(peer, request.headers.getlist("x-forwarded-for"), trusted)
    return Client(address=str(address), rate_limit_key=rate_limit_key(address))


ClientDep = Annotated[Client, Depends(get_client)]
