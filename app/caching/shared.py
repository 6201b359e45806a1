"""The shared cache: the content state and whole public responses in Redis, for every process.

Every API process behind the load balancer reads and writes the same keys, so no process
can hold something another contradicts. Under `<shared_cache_prefix>:<revision>`:

- `state` (a hash): the content state every validator is built from, and `floor`, the
  newest version any writer has announced.
  - A content write, before it commits and while it holds the `content_version` row lock,
    sets `floor` to its version and clears the state (`invalidate`). If Redis cannot be
    told, the write is rolled back and answered with a 503: a publish is never
    acknowledged while any process could still serve what it replaced. After the commit
    the writer stores the new state.
  - A reader that finds no state reads it from the database and offers it; an offer
    below `floor` (read before a write committed) is refused.
  - The state stops counting at `due`, when the next scheduled article becomes visible,
    and when its newest article is still in the future for the reader's clock. So that a
    write made outside the API (SQL, a restored backup) shows within seconds, one reader
    every `STATE_REFRESH_MS` reads it from the database again (`refreshing`, taken with
    SET NX) while the others go on with the stored one; nobody refreshing for
    `STATE_TTL_MS` drops it.
- `response:<sha1>`: a public 200 response, keyed on the state's token and the request.
  A write changes the token, so every process stops finding the old responses at once;
  they expire on their own after `shared_cache_ttl_seconds`.

The revision in the prefix (`REPRESENTATION_REVISION` and the stored format) keeps a
deploy that renders differently from serving, or misreading, the old responses.

The look-up is one Lua script, one round trip. Its keys are derived inside the script, so
the cache needs a single Redis server (or a primary), not Redis Cluster. Redis calls time
out after `shared_cache_timeout_seconds` without retries; after a failure a process reads
around the cache for `UNAVAILABLE_SECONDS` instead of waiting on Redis again.
"""

import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.caching.version import (
    REPRESENTATION_REVISION,
    ContentState,
    epoch_micros,
    from_epoch_micros,
    read_content_state,
)
from app.problems import ServiceUnavailable
from app.settings import Settings

logger = logging.getLogger("tickerfeed.cache")

STATE_REFRESH_MS = 5_000
# A state nobody refreshed for this long is not used.
STATE_TTL_MS = 60_000
# The state hash (with `floor`) outlives any reader that could still offer an old state.
STATE_KEY_TTL_MS = 600_000
UNAVAILABLE_SECONDS = 5.0
# Bump when `CachedResponse`'s stored form changes.
STORED_FORMAT = 1

LOOKUP = """
local s = redis.call('HMGET', KEYS[1], 'version', 'changed_at', 'newest', 'due', 'refresh_at', 'expires_at')
if not s[1] or s[1] == '' then return false end
local now = tonumber(ARGV[1])
if tonumber(s[6]) <= now then return false end
if s[4] ~= '' and tonumber(s[4]) <= now then return false end
if s[3] ~= '' and tonumber(s[3]) > now then return false end
if tonumber(s[5]) <= now and redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[4]) then
  return {s[1], s[2], s[3], s[4], '', 1}
end
local token = s[1] .. ':' .. (s[2] ~= '' and s[2] or '-') .. ':' .. (s[3] ~= '' and s[3] or '-')
local response = redis.call('GET', ARGV[2] .. redis.sha1hex(token .. '\\n' .. ARGV[3]))
return {s[1], s[2], s[3], s[4], response or '', 0}
"""

OFFER = """
local floor = tonumber(redis.call('HGET', KEYS[1], 'floor') or '-1')
if tonumber(ARGV[1]) < floor then return 0 end
redis.call('HSET', KEYS[1], 'floor', ARGV[1], 'version', ARGV[1], 'changed_at', ARGV[2], 'newest', ARGV[3],
  'due', ARGV[4], 'refresh_at', ARGV[5], 'expires_at', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('DEL', KEYS[2])
return 1
"""

