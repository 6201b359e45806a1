from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request, Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from app.caching.http import NO_STORE, http_cache
from app.changes.service import MAX_SEQ, ticker_ids_of
from app.db import ReadConnection
from app.fields import CarriedTickers
from app.middleware import HEAD_REQUEST
from app.openapi import schema_ref
from app.problems import problem_responses
from app.stream import service
from app.stream.feed import ChangeFeed

router = APIRouter(prefix="/v1/stream", tags=["Stream"])

EVENT_STREAM = "text/event-stream"
SHUTDOWN_GRACE_SECONDS = 1.0
STREAM_DESCRIPTION = (
    "Server-Sent Events, one per change: `id:` the change's `seq`, `event:` its type, `data:` the article's "
    "card (as list items show it) for `article.published` and `article.updated`, `{\"id\", \"slug\"}` for "
    "`article.unpublished` and `article.deleted`. A `: keep-alive` comment line every 15 s. A client that "
    "falls too far behind gets a last `event: error` with `data: {\"reason\": …}` and the stream ends: "
    "reconnect with `Last-Event-ID`."
)
LAST_EVENT_ID = "Resume after this event `id` (a `seq`): the events after it are replayed from the log, then live ones follow."


class EventStream(EventSourceResponse):
    media_type = EVENT_STREAM


@router.get(
    "",
    # Never stored: a stream has no end to store, nor a state to revalidate.
    dependencies=[http_cache(NO_STORE)],
    summary="Stream changes",
    response_class=EventStream,
    responses={
        200: {"description": STREAM_DESCRIPTION, "content": {EVENT_STREAM: {"schema": schema_ref("EventStream")}}},
        **problem_responses(410, 422, 503),
    },
)
async def stream_changes(
    request: Request,
    connection: ReadConnection,
    ticker: CarriedTickers = [],  # noqa: B006  (FastAPI copies defaults per request)
    last_event_id_header: Annotated[
        int | None, Header(alias="Last-Event-ID", ge=0, le=MAX_SEQ, description=LAST_EVENT_ID)
    ] = None,
    last_event_id: Annotated[
        int | None,
        Query(ge=0, le=MAX_SEQ, description="As the `Last-Event-ID` header, for clients that cannot set it; the header wins."),
    ] = None,
) -> Any:
    """Published changes as they happen, as Server-Sent Events, from every API process;
    resumable without a gap with `Last-Event-ID`. At most `STREAM_MAX_CLIENTS` streams per
    process: a 503 beyond."""
    resume_after = last_event_id_header if last_event_id_header is not None else last_event_id
    ticker_ids = await ticker_ids_of(connection, ticker)
    await service.check_resumable(connection, resume_after)
    settings = request.app.state.settings
    if request.scope.get(HEAD_REQUEST):
        return Response(media_type=EVENT_STREAM, headers={"Cache-Control": "no-store"})
    feed: ChangeFeed = request.app.state.change_feed
    subscriber, live_from = service.subscribe(feed, ticker_ids)
    events = service.client_events(
        feed, subscriber, last_event_id=resume_after, live_from=live_from, ticker_ids=ticker_ids
    )
    shutdown = anyio.Event()
    return EventStream(
        events,
        # At shutdown the stream ends with its reason (within the grace period), not cut off.
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
        data_sender_callable=lambda: service.close_at(shutdown, subscriber),
        sep="\n",
        ping=settings.stream_heartbeat_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="keep-alive", sep="\n"),
        send_timeout=settings.stream_send_timeout_seconds,
        # Also when the body never starts, whose generator's `finally` would not run.
        background=BackgroundTask(feed.unsubscribe, subscriber),
    )
