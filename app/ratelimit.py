"""Rate limits with the `limits` library, and the client address they are keyed on.

With `RATE_LIMIT_REDIS_URL` (else `REDIS_URL`) set the counters live in Redis and hold
across every API process; without either they are per process, which suits the embedded
single-process default.
"""

import functools
import ipaddress
import logging
import math
import time
from collections.abc import Sequence

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.problems import RateLimited
from app.settings import Settings

logger = logging.getLogger("tickerfeed.ratelimit")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def create_storage(settings: Settings) -> Storage:
    if settings.rate_limit_storage_url:
        storage = storage_from_string(
            "async+" + settings.rate_limit_storage_url,
            implementation="redispy",
            key_prefix=settings.rate_limit_prefix,
        )
        assert isinstance(storage, Storage)
        return storage
    return MemoryStorage()


@functools.lru_cache(maxsize=64)
def parsed_limits(limits: str) -> tuple[RateLimitItem, ...]:
    """Each limit string of the settings is parsed once, not on every request."""
    return tuple(parse_many(limits))


@functools.lru_cache(maxsize=16)
def trusted_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    """The settings' `trusted_proxies`, parsed once per distinct value."""
    return tuple(ipaddress.ip_network(network, strict=False) for network in proxies)


class RateLimiter:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)

    async def hit(self, limits: str, scope: str, identity: str) -> None:
        """Counts one request against each limit in `limits` ("5/minute;100/day")."""
        for item in parsed_limits(limits):
            try:
                allowed = await self.strategy.hit(item, scope, identity)
            except Exception:  # an unreachable Redis must not take sign-ups down with it
                logger.warning("rate limit storage unavailable; request allowed", exc_info=True)
                return
            if not allowed:
                raise RateLimited(
                    "Too many requests; try again later.",
                    retry_after=await self._retry_after(item, scope, identity),
                )

    async def _retry_after(self, item: RateLimitItem, scope: str, identity: str) -> int:
        stats = await self.strategy.get_window_stats(item, scope, identity)
        return max(1, math.ceil(stats.reset_time - time.time()))


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address.strip())
    except ValueError:
        return None


def client_address(request: Request, trusted: Sequence[Network]) -> str:
    """The peer, or the nearest untrusted hop of `X-Forwarded-For` when the peer is a trusted proxy.

    Walking from the right stops at the first address our proxies did not add, so a
    client cannot choose its own bucket by sending a forged header.
    """
    peer = _parse(request.client.host) if request.client else None
    if peer is None:
        return request.client.host if request.client else "unknown"
    hops = [hop for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    current = peer
    while any(current in network for network in trusted) and hops:
        previous = _parse(hops.pop())
        if previous is None:
            break
        current = previous
    return str(current)