# Unconditional: writers come here one at a time (they hold the content_version row lock),
# and a restored database whose counter went backwards must be able to lower `floor`.
INVALIDATE = """
redis.call('HSET', KEYS[1], 'floor', ARGV[1], 'version', '')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
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
        prefix = f"{prefix}:r{REPRESENTATION_REVISION}.{STORED_FORMAT}"
        self.state_key = f"{prefix}:state"
        self.refresh_key = f"{prefix}:refreshing"
        self.response_prefix = f"{prefix}:response:"
        self.ttl_ms = ttl_seconds * 1000
        self._lookup = Script(redis, LOOKUP)
        self._offer = Script(redis, OFFER)
        self._invalidate = Script(redis, INVALIDATE)
        self._unavailable_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "SharedCache | None":
        if not (settings.redis_url and settings.shared_cache):
            return None
        timeout = settings.shared_cache_timeout_seconds
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(redis, prefix=settings.shared_cache_prefix, ttl_seconds=settings.shared_cache_ttl_seconds)

    def _available(self) -> bool:
        return time.monotonic() >= self._unavailable_until

    def _failed(self, what: str) -> None:
        self._unavailable_until = time.monotonic() + UNAVAILABLE_SECONDS
        logger.warning("shared cache unreachable (%s); reading around it for %.0f s", what, UNAVAILABLE_SECONDS,
                       exc_info=True)

    async def lookup(self, request_key: str, *, now: datetime) -> Lookup | None:
        """The current state and the response stored for `request_key` under it, if any.
        None when no current state is stored, or Redis does not answer."""
        if not self._available():
            return None
        try:
            found = await self._lookup(
                keys=[self.state_key, self.refresh_key],
                args=[_micros(now), self.response_prefix, request_key, STATE_REFRESH_MS],
            )
        except RedisError:
            self._failed("look-up")
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
        try:
            cached = CachedResponse.decode(response) if response else None
        except ValueError:
            logger.warning("unreadable cached response for %r; rendering it again", request_key)
            cached = None
        return Lookup(state, cached, refresh=bool(refresh))

    async def state(self, *, now: datetime) -> ContentState | None:
        """The stored state, or None when this caller should read it from the database."""
        found = await self.lookup("", now=now)
        return found.state if found and not found.refresh else None

    async def offer(self, state: ContentState, *, now: datetime) -> None:
        """Stores `state` unless a newer version has been announced. Best effort."""
        if not self._available():
            return
        refresh_at = now + timedelta(milliseconds=STATE_REFRESH_MS)
        expires_at = now + timedelta(milliseconds=STATE_TTL_MS)
        try:
            await self._offer(
                keys=[self.state_key, self.refresh_key],
                args=[
                    state.version, _micros(state.changed_at), _micros(state.newest_visible),
                    _micros(state.next_due), _micros(refresh_at), _micros(expires_at), STATE_KEY_TTL_MS,
                ],
            )
        except RedisError:
            self._failed("offer")

    async def release_refresh(self) -> None:
        """The reader told to refresh did not need the state (a health check, say)."""
        with contextlib.suppress(RedisError):
            await self.redis.delete(self.refresh_key)

    async def before_commit(self, version: int) -> None:
        """Before a content write that bumped the content version to `version` commits: no
        process may use an older state from now on. A 503 when Redis cannot be told (even
        while reads go around it); the caller rolls the write back."""
        try:
            await self._invalidate(keys=[self.state_key], args=[version, STATE_KEY_TTL_MS])
        except RedisError as error:
            self._failed("invalidate")
            raise ServiceUnavailable(
                "The change was not saved: the shared cache could not be told about it. Try again.",
                retry_after=int(UNAVAILABLE_SECONDS),
            ) from error

    async def after_commit(self, session: AsyncSession, *, now: datetime) -> None:
        """After a content write committed: the new state, for every process at once.
        Best effort: the write stands, and a reader that finds no state reads it."""
        try:
            state = await read_content_state(session, now=now)
        except Exception:  # noqa: BLE001  (committed already; there is nothing to undo)
            logger.warning("content state not read after a write; readers will read it", exc_info=True)
            return
        await self.offer(state, now=now)

    async def store(self, state: ContentState, request_key: str, response: CachedResponse) -> None:
        if not self._available():
            return
        key = self.response_prefix + hashlib.sha1(f"{state.token}\n{request_key}".encode()).hexdigest()
        try:
            await self.redis.set(key, response.encode(), px=self.ttl_ms)
        except RedisError:
            self._failed("store")

    async def close(self) -> None:
        await self.redis.aclose()
