"""The shared cache: content key versions and whole public responses in Redis, for every process.

Every API process behind the load balancer reads and writes the same keys, so no process
can hold something another contradicts. Under `<shared_cache_prefix>:<revision>`:

- `key:<name>`: the version of a content key (`keys.py`) as every process should see it.
  - A write, before it commits and while it holds its keys' rows, sets each of its keys
    to '' and its `floor:<name>` to the version the write takes (`before_commit`). If
    Redis cannot be told, the write is rolled back and answered with a 503: a write is
    never acknowledged while any process could still serve what it replaced. After the
    commit the writer stores the new versions (`after_commit`).
  - A reader that rendered a response offers the versions it read; an offer below a
    key's floor (read before a write committed) or below the stored version is refused.
  - Writes that reach the database some other way (the CLI, another deployment) bump
    their keys too, and one process every `REFRESH_SECONDS` offers the versions changed
    lately, so they show within seconds.
- `response:<sha1 of the request>`: a public 200 response with the versions it was
  built from and when the next scheduled article is due. It is served while every one
  of those versions is current and that moment has not passed; a write to one of its
  keys, and nothing else, retires it. Unread, it expires after `shared_cache_ttl_seconds`.
- `free-text`: the responses to free-text requests (searches) by when they were stored,
  at most `shared_cache_free_text_entries`: storing one more deletes the oldest, so no
  number of distinct searches holds more than that many entries.

The revision in the prefix (`REPRESENTATION_REVISION` and the stored format) keeps a
deploy that renders differently from serving, or misreading, the old responses.

A look-up is one Lua script, one round trip. Scripts derive keys from their arguments,
so the cache needs a single Redis server (or a primary), not Redis Cluster. Redis calls
time out after `shared_cache_timeout_seconds` without retries; after a failure a process
reads around the cache for `UNAVAILABLE_SECONDS` instead of waiting on Redis again.
"""

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from app.caching.state import REPRESENTATION_REVISION, ContentState, epoch_micros
from app.metrics import SHARED_CACHE_ERRORS, SHARED_CACHE_LOOKUPS
from app.problems import ServiceUnavailable
from app.settings import Settings

logger = logging.getLogger("tickerfeed.cache")

UNAVAILABLE_SECONDS = 5.0
# How often one process offers the versions that changed outside the API's requests.
REFRESH_SECONDS = 5.0
# Floors outlive any reader that could still offer a version read before the write.
FLOOR_TTL_MS = 600_000
# Bump when the stored form of a response changes.
STORED_FORMAT = 2

# Shared by the scripts that set versions: never below the floor or the stored version.
OFFER_FUNCTION = """
local function offer(name, version, ttl)
  local v = tonumber(version)
  local floor = tonumber(redis.call('GET', ARGV[2] .. name) or '-1')
  local current = tonumber(redis.call('GET', ARGV[1] .. name) or '')
  if v >= floor and (current == nil or current <= v) then
    redis.call('SET', ARGV[1] .. name, version, 'PX', ttl)
  end
end
"""

# A record is `<versions>\n<due> <newest>\n<response>`: it stops counting when the next
# scheduled article is due, and a reader whose clock is behind the newest article it shows
# (another host's clock ran ahead) must not be served an article not yet due for it.
LOOKUP = """
local record = redis.call('GET', KEYS[1])
if not record then return false end
local first = string.find(record, '\\n', 1, true)
local second = string.find(record, '\\n', first + 1, true)
local due, newest = string.match(string.sub(record, first + 1, second - 1), '^(%d*) (%d*)$')
local now = tonumber(ARGV[2])
if due ~= '' and tonumber(due) <= now then return false end
if newest ~= '' and tonumber(newest) > now then return false end
for name, version in string.gmatch(string.sub(record, 1, first - 1), '([^ =]+)=(%d+)') do
  if redis.call('GET', ARGV[1] .. name) ~= version then return false end
end
return record
"""

STORE = OFFER_FUNCTION + """
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
for name, version in string.gmatch(ARGV[5], '([^ =]+)=(%d+)') do offer(name, version, ARGV[4]) end
return 1
"""

# A free-text response (a search) also joins the pool, a sorted set of response keys by
# when they were stored; beyond ARGV[7] members the oldest leave it and the cache.
STORE_POOLED = OFFER_FUNCTION + """
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
for name, version in string.gmatch(ARGV[5], '([^ =]+)=(%d+)') do offer(name, version, ARGV[4]) end
redis.call('ZADD', KEYS[2], ARGV[6], KEYS[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local beyond = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
if beyond > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], beyond)
  for i = 1, #oldest, 2 do redis.call('DEL', oldest[i]) end
end
return 1
"""

OFFER = OFFER_FUNCTION + """
for name, version in string.gmatch(ARGV[3], '([^ =]+)=(%d+)') do offer(name, version, ARGV[4]) end
return 1
"""

# Unconditional: writers of a key come here one at a time (they hold its row), and a
# restored database whose counters went backwards must be able to lower a floor.
INVALIDATE = """
for name, version in string.gmatch(ARGV[3], '([^ =]+)=(%d+)') do
  redis.call('SET', ARGV[1] .. name, '', 'PX', ARGV[4])
  redis.call('SET', ARGV[2] .. name, version, 'PX', ARGV[4])
end
return 1
"""


