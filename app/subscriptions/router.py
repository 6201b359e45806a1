import logging
from datetime import datetime
from typing import Annotated
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError

from app.db import SessionDep
from app.dependencies import JSON_BODY, get_clock
from app.mail.delivery import deliver_due
from app.models import Subscriber
from app.problems import InvalidFields, UnsupportedMediaType, problem_responses
from app.subscriptions import service, tokens
from app.subscriptions.dependencies import (
    ClientAddress,
    Limiter,
    ManagingSubscriber,
    TokenQuery,
    subscriber_bearer,
    subscriber_from_token,
)
from app.subscriptions.schemas import (
    ConfirmRequest,
    PreferencesUpdate,
    SubscriptionAccepted,
    SubscriptionConfirmed,
    SubscriptionRead,
    SubscriptionRequest,
    UnsubscribeLink,
    UnsubscribeRequest,
)
from app.subscriptions.views import to_read
from app.caching.http import NO_STORE, http_cache

# Personal data, every answer: no cache (proxy, CDN, browser history) may keep a copy.
router = APIRouter(
    prefix="/v1/subscriptions", tags=["Subscriptions"], dependencies=[http_cache(NO_STORE)]
)
Clock = Annotated[datetime, Depends(get_clock)]
logger = logging.getLogger("tickerfeed.mail")
ONE_CLICK_BODY = {
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {"type": "object", "properties": {"List-Unsubscribe": {"const": "One-Click"}}}
        },
        "application/json": {"schema": UnsubscribeRequest.model_json_schema()},
    }
}


async def send_now(app: FastAPI, message_ids: list[int], now: datetime) -> None:
    """Best effort right after the response; the outbox keeps the mail for a deliverer otherwise."""
    try:
        await deliver_due(
            app.state.sessionmaker,
            app.state.settings,
            batch_size=len(message_ids),
            only_ids=message_ids,
            clock=lambda: now,
        )
    except Exception:  # the row stays queued; `tickerfeed newsletter deliver` retries it
        logger.warning("immediate delivery of %s failed", message_ids, exc_info=True)


@router.post(
    "",
    summary="Subscribe to newsletters",
    status_code=202,
    response_model=SubscriptionAccepted,
    responses=problem_responses(400, 413, 415, 422, 429),
    dependencies=[JSON_BODY],
)
async def create_subscription(
    request: Request,
    session: SessionDep,
    data: SubscriptionRequest,
    client: ClientAddress,
    limiter: Limiter,
    background: BackgroundTasks,
    now: Clock,
) -> SubscriptionAccepted:
    """Starts a double opt-in: a confirmation link is mailed. The answer is the same for every address."""
    settings = request.app.state.settings
    await limiter.hit(settings.rate_limit_subscribe_per_client, "subscribe:client", client)
    await limiter.hit(
        settings.rate_limit_subscribe_per_email, "subscribe:email", data.email.lower()
    )
    message_id = await service.subscribe(
        session, data=data, client=client, settings=settings, now=now
    )
    if message_id is not None and settings.send_mail_on_request:
        background.add_task(send_now, request.app, [message_id], now)
    return SubscriptionAccepted()


@router.post(
    "/confirm",
    summary="Confirm a subscription",
    response_model=SubscriptionConfirmed,
    responses=problem_responses(400, 409, 410, 413, 415, 422, 429),
    dependencies=[JSON_BODY],
)
async def confirm_subscription(
    request: Request,
    session: SessionDep,
    data: ConfirmRequest,
    client: ClientAddress,
    limiter: Limiter,
    now: Clock,
) -> SubscriptionConfirmed:
    """Activates the subscription with the token from the confirmation mail (single use, expiring)."""
    settings = request.app.state.settings
    await limiter.hit(settings.rate_limit_confirm_per_client, "confirm:client", client)
    subscriber = await service.confirm(session, token=data.token, client=client, now=now)
    return SubscriptionConfirmed(
        **to_read(subscriber).model_dump(), manage_token=service.manage_token(settings, subscriber)
    )


