from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Reader, ReaderSession, ReaderSignIn


class ReaderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, reader_id: int) -> Reader | None:
        return await self.session.get(Reader, reader_id)

    async def get_by_email_key(self, email_key: str) -> Reader | None:
        return (await self.session.exec(select(Reader).where(Reader.email_key == email_key))).first()

    async def add(self, reader: Reader) -> Reader:
        self.session.add(reader)
        await self.session.flush()
        return reader

    async def sign_in_by_hash(self, token_hash: str) -> ReaderSignIn | None:
        statement = select(ReaderSignIn).where(ReaderSignIn.token_hash == token_hash)
        return (await self.session.exec(statement)).first()

    async def use_sign_in(self, sign_in: ReaderSignIn, *, now: datetime) -> bool:
        """Spends the link; False when a concurrent confirm spent it first."""
        statement = (
            update(ReaderSignIn)
            .where(col(ReaderSignIn.id) == sign_in.id, col(ReaderSignIn.used_at).is_(None))
            .values(used_at=now, updated_at=now)
        )
        result = await self.session.exec(statement)  # type: ignore[call-overload]
        return bool(result.rowcount)

    async def forget_sign_ins(self, email_key: str, *, spent_at: datetime | None = None) -> None:
        """Deletes the address's links: all of them, or (with `spent_at`) those used or
        expired by then."""
        statement = delete(ReaderSignIn).where(col(ReaderSignIn.email_key) == email_key)
        if spent_at is not None:
            statement = statement.where(
                col(ReaderSignIn.used_at).is_not(None) | (col(ReaderSignIn.expires_at) <= spent_at)
            )
        await self.session.exec(statement)  # type: ignore[call-overload]

    async def session_by_hash(self, token_hash: str, *, now: datetime) -> ReaderSession | None:
        statement = select(ReaderSession).where(
            ReaderSession.token_hash == token_hash, col(ReaderSession.expires_at) > now
        )
        return (await self.session.exec(statement)).first()

    async def revoke_sessions(self, reader_id: int, *, token_hash: str | None = None) -> None:
        statement = delete(ReaderSession).where(col(ReaderSession.reader_id) == reader_id)
        if token_hash is not None:
            statement = statement.where(col(ReaderSession.token_hash) == token_hash)
        await self.session.exec(statement)  # type: ignore[call-overload]
