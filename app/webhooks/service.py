"""Managing webhook endpoints (scope `admin`): create, read, change, delete, test ping,
and the deliveries log."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.changes import queries
from app.changes.service import ticker_ids_of
from app.models import Ticker, WebhookAttempt, WebhookEndpoint, WebhookEvent
from app.problems import Conflict, InvalidFields, NotFound
from app.settings import Settings
from app.webhooks import signing
from app.webhooks.fanout import PENDING, body, message_id
from app.webhooks.outbox import disable
from app.webhooks.schemas import WebhookCreate, WebhookUpdate
from app.webhooks.targets import RefusedTarget, Resolver, parse_target, resolve_checked

TEST = "webhook.test"


async def check_url(url: str, *, settings: Settings, resolver: Resolver) -> None:
    """A 422 for a URL deliveries would refuse: checked now, and again at every delivery."""
    allow_private = settings.webhooks_allow_private_targets
    try:
        await resolve_checked(parse_target(url, allow_private=allow_private), resolver, allow_private=allow_private)
    except RefusedTarget as refusal:
        raise InvalidFields.one(["body", "url"], f"refused: the URL {refusal}") from refusal


async def create_webhook(
    session: AsyncSession, *, data: WebhookCreate, settings: Settings, resolver: Resolver, now: datetime
) -> tuple[WebhookEndpoint, str]:
    await check_url(data.url, settings=settings, resolver=resolver)
    connection = await session.connection()
    ticker_ids = await ticker_ids_of(connection, data.tickers, loc=("body", "tickers"))
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        url=data.url, description=data.description, events=sorted(set(data.events)), ticker_ids=ticker_ids,
        secret=secret, fanout_seq=(await queries.read_head(connection)).last_seq, created_at=now, updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def get_webhook(session: AsyncSession, webhook_id: int) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, webhook_id)
    if endpoint is None:
        raise NotFound(f"No webhook endpoint with id {webhook_id}.")
    return endpoint


async def update_webhook(
    session: AsyncSession, endpoint: WebhookEndpoint, *, data: WebhookUpdate, settings: Settings,
    resolver: Resolver, now: datetime,
) -> WebhookEndpoint:
    values = data.model_dump(exclude_unset=True)
    for name in ("events", "tickers", "url", "enabled"):
        if name in values and values[name] is None:
            raise InvalidFields.one(["body", name], "must not be null")
    if "url" in values:
        await check_url(values["url"], settings=settings, resolver=resolver)
        endpoint.url = values["url"]
    if "events" in values:
        endpoint.events = sorted(set(values["events"]))
    if "tickers" in values:
        endpoint.ticker_ids = await ticker_ids_of(await session.connection(), values["tickers"], loc=("body", "tickers"))
    if "description" in values:
        endpoint.description = values["description"]
    if values.get("enabled") is True and not endpoint.enabled:
        # From the head on: what it missed while disabled is in `GET /v1/changes`.
        endpoint.fanout_seq = (await queries.read_head(await session.connection())).last_seq
        endpoint.enabled, endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = True, None, None, None
    elif values.get("enabled") is False and endpoint.enabled:
        await disable(session, endpoint, now=now, reason="disabled by an administrator")
    endpoint.updated_at = now
    await session.flush()
    return endpoint


async def delete_webhook(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """Its events and deliveries go with it (ON DELETE CASCADE)."""
    await session.delete(endpoint)
    await session.flush()


async def queue_test(session: AsyncSession, endpoint: WebhookEndpoint, *, now: datetime) -> WebhookEvent:
    """A `webhook.test` ping, delivered after the events already waiting (in order)."""
    if not endpoint.enabled:
        raise Conflict("The endpoint is disabled: enable it (`PATCH` with `enabled: true`) first.")
    event = WebhookEvent(
        endpoint_id=endpoint.id, type=TEST, payload=body(TEST, now, {"webhook_id": endpoint.id}),
        status=PENDING, next_attempt_at=now, created_at=now, updated_at=now,
    )
    session.add(event)
    await session.flush()
    return event


async def list_webhooks(session: AsyncSession, *, after: list[Any] | None, limit: int) -> list[WebhookEndpoint]:
    statement = select(WebhookEndpoint).order_by(col(WebhookEndpoint.id)).limit(limit)
    if after:
        statement = statement.where(col(WebhookEndpoint.id) > after[0])
    return list((await session.exec(statement)).all())


async def symbols_of(session: AsyncSession, endpoints: Sequence[WebhookEndpoint]) -> dict[int, str]:
    ids = sorted({ticker_id for endpoint in endpoints for ticker_id in endpoint.ticker_ids})
    if not ids:
        return {}
    rows = await session.exec(select(Ticker.id, Ticker.symbol).where(col(Ticker.id).in_(ids)))
    return {row.id: row.symbol for row in rows}


def representation(endpoint: WebhookEndpoint, symbols: dict[int, str]) -> dict[str, Any]:
    return {
        "id": endpoint.id, "url": endpoint.url, "events": endpoint.events, "description": endpoint.description,
        # A ticker deleted since is left out.
        "tickers": sorted(symbols[ticker_id] for ticker_id in endpoint.ticker_ids if ticker_id in symbols),
        "enabled": endpoint.enabled, "disabled_at": endpoint.disabled_at, "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at, "updated_at": endpoint.updated_at,
    }


async def list_deliveries(
    session: AsyncSession, endpoint: WebhookEndpoint, *, after: list[Any] | None, limit: int
) -> list[dict[str, Any]]:
    """The endpoint's attempts, newest first."""
    statement = (
        select(WebhookAttempt, col(WebhookEvent.type))
        .join(WebhookEvent, col(WebhookEvent.id) == WebhookAttempt.event_id)
        .where(col(WebhookAttempt.endpoint_id) == endpoint.id)
        .order_by(col(WebhookAttempt.id).desc()).limit(limit)
    )
    if after:
        statement = statement.where(col(WebhookAttempt.id) < after[0])
    return [
        {
            "id": attempt.id, "event_id": message_id(attempt.event_id), "event_type": kind, "attempt": attempt.attempt,
            "attempted_at": attempt.attempted_at, "duration_ms": attempt.duration_ms,
            "status_code": attempt.status_code, "error": attempt.error, "outcome": attempt.outcome,
            "next_retry_at": attempt.next_retry_at,
        }
        for attempt, kind in (await session.exec(statement)).all()
    ]
