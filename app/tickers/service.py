from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.orm import selectinload
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles.counts import visible_counts
from app.db import utcnow
from app.keyset import ascending_page
from app.models import Ticker, TickerAlias
from app.problems import Conflict, InvalidFields, NotFound
from app.updates import changes_of, save_changes, state_of
from app.tickers.repository import TickerRepository
from app.tickers.schemas import TickerCreate, TickerRead, TickerUpdate


async def get_ticker(session: AsyncSession, symbol: str) -> Ticker:
    """By symbol or alias, case-insensitively (GOOG finds GOOGL)."""
    found = await TickerRepository(session).resolve_many([symbol])
    if not found:
        raise NotFound(f"No ticker with symbol '{symbol.upper()}'.")
    return next(iter(found.values()))


async def resolve_symbols(session: AsyncSession, symbols: list[str]) -> dict[str, Ticker]:
    """Symbols or aliases to tickers; unknown ones are simply absent."""
    return await TickerRepository(session).resolve_many(symbols)


async def require_symbols(
    session: AsyncSession, symbols: list[str], *, loc: list[str | int]
) -> list[Ticker]:
    """The tickers named, in order and without repeats; a 422 naming every unknown symbol."""
    found = await resolve_symbols(session, symbols)
    unknown = [index for index, symbol in enumerate(symbols) if symbol.upper() not in found]
    if unknown:
        raise InvalidFields(
            [
                InvalidFields.one([*loc, index], f"unknown ticker symbol '{symbols[index]}'").errors[0]
                for index in unknown
            ]
        )
    tickers: dict[int, Ticker] = {}
    for symbol in symbols:
        ticker = found[symbol.upper()]
        tickers.setdefault(ticker.id or 0, ticker)
    return list(tickers.values())


async def list_tickers(
    session: AsyncSession,
    *,
    prefix: str | None,
    asset_class: str | None,
    after: list[Any] | None,
    limit: int,
) -> list[Ticker]:
    where: list[Any] = []
    if prefix:
        where.append(
            or_(
                col(Ticker.symbol).startswith(prefix.upper(), autoescape=True),
                func.lower(Ticker.name).startswith(prefix.lower(), autoescape=True),
            )
        )
    if asset_class:
        where.append(Ticker.asset_class == asset_class)
    return await ascending_page(
        session,
        Ticker,
        key=[Ticker.symbol, Ticker.id],
        where=where,
        after=after,
        limit=limit,
        options=[selectinload(Ticker.aliases)],  # type: ignore[arg-type]
    )


async def to_reads(session: AsyncSession, tickers: list[Ticker], *, now: datetime) -> list[TickerRead]:
    stats = await visible_counts(
        await session.connection(), by="ticker_id", ids=[ticker.id for ticker in tickers if ticker.id], now=now
    )
    reads = []
    for ticker in tickers:
        count, latest = stats.get(ticker.id or 0, (0, None))
        values = ticker.model_dump() | {
            "aliases": [alias.alias for alias in ticker.aliases],
            "article_count": count,
            "latest_article_at": latest,
        }
        reads.append(TickerRead.model_validate(values))
    return reads


async def _check_free(
    session: AsyncSession, symbols: list[str], *, ticker_id: int | None
) -> None:
    taken = await TickerRepository(session).taken_symbols(symbols, except_ticker_id=ticker_id)
    if taken:
        raise Conflict(f"Already used by another ticker: {', '.join(sorted(taken))}.")


async def create_ticker(session: AsyncSession, *, data: TickerCreate) -> Ticker:
    aliases = sorted(set(data.aliases) - {data.symbol})
    await _check_free(session, [data.symbol, *aliases], ticker_id=None)
    ticker = Ticker(
        symbol=data.symbol, name=data.name, asset_class=data.asset_class, exchange=data.exchange
    )
    ticker.aliases = [TickerAlias(alias=alias) for alias in aliases]
    return await TickerRepository(session).add(ticker)


async def update_ticker(session: AsyncSession, ticker: Ticker, *, data: TickerUpdate) -> Ticker:
    changes = changes_of(data)
    before = state_of(ticker, parts=[alias.alias for alias in ticker.aliases])
    aliases = changes.pop("aliases", None)
    if aliases is not None:
        wanted = sorted(set(aliases) - {ticker.symbol})
        await _check_free(session, wanted, ticker_id=ticker.id)
        kept = [alias for alias in ticker.aliases if alias.alias in wanted]
        existing = {alias.alias for alias in kept}
        ticker.aliases = kept + [TickerAlias(alias=a) for a in wanted if a not in existing]
    for name, value in changes.items():
        setattr(ticker, name, value)
    after = state_of(ticker, parts=[alias.alias for alias in ticker.aliases])
    await save_changes(session, ticker, before=before, after=after, now=utcnow())
    return ticker


async def delete_ticker(session: AsyncSession, ticker: Ticker) -> None:
    repository = TickerRepository(session)
    if await repository.is_linked_to_articles(ticker):
        raise Conflict("Articles are tagged with this ticker; untag them first.")
    await repository.delete(ticker)
