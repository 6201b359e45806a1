from collections.abc import Iterable, Sequence

from sqlalchemy.orm import selectinload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import ArticleTicker, Ticker, TickerAlias


class TickerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def base_statement(self):  # type: ignore[no-untyped-def]
        return select(Ticker).options(selectinload(Ticker.aliases))  # type: ignore[arg-type]

    async def resolve_many(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        """Maps each upper-case symbol or alias that names a ticker to that ticker."""
        wanted = {symbol.upper() for symbol in symbols}
        if not wanted:
            return {}
        direct = await self.session.exec(self.base_statement().where(col(Ticker.symbol).in_(wanted)))
        found = {ticker.symbol: ticker for ticker in direct.all()}
        if not wanted - found.keys():
            return found  # every name was a symbol: no alias look-up round trip
        by_alias = await self.session.exec(
            self.base_statement()
            .join(TickerAlias, col(TickerAlias.ticker_id) == Ticker.id)
            .where(col(TickerAlias.alias).in_(wanted - found.keys()))
        )
        for ticker in by_alias.unique().all():
            for alias in ticker.aliases:
                if alias.alias in wanted:
                    found[alias.alias] = ticker
        return found

    async def taken_symbols(self, symbols: Sequence[str], *, except_ticker_id: int | None) -> set[str]:
        """Those of `symbols` already used as a symbol or alias by another ticker."""
        found = await self.resolve_many(symbols)
        return {symbol for symbol, ticker in found.items() if ticker.id != except_ticker_id}

    async def is_linked_to_articles(self, ticker: Ticker) -> bool:
        statement = select(ArticleTicker.article_id).where(ArticleTicker.ticker_id == ticker.id)
        return (await self.session.exec(statement.limit(1))).first() is not None

    async def add(self, ticker: Ticker) -> Ticker:
        self.session.add(ticker)
        await self.session.flush()
        return ticker

    async def delete(self, ticker: Ticker) -> None:
        await self.session.delete(ticker)
        await self.session.flush()
