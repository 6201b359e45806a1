"""Passwordless readers: a mailed single-use link signs in, a session token is the key.

Asking for a link does the same work for every address, known or not: one link row, one
outbox row, the same mail. The reader is found or created only when a link is confirmed,
so nothing the request does (or how long it takes) says whether the address has a reader.
"""

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.authors import service as authors_service
from app.comments import service as comments_service
from app.mail.rendering import RenderedMail, render_sign_in
from app.models import OutboundEmail, Reader, ReaderSession, ReaderSignIn
from app.problems import Forbidden, NotFound
from app.readers import tokens
from app.readers.repository import ReaderRepository
from app.settings import Settings
from app.subscriptions.problems import ExpiredToken, InvalidToken, UsedToken
from app.subscriptions.repository import SubscriberRepository


async def request_sign_in(
    session: AsyncSession, *, email: str, client: str | None, settings: Settings, now: datetime
) -> int:
    """Queues a sign-in mail for `email`; the outbox id. The address's spent links go
    first: a link row holds an address that may have no reader, so none outlives its use."""
    await ReaderRepository(session).forget_sign_ins(email.lower(), spent_at=now)
    seed = tokens.new_seed()
    sign_in = ReaderSignIn(
        email=email,
        email_key=email.lower(),
        token_hash=tokens.hash_token(tokens.sign_in_token(settings.secret_key, seed)),
        seed=seed,
        requested_from=client,
        expires_at=now + timedelta(minutes=settings.sign_in_token_ttl_minutes),
        created_at=now,
        updated_at=now,
    )
    session.add(sign_in)
    await session.flush()
    message = OutboundEmail(
        kind="sign_in", reader_sign_in_id=sign_in.id, status="queued",
        next_attempt_at=now, created_at=now, updated_at=now,
    )
    session.add(message)
    await session.flush()
    assert message.id is not None
    return message.id


async def sign_in_mail(
    session: AsyncSession, settings: Settings, sign_in_id: int, *, now: datetime
) -> tuple[str, RenderedMail] | None:
    """The recipient and mail of a sign-in link, minted now; None once it cannot sign in."""
    sign_in = await session.get(ReaderSignIn, sign_in_id)
    if sign_in is None or sign_in.used_at is not None or sign_in.expires_at <= now:
        return None
    token = tokens.sign_in_token(settings.secret_key, sign_in.seed)
    minutes = max(1, int((sign_in.expires_at - now) / timedelta(minutes=1)))
    mail = render_sign_in(sign_in_url=f"{settings.site_url}/sign-in?token={token}", ttl_minutes=minutes)
    return sign_in.email, mail


async def _reader_for(session: AsyncSession, sign_in: ReaderSignIn, *, now: datetime) -> Reader:
    """The address's reader, created on its first confirmed link and linked to the same
    person's newsletter subscription when there is one (it is never created here)."""
    repository = ReaderRepository(session)
    reader = await repository.get_by_email_key(sign_in.email_key)
    if reader is None:
        reader = Reader(email=sign_in.email, email_key=sign_in.email_key, created_at=now, updated_at=now)
        try:
            async with session.begin_nested():
                await repository.add(reader)
        except IntegrityError:  # a concurrent confirm for the same address created it first
            if reader in session:
                session.expunge(reader)
            found = await repository.get_by_email_key(sign_in.email_key)
            assert found is not None
            reader = found
    subscriber = await SubscriberRepository(session).get_by_email_key(sign_in.email_key)
    subscriber_id = subscriber.id if subscriber is not None else None
    if reader.subscriber_id != subscriber_id:
        reader.subscriber_id = subscriber_id
        await session.flush()
    return reader


