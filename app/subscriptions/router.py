import logging
import re
from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError

from app.clients import ClientDep
from app.db import SessionDep
from app.dependencies import JSON_BODY, get_clock
from app.mail.delivery import deliver_due
from app.openapi import schema_ref
from app.models import Subscriber
from app.problems import BodyTooLarge, InvalidFields, UnsupportedMediaType, problem_responses
from app.subscriptions import service, tokens
from app.subscriptions.dependencies import (
    Limiter,
    ManagingSubscriber,
    TokenQuery,
    subscriber_bearer,
    subscriber_from_token,
)
from app.subscriptions.schemas import (
    MAX_FORM_FIELDS,
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
    "description": "At most 1024 bytes: a larger body is a 413, unread.",
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {"schema": schema_ref("OneClickUnsubscribeForm")},
        "multipart/form-data": {"schema": schema_ref("OneClickUnsubscribeForm")},
        "application/json": {"schema": schema_ref("UnsubscribeRequest")},
    },
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
    responses=problem_responses(400, 413, 415, 422, 429, 503),
    dependencies=[JSON_BODY],
)
async def create_subscription(
    request: Request,
    session: SessionDep,
    data: SubscriptionRequest,
    client: ClientDep,
    limiter: Limiter,
    background: BackgroundTasks,
    now: Clock,
) -> SubscriptionAccepted:
    """Starts a double opt-in: a confirmation link is mailed. The answer is the same for every address."""
    settings = request.app.state.settings
    # Fail closed: each sign-up mails someone (app.ratelimit).
    await limiter.hit(
        settings.rate_limit_subscribe_per_client, "subscribe:client", client.rate_limit_key, fail_closed=True
    )
    await limiter.hit(
        settings.rate_limit_subscribe_per_email, "subscribe:email", data.email.lower(), fail_closed=True
    )
    message_id = await service.subscribe(
        session, data=data, client=client.address, settings=settings, now=now
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
    client: ClientDep,
    limiter: Limiter,
    now: Clock,
) -> SubscriptionConfirmed:
    """Activates the subscription with the token from the confirmation mail (single use, expiring)."""
    settings = request.app.state.settings
    await limiter.hit(
        settings.rate_limit_confirm_per_client, "confirm:client", client.rate_limit_key
    )
    subscriber = await service.confirm(session, token=data.token, client=client.address, now=now)
    return SubscriptionConfirmed(
        **to_read(subscriber).model_dump(), manage_token=service.manage_token(settings, subscriber, now=now)
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
    client: ClientDep,
    now: Clock,
) -> SubscriptionRead:
    """Changes newsletters, followed tickers (by symbol) or followed authors (by slug)."""
    updated = await service.update_preferences(
        session, subscriber, data=data, client=client.address, now=now
    )
    return to_read(updated)


ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"
FORM, MULTIPART_FORM = "application/x-www-form-urlencoded", "multipart/form-data"
# The route is unauthenticated and reads its body before it can check a token, so it reads
# little: the RFC 8058 body is 26 bytes as a form and 124 as multipart (§8), a JSON body one
# token. Anything larger is refused unread; what is read is parsed in time linear in it.
# (`email.parser` held the event loop 6 s for 1 MB of empty multipart parts, and 20 ms
# even for 1 KiB of them; the flat parser below takes microseconds.)
MAX_BODY_BYTES = 1024
# A `;`-separated parameter of a header value (RFC 9110 §5.6.6), quoted (without
# backslash escapes) or not. Linear: nothing here can backtrack far.
PARAMETER = re.compile(
    r';[ \t]*(?P<name>[!#$%&\'*+.^_`|~0-9A-Za-z-]+)[ \t]*=[ \t]*(?:"(?P<quoted>[^"\\]*)"|(?P<token>[^\s;"]+))'
)


def _parameter(header: str, name: str) -> str | None:
    for match in PARAMETER.finditer(header):
        if match["name"].lower() == name:
            return match["quoted"] if match["quoted"] is not None else match["token"]
    return None


def _malformed(msg: str) -> InvalidFields:
    return InvalidFields.one(["body"], msg)


