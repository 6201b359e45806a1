"""The one owner of the cache protocol on the write side and across processes.

Reads hand their state to `app.caching.http.conclude`; writes commit through
`ContentCache.commit`; the shared cache middleware asks `shared` for stored responses.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from app.caching.changes import LOGGED, NOTED, record_noted_changes
from app.caching.shared import REFRESH_SECONDS, SharedCache
from app.caching.state import recent_versions
from app.changes.log import Appended
from app.db import ReadDatabase

logger = logging.getLogger("tickerfeed.cache")


class ContentCache:
    def __init__(self, shared: SharedCache | None) -> None:
        self.shared = shared
        # Told what a write appended to the changes log once it has committed
        # (`app.stream.feed.ChangeFeed.logged`): the stream's clients hear of it at once.
        self.changes_logged: Callable[[Appended], Awaitable[None]] | None = None

    async def commit(self, session: AsyncSession, *, now: datetime) -> None:
        """Commits `session` with the content keys it changed bumped and its changes logged
        in the same transaction, visibility judged at `now` (the request's clock); with a
        shared cache, announced before the commit and stored after."""
        # A session that flushed nothing has nothing noted: no hop into the sync layer.
        versions = await session.run_sync(record_noted_changes, now=now) if NOTED in session.info else {}
        if versions and self.shared is not None:
            await self.shared.before_commit(versions)
        await session.commit()
        if versions and self.shared is not None:
            await self.shared.after_commit(versions)
        appended = session.info.pop(LOGGED, None)
        if appended is not None and self.changes_logged is not None:
            await self.changes_logged(appended)

    async def refresh_once(self, reads: ReadDatabase, *, now: datetime) -> None:
        """Offers the versions bumped lately, when it is this process's turn: writes that
        did not come through `commit` (the CLI, another deployment) reach the shared cache."""
        if self.shared is None or not await self.shared.take_refresh_turn():
            return
        async with reads.connect() as connection:
            versions = await recent_versions(connection, since=now - timedelta(seconds=3 * REFRESH_SECONDS))
        await self.shared.offer(versions)

    async def refresh_forever(self, reads: ReadDatabase, clock: Callable[[], datetime]) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh_once(reads, now=clock())
            except Exception:  # noqa: BLE001  (a database hiccup must not end the loop)
                logger.warning("recent content versions not refreshed", exc_info=True)

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()


@contextlib.asynccontextmanager
async def refreshing(cache: ContentCache, reads: ReadDatabase, clock: Callable[[], datetime]):  # type: ignore[no-untyped-def]
    """Runs `refresh_forever` for as long as the app serves."""
    task = asyncio.create_task(cache.refresh_forever(reads, clock)) if cache.shared is not None else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
