"""How the API processes tell each other that the changes log moved.

A notification carries nothing but the log's new last `seq`: the log is the source of
truth, and each process reads the new changes from it once (`app.stream.feed`). Lost
notifications only delay: every process also reads the log every `stream_poll_seconds`.

- `RedisNotifications` (`REDIS_URL` set): the writing process publishes on a channel
  after its commit; every process subscribes.
- `PostgresNotifications` (PostgreSQL without Redis): the writing transaction itself sends
  `NOTIFY` (`app.changes.log`), which PostgreSQL delivers on commit, whoever wrote (the
  CLI too); every process LISTENs on a connection of its own, outside the pool.
- `LocalNotifications` (the embedded SQLite default, one process): nothing to send; the
  writing process wakes its own reader, and the poll covers the CLI's writes.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url

from app.settings import Settings

logger = logging.getLogger("tickerfeed.changes")

# PostgreSQL's NOTIFY channel, sent by the writing transaction (`app.changes.log`).
CHANGES_CHANNEL = "tickerfeed_changes"

# After a lost connection to Redis or PostgreSQL, the next attempt to listen.
RECONNECT_SECONDS = 1.0
# How often the LISTEN connection is checked: a dead one would otherwise hear nothing.
LISTEN_CHECK_SECONDS = 30.0

# Called with the log's new last `seq`, or None when something may have been missed.
Wake = Callable[[int | None], None]


def seq_of(payload: str) -> int | None:
    return int(payload) if payload.isdigit() else None


class Notifications(Protocol):
    async def start(self, wake: Wake) -> None: ...

    async def publish(self, payload: str) -> None:
        """`payload`: the log's new last `seq`, or '' (read the log and its schedule again)."""

    async def close(self) -> None: ...


class LocalNotifications:
    async def start(self, wake: Wake) -> None:
        pass

    async def publish(self, payload: str) -> None:
        pass

    async def close(self) -> None:
        pass


class Listening:
    """A task that listens until closed, starting over after a failure; each (re)start
    wakes the reader once, for what was said while nobody listened."""

    task: asyncio.Task[None] | None = None

    async def start(self, wake: Wake) -> None:
        self.task = asyncio.create_task(self._listen_forever(wake))

    async def _listen_forever(self, wake: Wake) -> None:
        while True:
            try:
                await self.listen(wake)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001  (a lost connection must not end the stream)
                logger.warning("change notifications lost; listening again", exc_info=True)
            wake(None)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def listen(self, wake: Wake) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class RedisNotifications(Listening):
    def __init__(self, url: str, *, channel: str, timeout: float) -> None:
        self.channel = channel
        self.publisher = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        # No read timeout: a quiet channel is normal. The health check finds a dead connection.
        self.subscriber = Redis.from_url(url, health_check_interval=LISTEN_CHECK_SECONDS)

    async def listen(self, wake: Wake) -> None:
        async with self.subscriber.pubsub() as pubsub:
            await pubsub.subscribe(self.channel)
            wake(None)
            async for message in pubsub.listen():
                if message["type"] == "message":
                    wake(seq_of(message["data"].decode()))

    async def publish(self, payload: str) -> None:
        """Best effort: a notification that does not go out is made up for by the poll."""
        try:
            await self.publisher.publish(self.channel, payload)
        except RedisError:
            logger.warning("change notification not published; the stream polls for it", exc_info=True)

    async def close(self) -> None:
        await super().close()
        await self.publisher.aclose()
        await self.subscriber.aclose()


class PostgresNotifications(Listening):
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def listen(self, wake: Wake) -> None:
        def notified(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
            wake(seq_of(payload))

        connection = await asyncpg.connect(self.dsn)
        try:
            await connection.add_listener(CHANGES_CHANNEL, notified)
            wake(None)
            while True:
                await asyncio.sleep(LISTEN_CHECK_SECONDS)
                await connection.execute("SELECT 1")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), RECONNECT_SECONDS)

    async def publish(self, payload: str) -> None:
        pass  # the writing transaction sent NOTIFY


def notifications_for(settings: Settings) -> Notifications:
    if settings.redis_url:
        return RedisNotifications(
            settings.redis_url, channel=f"{settings.shared_cache_prefix}:changes",
            timeout=settings.shared_cache_timeout_seconds,
        )
    if not settings.is_sqlite:
        return PostgresNotifications(make_url(settings.database_url).set(drivername="postgresql").render_as_string(
            hide_password=False
        ))
    return LocalNotifications()
