from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from app.api_keys.dependencies import require_scope
from app.api_keys.scopes import Scope
from app.caching.http import NO_STORE, http_cache
from app.changes import service
from app.changes.schemas import ChangePage
from app.db import ReadConnection
from app.dependencies import get_clock
from app.fields import CarriedTickers
from app.models import ApiKey
from app.pagination import PageParams
from app.problems import problem_responses
from app.responses import json_response

router = APIRouter(prefix="/v1/changes", tags=["Changes"])
FeedsReader = Annotated[ApiKey, Depends(require_scope(Scope.FEEDS_FULL))]


@router.get(
    "",
    # Never stored nor revalidated: a poll must see the changes committed a moment ago.
    dependencies=[http_cache(NO_STORE)],
    summary="List changes",
    response_model=ChangePage,
    responses=problem_responses(400, 401, 403, 410, 422),
)
async def list_changes(
    request: Request,
    response: Response,
    # Before the connection: the key is looked up, and its connection given back, first; a
    # request holding one pooled connection while it waits for another can wait for itself.
    _reader: FeedsReader,
    connection: ReadConnection,
    page: PageParams,
    now: Annotated[datetime, Depends(get_clock)],
    ticker: CarriedTickers = [],  # noqa: B006  (FastAPI copies defaults per request)
) -> Any:
    """Every visibility change of an article, oldest first, to mirror the catalogue: apply
    them in `seq` order. An empty page means up to date: poll again with the same
    `next_cursor`. A cursor from before pruned changes is a 410: resync."""
    body = await service.changes_page(request, response, connection, page=page, symbols=ticker, now=now)
    return json_response(response, body)
