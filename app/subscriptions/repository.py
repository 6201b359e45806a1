from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import tuple_, update
from sqlalchemy.orm import selectinload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import (
    ConfirmationToken,
    Subscriber,
    SubscriberAuthor,
    SubscriberEvent,
    SubscriberNewsletter,
    SubscriberTicker,
)


def subscriber_options() -> list[Any]:
    return [
        selectinload(Subscriber.newsletter_links).selectinload(SubscriberNewsletter.newsletter),  # type: ignore[arg-type]
        selectinload(Subscriber.ticker_links).selectinload(SubscriberTicker.ticker),  # type: ignore[arg-type]
        selectinload(Subscriber.author_links).selectinload(SubscriberAuthor.author),  # type: ignore[arg-type]
    ]


class SubscriberRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def base_statement(self) -> Any:
        return select(Subscriber).options(*subscriber_options())

    async def get(self, subscriber_id: int) -> Subscriber | None:
        statement = self.base_statement().where(Subscriber.id == subscriber_id)
        return (await self.session.exec(statement)).first()

    async def get_by_email_key(self, email_key: str) -> Subscriber | None:
        statement = self.base_statement().where(Subscriber.email_key == email_key)
        return (await self.session.exec(statement)).first()

    async def get_many(self, ids: Sequence[int]) -> dict[int, Subscriber]:
        statement = self.base_statement().where(col(Subscriber.id).in_(ids))
        return {s.id: s for s in (await self.session.exec(statement)).all()}  # type: ignore[misc]

    async def add(self, subscriber: Subscriber) -> Subscriber:
        self.session.add(subscriber)
        await self.session.flush()
        return subscriber

    async def add_event(self, event: SubscriberEvent) -> None:
        self.session.add(event)
        await self.session.flush()

    async def list(
        self,
        *,
        status: str | None,
        newsletter_id: int | None,
        after: Sequence[Any] | None,
        limit: int,
    ) -> list[Subscriber]:
        statement = self.base_statement()
        if status is not None:
            statement = statement.where(Subscriber.status == status)
        if newsletter_id is not None:
            receives = select(SubscriberNewsletter.subscriber_id).where(
                SubscriberNewsletter.newsletter_id == newsletter_id
            )
            statement = statement.where(col(Subscriber.id).in_(receives))
        if after is not None:
            statement = statement.where(tuple_(col(Subscriber.id)) > tuple(after))
        statement = statement.order_by(col(Subscriber.id)).limit(limit)
        return list((await self.session.exec(statement)).all())


class TokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: ConfirmationToken) -> ConfirmationToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def get_by_hash(self, token_hash: str) -> ConfirmationToken | None:
        statement = select(ConfirmationToken).where(ConfirmationToken.token_hash == token_hash)
        return (await self.session.exec(statement)).first()

    async def latest_unused_created_at(self, subscriber_id: int) -> datetime | None:
        statement = (
            select(ConfirmationToken.created_at)
            .where(
                ConfirmationToken.subscriber_id == subscriber_id,
                col(ConfirmationToken.used_at).is_(None),
            )
            .order_by(col(ConfirmationToken.created_at).desc())
            .limit(1)
        )
        return (await self.session.exec(statement)).first()

    async def use(self, token: ConfirmationToken, *, now: datetime) -> bool:
        """Marks the token used; False if a concurrent request used it first."""
        statement = (
            update(ConfirmationToken)
            .where(col(ConfirmationToken.id) == token.id, col(ConfirmationToken.used_at).is_(None))
            .values(used_at=now)
        )
        result = await self.session.exec(statement)  # type: ignore[call-overload]
        return bool(result.rowcount)
