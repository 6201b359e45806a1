"""A subscriber's choices: newsletters, followed tickers and followed authors."""

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import (
    Author,
    ConfirmationToken,
    Newsletter,
    Subscriber,
    SubscriberAuthor,
    SubscriberNewsletter,
    SubscriberTicker,
    Ticker,
)
from app.authors import service as authors_service


async def resolve(
    session: AsyncSession,
    *,
    newsletters: Sequence[str] | None,
    tickers: Sequence[str] | None,
    authors: Sequence[str] | None,
) -> tuple[list[Newsletter] | None, list[Ticker] | None, list[Author] | None]:
    from app.newsletters import service as newsletters_service
    from app.tickers import service as tickers_service

    return (
        None
        if newsletters is None
        else await newsletters_service.require_newsletters(
            session, newsletters, loc=["body", "newsletters"]
        ),
        None
        if tickers is None
        else await tickers_service.require_symbols(session, list(tickers), loc=["body", "tickers"]),
        None
        if authors is None
        else await authors_service.require_authors(session, authors, loc=["body", "authors"]),
    )


Chosen = tuple[list[Newsletter], list[Ticker], list[Author]]


async def requested_with(session: AsyncSession, token: ConfirmationToken) -> Chosen:
    """What the request behind a confirmation token asked for; whatever was deleted since
    is left out."""

    async def rows(model: type[Newsletter] | type[Ticker] | type[Author], ids: list[int]) -> list:  # type: ignore[type-arg]
        if not ids:
            return []
        return list((await session.exec(select(model).where(col(model.id).in_(ids)))).all())

    return (
        await rows(Newsletter, token.newsletter_ids),
        await rows(Ticker, token.ticker_ids),
        await rows(Author, token.author_ids),
    )


def apply(
    subscriber: Subscriber,
    newsletters: list[Newsletter] | None,
    tickers: list[Ticker] | None,
    authors: list[Author] | None,
) -> None:
    # Existing link rows are kept rather than deleted and re-added under the same key in one flush.
    if newsletters is not None:
        kept = {link.newsletter_id: link for link in subscriber.newsletter_links}
        subscriber.newsletter_links = [
            kept.get(n.id) or SubscriberNewsletter(newsletter_id=n.id, newsletter=n)  # type: ignore[arg-type]
            for n in newsletters
        ]
    if tickers is not None:
        kept_t = {link.ticker_id: link for link in subscriber.ticker_links}
        subscriber.ticker_links = [
            kept_t.get(t.id) or SubscriberTicker(ticker_id=t.id, ticker=t)  # type: ignore[arg-type]
            for t in tickers
        ]
    if authors is not None:
        kept_a = {link.author_id: link for link in subscriber.author_links}
        subscriber.author_links = [
            kept_a.get(a.id) or SubscriberAuthor(author_id=a.id, author=a)  # type: ignore[arg-type]
            for a in authors
        ]
