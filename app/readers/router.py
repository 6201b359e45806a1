from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials

from app.api_keys.dependencies import require_scope
from app.api_keys.scopes import Scope
from app.clients import ClientDep
from app.comments import spam
from app.caching.http import NO_STORE, http_cache
from app.db import SessionDep
from app.dependencies import JSON_BODY, get_clock
from app.models import Reader
from app.problems import problem_responses
from app.readers import service
from app.readers.dependencies import CurrentReader, reader_bearer
from app.readers.schemas import (
    ReaderAuthor,
    ReaderAuthorLink,
    ReaderBanned,
    ReaderMe,
    ReaderPublic,
    ReaderUpdate,
    SignedIn,
    SignInAccepted,
    SignInConfirm,
    SignInRequest,
)
from app.subscriptions.dependencies import Limiter
from app.subscriptions.router import send_now

# Personal data and session tokens, every answer: no cache may keep a copy.
router = APIRouter(prefix="/v1/readers", tags=["Readers"], dependencies=[http_cache(NO_STORE)])
Clock = Annotated[datetime, Depends(get_clock)]
Moderator = Depends(require_scope(Scope.COMMENTS_MODERATE))
ReaderId = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def me_of(request: Request, session: SessionDep, reader: Reader) -> ReaderMe:
    assert reader.id is not None and reader.email is not None
    return ReaderMe(
        id=reader.id,
        display_name=reader.display_name,
        email=reader.email,
        status="banned" if reader.status == "banned" else "active",
        trusted=spam.is_trusted(reader, request.app.state.settings),
        approved_comments=reader.approved_count,
        newsletter_subscription=await service.subscription_status(session, reader),  # type: ignore[arg-type]
        created_at=reader.created_at,
    )


@router.post(
    "/sign-in",
    summary="Ask for a sign-in link",
    status_code=202,
    response_model=SignInAccepted,
    responses=problem_responses(400, 413, 415, 422, 429),
    dependencies=[JSON_BODY],
)
async def request_sign_in(
    request: Request,
    session: SessionDep,
    data: SignInRequest,
    client: ClientDep,
    limiter: Limiter,
    background: BackgroundTasks,
    now: Clock,
) -> SignInAccepted:
    """Mails a single-use sign-in link valid 15 minutes. The answer, and the work behind it,
    are the same for every address, known or not."""
    settings = request.app.state.settings
    await limiter.hit(settings.rate_limit_sign_in_per_client, "sign-in:client", client.rate_limit_key)
    await limiter.hit(settings.rate_limit_sign_in_per_email, "sign-in:email", data.email.lower())
    message_id = await service.request_sign_in(
        session, email=data.email, client=client.address, settings=settings, now=now
    )
    if settings.send_mail_on_request:
        background.add_task(send_now, request.app, [message_id], now)
    return SignInAccepted()


@router.post(
    "/sign-in/confirm",
    summary="Sign in with a mailed link",
    response_model=SignedIn,
    responses=problem_responses(400, 409, 410, 413, 415, 422, 429),
    dependencies=[JSON_BODY],
)
async def confirm_sign_in(
    request: Request, session: SessionDep, data: SignInConfirm, client: ClientDep, limiter: Limiter, now: Clock
) -> SignedIn:
    """Spends the link's token (single use, 15 minutes) and opens a session. The first
    link an address confirms creates its reader."""
    settings = request.app.state.settings
    await limiter.hit(settings.rate_limit_confirm_per_client, "sign-in-confirm:client", client.rate_limit_key)
    reader, token = await service.confirm_sign_in(session, token=data.token, settings=settings, now=now)
    assert reader.id is not None
    return SignedIn(reader=ReaderPublic(id=reader.id, display_name=reader.display_name), session_token=token)


@router.post(
    "/sign-out",
    summary="Sign out",
    status_code=204,
    responses=problem_responses(401),
)
async def sign_out(
    session: SessionDep,
    reader: CurrentReader,
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(reader_bearer)],
) -> None:
    """Revokes the session token sent; the reader's other sessions stay."""
    await service.sign_out(session, reader, credentials.credentials)


@router.get("/me", summary="Get my reader profile", response_model=ReaderMe, responses=problem_responses(401))
async def get_my_reader(request: Request, session: SessionDep, reader: CurrentReader) -> ReaderMe:
    """The signed-in reader: name, address, trust, and the address's newsletter subscription."""
    return await me_of(request, session, reader)


@router.patch(
    "/me",
    summary="Update my reader profile",
    response_model=ReaderMe,
    responses=problem_responses(400, 401, 413, 415, 422),
    dependencies=[JSON_BODY],
)
async def update_my_reader(
    request: Request, session: SessionDep, reader: CurrentReader, data: ReaderUpdate, now: Clock
) -> ReaderMe:
    """Sets the display name shown with comments (needed before a first comment)."""
    await service.rename(session, reader, display_name=data.display_name, now=now)
    return await me_of(request, session, reader)


@router.delete("/me", summary="Erase me", status_code=204, responses=problem_responses(401))
async def erase_my_reader(session: SessionDep, reader: CurrentReader, now: Clock) -> None:
    """Erases the reader: address and name gone, comments shown as `deleted` without text
    or name (or gone where nothing replies), every session revoked. The address can sign
    in again later, as a new reader."""
    await service.erase(session, reader, now=now)


@router.post(
    "/{reader_id:int}/ban",
    summary="Ban a reader",
    response_model=ReaderBanned,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Moderator],
)
async def ban_reader(
    session: SessionDep, reader_id: ReaderId, now: Clock
) -> ReaderBanned:
    """The reader can no longer comment or report; their pending comments are rejected."""
    reader, rejected = await service.ban(session, reader_id, now=now)
    assert reader.id is not None and reader.banned_at is not None
    return ReaderBanned(id=reader.id, status="banned", banned_at=reader.banned_at, rejected_pending=rejected)


@router.patch(
    "/{reader_id:int}",
    summary="Link a reader to an author",
    response_model=ReaderAuthor,
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422),
    dependencies=[Depends(require_scope(Scope.CONTENT_WRITE)), JSON_BODY],
)
async def link_reader_to_author(
    session: SessionDep, reader_id: ReaderId, data: ReaderAuthorLink, now: Clock
) -> ReaderAuthor:
    """The reader writes as this author: their comments under the author's articles are
    marked `is_article_author` (from their next comment on); `null` unlinks."""
    linked = await service.link_author(session, reader_id, author_slug=data.author, now=now)
    return ReaderAuthor(id=reader_id, author=linked)