async def _small_body(request: Request) -> bytes:
    """The body, or a 413 as soon as it is known to exceed MAX_BODY_BYTES: from
    Content-Length before reading, or while reading a body sent without one (chunked)."""
    too_large = BodyTooLarge(f"The request body exceeds {MAX_BODY_BYTES} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    return bytes(body)


def _one_click_form(body: bytes) -> list[str]:
    """The values of `List-Unsubscribe` in an application/x-www-form-urlencoded body."""
    try:
        form = parse_qsl(
            body.decode("utf-8", errors="replace"),
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as exc:  # more fields than any one-click form has
        raise _malformed(f"a one-click form has at most {MAX_FORM_FIELDS} fields") from exc
    return [value for name, value in form if name == ONE_CLICK_FIELD]


def _multipart_parts(content_type: str, body: bytes) -> list[tuple[bytes, bytes]]:
    """(headers, content) of each part of a multipart body (RFC 2046 §5.1.1).

    Flat and strict on purpose: one split on the delimiter, no nested multiparts, no
    transfer encodings. A one-click form is one part; nothing else needs to be read."""
    boundary = _parameter(content_type, "boundary")
    if not boundary or len(boundary) > 70:
        raise _malformed("multipart/form-data needs a boundary of 1 to 70 characters (RFC 2046)")
    sections = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1", errors="replace"))
    parts = []
    for section in sections[1:]:  # sections[0] is the preamble
        if section.startswith(b"--"):  # the close delimiter; what follows is the epilogue
            return parts
        # The delimiter line may end in transport padding, then CRLF; headers end at a blank line.
        section = section.lstrip(b" \t")
        if not section.startswith(b"\r\n"):
            raise _malformed("a multipart delimiter must end its line")
        headers, blank, content = section.partition(b"\r\n\r\n")
        if not blank:
            raise _malformed("a multipart part needs a blank line after its headers")
        parts.append((headers, content))
    raise _malformed("the multipart body is not closed by its final delimiter")


def _form_field_name(headers: bytes) -> str | None:
    """The `name` of a multipart/form-data part (RFC 7578 §4.2), or None for a part that is
    no form field. A part that is a multipart of its own is refused: forms are flat."""
    name = None
    for line in headers.decode("latin-1").split("\r\n"):
        field, _, value = line.partition(":")
        field = field.strip().lower()
        if field == "content-type" and value.strip().lower().startswith("multipart/"):
            raise _malformed("a form field cannot be a multipart of its own (RFC 7578 §4.3)")
        if field == "content-disposition" and value.strip().lower().startswith("form-data"):
            name = _parameter(value, "name")
    return name


def _one_click_multipart(content_type: str, body: bytes) -> list[str]:
    """The values of the parts named `List-Unsubscribe` in a multipart/form-data body."""
    parts = _multipart_parts(content_type, body)
    if len(parts) > MAX_FORM_FIELDS:
        raise _malformed(f"a one-click form has at most {MAX_FORM_FIELDS} fields")
    return [
        content.decode("utf-8", errors="replace")
        for headers, content in parts
        if _form_field_name(headers) == ONE_CLICK_FIELD
    ]


async def _token_from_body(request: Request) -> str | None:
    """RFC 8058 one-click form (token in the URL), or JSON carrying the token.

    A form must carry exactly one `List-Unsubscribe` field whose value is `One-Click`.
    The media type is checked before anything is read, the size before anything is parsed.
    """
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    is_json = media_type == "application/json" or media_type.endswith("+json")
    if media_type not in (FORM, MULTIPART_FORM) and not is_json:
        raise UnsupportedMediaType(
            "Send `List-Unsubscribe=One-Click` as a form, or JSON with the token."
        )
    body = await _small_body(request)
    if is_json:
        try:
            return UnsubscribeRequest.model_validate_json(body).token
        except ValidationError as exc:
            raise InvalidFields.one(
                ["body", "token"], "send a JSON object with the `token`"
            ) from exc
    values = (
        _one_click_form(body) if media_type == FORM else _one_click_multipart(content_type, body)
    )
    if values != [ONE_CLICK_VALUE]:
        raise InvalidFields.one(["body", ONE_CLICK_FIELD], "must be `One-Click` (RFC 8058)")
    return None


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
    client: ClientDep,
    now: Clock,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(subscriber_bearer)],
    token: TokenQuery = None,
) -> SubscriptionRead:
    """One-click unsubscribe (RFC 8058): no cookie, no CSRF token; repeating it changes nothing."""
    body_token = await _token_from_body(request)
    subscriber = await subscriber_from_token(
        request, session, credentials, body_token or token, (tokens.UNSUBSCRIBE, tokens.MANAGE)
    )
    return to_read(await service.unsubscribe(session, subscriber, client=client.address, now=now))


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
