"""Rate limits with the `limits` library; `app.clients` says which client a request is.

With `RATE_LIMIT_REDIS_URL` (else `REDIS_URL`) set the counters live in Redis and hold
across every API process; without either they are per process, which suits the embedded
single-process default.
"""

import functools
import logging
import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.metrics import RATE_LIMIT_REFUSALS
from app.problems import RateLimited, ServiceUnavailable
from app.settings import Settings

logger = logging.getLogger("tickerfeed.ratelimit")
UNAVAILABLE_RETRY_AFTER_SECONDS = 5


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


class RateLimiter:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)

    async def hit(self, limits: str, scope: str, identity: str, *, fail_closed: bool = False) -> None:
        """Counts one request against each limit in `limits` ("5/minute;100/day"); `scope`
        names the limit (`search:client`), in the counters and in the refusals metric.

        When the counters cannot be reached, a limit that guards reads fails open (the
        request goes on: searches keep working while Redis is away), and one with
        `fail_closed` refuses with a 503: a sign-up mails an address its sender may not
        own, and without its counters nothing would stop mail-bombing that address.
        """
        for item in parsed_limits(limits):
            try:
                allowed = await self.strategy.hit(item, scope, identity)
            except Exception as error:
                if fail_closed:
                    logger.warning("rate limit storage unavailable; %s refused", scope)
                    raise ServiceUnavailable(
                        "Rate limits cannot be checked right now; try again shortly.",
                        retry_after=UNAVAILABLE_RETRY_AFTER_SECONDS,
                    ) from error
                logger.warning("rate limit storage unavailable; %s allowed", scope, exc_info=True)
                return
            if not allowed:
                RATE_LIMIT_REFUSALS.labels(scope).inc()
                raise RateLimited(
                    "Too many requests; try again later.",
                    retry_after=await self._retry_after(item, scope, identity),
                )

    async def close(self) -> None:
        """Closes the Redis client's connections, if the counters live in Redis."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()

    async def _retry_after(self, item: RateLimitItem, scope: str, identity: str) -> int:
        stats = await self.strategy.get_window_stats(item, scope, identity)
        return max(1, math.ceil(stats.reset_time - time.time()))