def _versions(versions: Mapping[str, int] | tuple[tuple[str, int], ...]) -> str:
    pairs = versions.items() if isinstance(versions, Mapping) else versions
    return " ".join(f"{name}={version}" for name, version in pairs)


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
    def __init__(self, redis: Redis, *, prefix: str, ttl_seconds: int, free_text_entries: int = 1000) -> None:
        self.redis = redis
        prefix = f"{prefix}:r{REPRESENTATION_REVISION}.{STORED_FORMAT}"
        self.key_prefix = f"{prefix}:key:"
        self.floor_prefix = f"{prefix}:floor:"
        self.response_prefix = f"{prefix}:response:"
        self.refresh_key = f"{prefix}:refreshing"
        self.free_text_key = f"{prefix}:free-text"
        self.free_text_entries = free_text_entries
        self.ttl_ms = ttl_seconds * 1000
        self._lookup = Script(redis, LOOKUP)
        self._store = Script(redis, STORE)
        self._store_pooled = Script(redis, STORE_POOLED)
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
        return cls(
            redis, prefix=settings.shared_cache_prefix, ttl_seconds=settings.shared_cache_ttl_seconds,
            free_text_entries=settings.shared_cache_free_text_entries,
        )

    def _available(self) -> bool:
        return time.monotonic() >= self._unavailable_until

    def _failed(self, what: str) -> None:
        SHARED_CACHE_ERRORS.labels(what).inc()
        self._unavailable_until = time.monotonic() + UNAVAILABLE_SECONDS
        logger.warning("shared cache unreachable (%s); reading around it for %.0f s", what, UNAVAILABLE_SECONDS,
                       exc_info=True)

    def _response_key(self, request_key: str) -> str:
        return self.response_prefix + hashlib.sha1(request_key.encode()).hexdigest()

    async def lookup(self, request_key: str, *, now: datetime) -> CachedResponse | None:
        """The response stored for `request_key` if every version it was built from is
        current; None otherwise, or when Redis does not answer."""
        if not self._available():
            SHARED_CACHE_LOOKUPS.labels("unavailable").inc()
            return None
        try:
            record = await self._lookup(
                keys=[self._response_key(request_key)], args=[self.key_prefix, epoch_micros(now)]
            )
        except RedisError:
            SHARED_CACHE_LOOKUPS.labels("error").inc()
            self._failed("look-up")
            return None
        SHARED_CACHE_LOOKUPS.labels("hit" if record else "miss").inc()
        if not record:
            return None
        try:
            return CachedResponse.decode(record.split(b"\n", 2)[2])
        except (ValueError, IndexError):
            logger.warning("unreadable cached response for %r; rendering it again", request_key)
            return None

    async def store(
        self, request_key: str, state: ContentState, response: CachedResponse, *, pooled: bool = False
    ) -> None:
        """Keeps `response` for as long as `state` is current, and offers its versions;
        `pooled`, among the newest `free_text_entries` free-text responses only."""
        if not self._available():
            return
        versions = _versions(state.versions)
        due = str(epoch_micros(state.next_due)) if state.next_due else ""
        newest = str(epoch_micros(state.newest)) if state.newest else ""
        record = f"{versions}\n{due} {newest}\n".encode() + response.encode()
        key = self._response_key(request_key)
        args: list[Any] = [self.key_prefix, self.floor_prefix, record, self.ttl_ms, versions]
        try:
            if pooled:
                await self._store_pooled(
                    keys=[key, self.free_text_key], args=[*args, time.time_ns(), self.free_text_entries]
                )
            else:
                await self._store(keys=[key], args=args)
        except RedisError:
            self._failed("store")

    async def offer(self, versions: Mapping[str, int]) -> None:
        """Stores versions read from the database, unless a newer one was announced. Best effort."""
        if not versions or not self._available():
            return
        try:
            await self._offer(keys=[], args=[self.key_prefix, self.floor_prefix, _versions(versions), self.ttl_ms])
        except RedisError:
            self._failed("offer")

    async def before_commit(self, versions: Mapping[str, int]) -> None:
        """Before a write that bumped `versions` commits: no process may use an older
        version of those keys from now on. A 503 when Redis cannot be told (even while
        reads go around it); the caller rolls the write back."""
        try:
            await self._invalidate(
                keys=[], args=[self.key_prefix, self.floor_prefix, _versions(versions), FLOOR_TTL_MS]
            )
        except RedisError as error:
            self._failed("invalidate")
            raise ServiceUnavailable(
                "The change was not saved: the shared cache could not be told about it. Try again.",
                retry_after=int(UNAVAILABLE_SECONDS),
            ) from error

    async def after_commit(self, versions: Mapping[str, int]) -> None:
        """After the write committed: its versions, for every process at once."""
        await self.offer(versions)

    async def take_refresh_turn(self) -> bool:
        """True for one process every `REFRESH_SECONDS`."""
        if not self._available():
            return False
        try:
            return bool(await self.redis.set(self.refresh_key, b"1", nx=True, px=int(REFRESH_SECONDS * 1000)))
        except RedisError:
            self._failed("refresh")
            return False

    async def close(self) -> None:
        await self.redis.aclose()
