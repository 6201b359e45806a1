from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.convertors import PathConvertor, register_url_convertor

from app.api_keys.dependencies import ContentWriter
from app.articles.feed import feed_page, subfeed_filters
from app.articles.schemas import ArticleCard
from app.caching.http import ITEM, LIST, http_cache
from app.caching.keys import CATALOGUE_KEYS
from app.caching.request_key import OPEN_ENDED
from app.db import ReadConnection, SessionDep
from app.dependencies import JSON_BODY, get_clock
from app.fields import SymbolPath, line, symbol_in_path
from app.models import Ticker
from app.pagination import Page, PageParams, filter_scope, keyset_page, parse_int, parse_str
from app.problems import problem_responses
from app.tickers import service
from app.tickers.schemas import AssetClass, TickerCreate, TickerRead, TickerUpdate

router = APIRouter(prefix="/v1/tickers", tags=["Tickers"])
Clock = Annotated[datetime, Depends(get_clock)]
Prefix = line(32, min_length=1)
WRITE_PROBLEMS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 503)


async def ticker_by_symbol(session: SessionDep, symbol: SymbolPath) -> Ticker:
    return await service.get_ticker(session, symbol)


TickerBySymbol = Annotated[Ticker, Depends(ticker_by_symbol)]


@router.get(
    "", summary="List tickers", response_model=Page[TickerRead], responses=problem_responses(400, 422),
    dependencies=[http_cache(LIST, depends_on=CATALOGUE_KEYS)],
)
async def list_tickers(
    request: Request,
    response: Response,
    session: SessionDep,
    page: PageParams,
    now: Clock,
    q: Annotated[Prefix | None, Query(description="Prefix of the symbol or the name."), OPEN_ENDED] = None,  # type: ignore[valid-type]
    asset_class: Annotated[AssetClass | None, Query()] = None,
) -> Page[TickerRead]:
    """Tickers by symbol."""
    tickers, next_cursor = await keyset_page(
        request,
        response,
        page,
        scope=filter_scope("tickers", q=q, asset_class=asset_class),
        parsers=(parse_str, parse_int),
        fetch=lambda after, limit: service.list_tickers(
            session, prefix=q, asset_class=asset_class, after=after, limit=limit
        ),
        key_of=lambda ticker: [ticker.symbol, ticker.id],
    )
    return Page[TickerRead](items=await service.to_reads(session, tickers, now=now), next_cursor=next_cursor)


# Symbols may hold a slash (BRK/B, BTC/USD), which clients send as %2F and Starlette decodes
# before routing, so symbol paths use the `path` converter (the spec still shows a plain
# `{symbol}`). `…/articles` is declared first, or `/{symbol:path}` would take it as a symbol.
# A ticker's own routes use `ticker`, a path that does not end in `/articles`: there only
# GET is routed, and PATCH or DELETE is a 405, not a write to the ticker `X/articles`.
class TickerPathConvertor(PathConvertor):
    regex = r"(?!.*/articles$).*"


register_url_convertor("ticker", TickerPathConvertor())
@router.get(
    "/{symbol:path}/articles",
    dependencies=[http_cache(LIST)],
    summary="List a ticker's articles",
    response_model=Page[ArticleCard],
    responses=problem_responses(400, 404, 422),
)
async def list_ticker_articles(
    request: Request, response: Response, connection: ReadConnection, symbol: SymbolPath, page: PageParams, now: Clock
) -> Any:
    """More on this ticker, newest first, whether it is primary or mentioned."""
    filters = await subfeed_filters(connection, symbol=symbol)
    return await feed_page(request, response, connection, filters=filters, page=page, now=now)


@router.get(
    "/{symbol:ticker}", summary="Get a ticker", response_model=TickerRead, responses=problem_responses(404, 422),
    dependencies=[http_cache(ITEM, depends_on=CATALOGUE_KEYS)],
)
async def get_ticker(session: SessionDep, ticker: TickerBySymbol, now: Clock) -> TickerRead:
    """A ticker by symbol or alias (GOOG finds GOOGL), case-insensitively."""
    return (await service.to_reads(session, [ticker], now=now))[0]


@router.post(
    "", summary="Create a ticker", status_code=201, response_model=TickerRead,
    responses=WRITE_PROBLEMS, dependencies=[JSON_BODY],
)
async def create_ticker(
    response: Response, session: SessionDep, _writer: ContentWriter, data: TickerCreate, now: Clock
) -> TickerRead:
    """Adds a ticker; its symbol and aliases must not name another ticker."""
    ticker = await service.create_ticker(session, data=data)
    response.headers["Location"] = f"/v1/tickers/{symbol_in_path(ticker.symbol)}"
    return (await service.to_reads(session, [ticker], now=now))[0]


@router.patch(
    "/{symbol:ticker}", summary="Update a ticker", response_model=TickerRead,
    responses=WRITE_PROBLEMS, dependencies=[JSON_BODY],
)
async def update_ticker(
    session: SessionDep, _writer: ContentWriter, ticker: TickerBySymbol, data: TickerUpdate, now: Clock
) -> TickerRead:
    """Changes the fields sent; `aliases` replaces the list."""
    updated = await service.update_ticker(session, ticker, data=data)
    return (await service.to_reads(session, [updated], now=now))[0]


@router.delete("/{symbol:ticker}", summary="Delete a ticker", status_code=204, responses=problem_responses(401, 403, 404, 409, 422, 503))
async def delete_ticker(session: SessionDep, _writer: ContentWriter, ticker: TickerBySymbol) -> None:
    """Deletes a ticker no article is tagged with; otherwise a 409."""
    await service.delete_ticker(session, ticker)