async def confirm_sign_in(
    session: AsyncSession, *, token: str, settings: Settings, now: datetime
) -> tuple[Reader, str]:
    """The reader of a valid link, and a new session token for them."""
    repository = ReaderRepository(session)
    sign_in = await repository.sign_in_by_hash(tokens.hash_token(token))
    if sign_in is None:
        raise InvalidToken("The sign-in token is not valid. Use the link from the latest mail.")
    if sign_in.used_at is not None:
        raise UsedToken("The sign-in link has already been used. Ask for a new one.")
    if sign_in.expires_at <= now:
        raise ExpiredToken("The sign-in link has expired. Ask for a new one.")
    if not await repository.use_sign_in(sign_in, now=now):
        raise UsedToken("The sign-in link has already been used. Ask for a new one.")
    reader = await _reader_for(session, sign_in, now=now)
    plaintext = tokens.new_session_token()
    assert reader.id is not None
    session.add(
        ReaderSession(
            reader_id=reader.id,
            token_hash=tokens.hash_token(plaintext),
            expires_at=now + timedelta(days=settings.reader_session_ttl_days),
            created_at=now,
            updated_at=now,
        )
    )
    await session.flush()
    return reader, plaintext


async def authenticate(session: AsyncSession, token: str, *, now: datetime) -> Reader | None:
    """The reader of a live session token; None for anything else."""
    if not token.startswith(tokens.SESSION_PREFIX) or len(token) > 128:
        return None
    repository = ReaderRepository(session)
    found = await repository.session_by_hash(tokens.hash_token(token), now=now)
    if found is None:
        return None
    reader = await repository.get(found.reader_id)
    return reader if reader is not None and reader.status != "erased" else None


async def sign_out(session: AsyncSession, reader: Reader, token: str) -> None:
    assert reader.id is not None
    await ReaderRepository(session).revoke_sessions(reader.id, token_hash=tokens.hash_token(token))


async def subscription_status(session: AsyncSession, reader: Reader) -> str | None:
    if reader.subscriber_id is None:
        return None
    subscriber = await SubscriberRepository(session).get(reader.subscriber_id)
    return subscriber.status if subscriber is not None else None


async def rename(session: AsyncSession, reader: Reader, *, display_name: str, now: datetime) -> Reader:
    reader.display_name, reader.updated_at = display_name, now
    await session.flush()
    return reader


async def erase(session: AsyncSession, reader: Reader, *, now: datetime) -> None:
    """Removes the reader's address and name for good; their comments stay as `deleted`
    placeholders where others replied to them, and vanish otherwise."""
    assert reader.id is not None
    repository = ReaderRepository(session)
    if reader.email_key is not None:
        await repository.forget_sign_ins(reader.email_key)
    await repository.revoke_sessions(reader.id)
    await comments_service.erase_comments_of(session, reader.id, now=now)
    reader.email = reader.email_key = reader.display_name = None
    reader.subscriber_id = reader.author_id = None
    reader.status, reader.erased_at, reader.updated_at = "erased", now, now
    await session.flush()


async def ban(session: AsyncSession, reader_id: int, *, now: datetime) -> tuple[Reader, int]:
    """Bans a reader: no more comments or reports; their pending comments are rejected."""
    reader = await ReaderRepository(session).get(reader_id)
    if reader is None or reader.status == "erased":
        raise NotFound("No such reader.")
    if reader.status != "banned":
        reader.status, reader.banned_at, reader.updated_at = "banned", now, now
        await session.flush()
    rejected = await comments_service.reject_pending_of(session, reader_id, now=now)
    return reader, rejected


def require_commenter(reader: Reader) -> None:
    if reader.status == "banned":
        raise Forbidden("This reader is banned from commenting.")


async def link_author(session: AsyncSession, reader_id: int, *, author_slug: str | None, now: datetime) -> str | None:
    """Makes a reader the voice of an author: their comments under that author's articles
    are marked `is_article_author` from now on."""
    reader = await ReaderRepository(session).get(reader_id)
    if reader is None or reader.status == "erased":
        raise NotFound("No such reader.")
    author_id = None
    if author_slug is not None:
        author_id = (await authors_service.require_author(session, author_slug, loc=["body", "author"])).id
    reader.author_id, reader.updated_at = author_id, now
    await session.flush()
    return author_slug