@router.get(
    "/me",
    summary="Get my subscription",
    response_model=SubscriptionRead,
    responses=problem_responses(401, 422),
)
async def get_my_subscription(subscriber: ManagingSubscriber) -> SubscriptionRead:
    """The subscriber's newsletters, followed tickers and authors, and status."""
    return to_read(subscriber)


@router.patch(
    "/me",
    summary="Update my subscription",
    response_model=SubscriptionRead,
    responses=problem_responses(400, 401, 409, 413, 415, 422),
    dependencies=[JSON_BODY],
)
async def update_my_subscription(
    session: SessionDep,
    subscriber: ManagingSubscriber,
    data: PreferencesUpdate,
    client: ClientAddress,
    now: Clock,
) -> SubscriptionRead:
    """Changes newsletters, followed tickers (by symbol) or followed authors (by slug)."""
    updated = await service.update_preferences(
        session, subscriber, data=data, client=client, now=now
    )
    return to_read(updated)


ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"


def _one_click_form(body: bytes) -> list[str]:
    """The values of `List-Unsubscribe` in an application/x-www-form-urlencoded body."""
    form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return form.get(ONE_CLICK_FIELD, [])


def _one_click_multipart(content_type: str, body: bytes) -> list[str]:
    """The values of the parts named `List-Unsubscribe` in a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", errors="replace")
    document = BytesParser(policy=HTTP).parsebytes(head + body)
    if not document.is_multipart():
        return []
    values = []
    for part in document.iter_parts():
        if part.get_param("name", header="content-disposition") == ONE_CLICK_FIELD:
            payload = part.get_payload(decode=True)
            values.append(payload.decode("utf-8", errors="replace") if payload else "")
    return values


async def _token_from_body(request: Request) -> str | None:
    """RFC 8058 one-click form (token in the URL), or JSON carrying the token.

    A form must carry exactly one `List-Unsubscribe` field whose value is `One-Click`.
    """
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    body = await request.body()
    if media_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values = (
            _one_click_form(body)
            if media_type == "application/x-www-form-urlencoded"
            else _one_click_multipart(content_type, body)
        )
        if values != [ONE_CLICK_VALUE]:
            raise InvalidFields.one(["body", ONE_CLICK_FIELD], "must be `One-Click` (RFC 8058)")
        return None
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            return UnsubscribeRequest.model_validate_json(body).token
        except ValidationError as exc:
            raise InvalidFields.one(
                ["body", "token"], "send a JSON object with the `token`"
            ) from exc
    raise UnsupportedMediaType(
        "Send `List-Unsubscribe=One-Click` as a form, or JSON with the token."
    )


@router.post(
    "/unsubscribe",
    summary="Unsubscribe",
    response_model=SubscriptionRead,
    responses=problem_responses(400, 401, 413, 415, 422),
    openapi_extra={"requestBody": ONE_CLICK_BODY},
)
async def unsubscribe(
    request: Request,
    session: SessionDep,
    client: ClientAddress,
    now: Clock,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(subscriber_bearer)],
    token: TokenQuery = None,
) -> SubscriptionRead:
    """One-click unsubscribe (RFC 8058): no cookie, no CSRF token; repeating it changes nothing."""
    body_token = await _token_from_body(request)
    subscriber = await subscriber_from_token(
        request, session, credentials, body_token or token, (tokens.UNSUBSCRIBE, tokens.MANAGE)
    )
    return to_read(await service.unsubscribe(session, subscriber, client=client, now=now))


@router.get(
    "/unsubscribe",
    summary="Check an unsubscribe link",
    response_model=UnsubscribeLink,
    responses=problem_responses(401, 422),
)
async def check_unsubscribe_link(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(subscriber_bearer)],
    token: TokenQuery = None,
) -> UnsubscribeLink:
    """Never unsubscribes: mail scanners follow links. Says whether the link is good and what to POST."""
    subscriber: Subscriber = await subscriber_from_token(
        request, session, credentials, token, (tokens.UNSUBSCRIBE, tokens.MANAGE)
    )
    return UnsubscribeLink(status=subscriber.status)
