"""The shared cache: the content state and whole public responses in Redis, for every process.

Every API process behind the load balancer reads and writes the same keys, so no process
can hold something another contradicts. Under `settings.shared_cache_prefix`:

- `state` (a hash): the content state every validator is built from. After a content
  write commits, the writing request stores the new state before it answers, so once a
  publish has been acknowledged no process serves what it replaced. A reader that missed
  the state reads it from the database and offers it; `floor`, the highest version stored,
  refuses a state read before a write that has since been stored. The state stops
  counting at `due`, when the next scheduled article becomes visible. So that a write
  made outside the API (SQL, a restored backup) shows within seconds, one reader every
  `STATE_REFRESH_MS` is told to read the state from the database again (`refreshing`,
  taken with SET NX) while the others go on with the stored one.
- `response:<sha1>`: a public 200 response, keyed on the state's token and the request.
  A write changes the token, so every process stops finding the old responses at once;
  they expire on their own after `shared_cache_ttl_seconds`.

The look-up is one Lua script, one round trip. Its keys are derived inside the script, so
the cache needs a single Redis server (or a primary), not Redis Cluster.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.caching.version import ContentState, epoch_micros, from_epoch_micros, read_content_state
from app.settings import Settings

logger = logging.getLogger("tickerfeed.cache")

STATE_REFRESH_MS = 5_000
# Only if nobody reads for this long: a state nobody refreshed is dropped.
STATE_TTL_MS = 60_000
# A reader more than this late with its state is impossible; a restored database whose
# counter went backwards is cached again after it.
FLOOR_TTL_MS = 600_000

LOOKUP = """
local state = redis.call('HMGET', KEYS[1], 'version', 'changed_at', 'newest', 'due', 'refresh_at')
if not state[1] then return false end
local now = tonumber(ARGV[1])
if state[4] ~= '' and tonumber(state[4]) <= now then return false end
if tonumber(state[5]) <= now and redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[4]) then
  return {state[1], state[2], state[3], state[4], '', 1}
end
local token = state[1] .. ':' .. (state[3] ~= '' and state[3] or '-')
local response = redis.call('GET', ARGV[2] .. redis.sha1hex(token .. '\\n' .. ARGV[3]))
return {state[1], state[2], state[3], state[4], response or '', 0}
"""

OFFER = """
local floor = tonumber(redis.call('GET', KEYS[2]) or '-1')
if tonumber(ARGV[1]) < floor then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'changed_at', ARGV[4], 'newest', ARGV[5], 'due', ARGV[6],
  'refresh_at', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[3])
return 1
"""


def _micros(moment: datetime | None) -> str:
    return "" if moment is None else str(epoch_micros(moment))


def _moment(micros: bytes) -> datetime | None:
    return from_epoch_micros(int(micros)) if micros else None


@dataclass(frozen=True)
class CachedResponse:
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def encode(self) -> bytes:
        """`<length of the header block>\\n<name>\\0<value>\\0…<body>`: HTTP forbids NUL in
        headers, and a hit splits the block without parsing JSON or decoding text."""
        head = b"\0".join(part for header in self.headers for part in header)
        return b"%d\n" % len(head) + head + self.body

    @classmethod
    def decode(cls, stored: bytes) -> "CachedResponse":
        length, _, rest = stored.partition(b"\n")
        size = int(length)
        parts = rest[:size].split(b"\0") if size else []
        return cls(headers=list(zip(parts[::2], parts[1::2], strict=True)), body=rest[size:])

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None


@dataclass(frozen=True)
class Lookup:
    state: ContentState
    response: CachedResponse | None
    # This reader is the one to read the state from the database again.
    refresh: bool = False


class Script:
    """A Lua script run by EVALSHA, loaded on first use or after a Redis restart.
    (redis-py's own `Script` pays an isinstance check on a Protocol on every call.)"""

    def __init__(self, redis: Redis, source: str) -> None:
        self.redis = redis
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self.redis.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.redis.script_load(self.source)
            return await self.redis.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


class SharedCache:
    def __init__(self, redis: Redis, *, prefix: str, ttl_seconds: int) -> None:
        self.redis = redis
        self.state_key = f"{prefix}:state"
        self.floor_key = f"{prefix}:floor"
        self.refresh_key = f"{prefix}:refreshing"
        self.response_prefix = f"{prefix}:response:"
        self.ttl_ms = ttl_seconds * 1000
        self._lookup = Script(redis, LOOKUP)
        self._offer = Script(redis, OFFER)

    @classmethod
    def from_settings(cls, settings: Settings) -> "SharedCache | None":
        if not (settings.redis_url and settings.shared_cache):
            return None
        return cls(
            Redis.from_url(settings.redis_url),
            prefix=settings.shared_cache_prefix,
            ttl_seconds=settings.shared_cache_ttl_seconds,
        )

    async def lookup(self, request_key: str, *, now: datetime) -> Lookup | None:
        """The current state and the response stored for `request_key` under it, if any.
        None when no process has stored a current state; a Redis failure counts as that."""
        try:
            found = await self._lookup(
                keys=[self.state_key, self.refresh_key],
                args=[_micros(now), self.response_prefix, request_key, STATE_REFRESH_MS],
            )
        except RedisError:
            logger.warning("shared cache unreachable; answering from the database", exc_info=True)
            return None
        if not found:
            return None
        version, changed_at, newest, due, response, refresh = found
        state = ContentState(
            version=int(version),
            changed_at=_moment(changed_at),
            newest_visible=_moment(newest),
            next_due=_moment(due),
        )
        return Lookup(state, CachedResponse.decode(response) if response else None, refresh=bool(refresh))

    async def state(self, *, now: datetime) -> ContentState | None:
        """The stored state, or None when this caller should read it from the database."""
        found = await self.lookup("", now=now)
        return found.state if found and not found.refresh else None

    async def offer(self, state: ContentState, *, now: datetime) -> None:
        """Stores `state` unless a newer version is already stored."""
        refresh_at = now + timedelta(milliseconds=STATE_REFRESH_MS)
        try:
            await self._offer(
                keys=[self.state_key, self.floor_key, self.refresh_key],
                args=[
                    state.version, STATE_TTL_MS, FLOOR_TTL_MS, _micros(state.changed_at),
                    _micros(state.newest_visible), _micros(state.next_due), _micros(refresh_at),
                ],
            )
        except RedisError:
            logger.warning("shared cache unreachable; content state not stored", exc_info=True)

    async def publish(self, session: AsyncSession, *, now: datetime) -> None:
        """After a content write commits: the new state, for every process at once."""
        await self.offer(await read_content_state(session, now=now), now=now)

    async def store(self, state: ContentState, request_key: str, response: CachedResponse) -> None:
        key = self.response_prefix + hashlib.sha1(f"{state.token}\n{request_key}".encode()).hexdigest()
        try:
            await self.redis.set(key, response.encode(), px=self.ttl_ms)
        except RedisError:
            logger.warning("shared cache unreachable; response not stored", exc_info=True)

    async def close(self) -> None:
        await self.redis.aclose()
