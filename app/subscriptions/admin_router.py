"""The subscriber list for admins and exports (scope `subscribers:read`)."""

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys.dependencies import require_scope
from app.api_keys.scopes import Scope
from app.db import SessionDep
from app.fields import Slug
from app.models import ApiKey
from app.openapi import schema_ref
from app.pagination import Page, PageParams, filter_scope, keyset_page, parse_int
from app.problems import problem_responses
from app.subscriptions import service
from app.subscriptions.schemas import SubscriberRead, SubscriberStatus
from app.subscriptions.views import to_admin_read
from app.caching.http import NO_STORE, http_cache

# Personal data, every answer: no cache (proxy, CDN, browser history) may keep a copy.
router = APIRouter(
    prefix="/v1/subscribers", tags=["Subscribers"], dependencies=[http_cache(NO_STORE)]
)
SubscribersReader = Annotated[ApiKey, Depends(require_scope(Scope.SUBSCRIBERS_READ))]
EXPORT_BATCH = 500
CSV_COLUMNS = [
    "id",
    "email",
    "status",
    "newsletters",
    "tickers",
    "authors",
    "requested_at",
    "requested_from",
    "confirmed_at",
    "confirmed_from",
    "unsubscribed_at",
    "consent_version",
]


class SubscriberFilters:
    def __init__(
        self,
        status: Annotated[SubscriberStatus | None, Query()] = None,
        newsletter: Annotated[
            Slug | None, Query(max_length=64, description="Newsletter slug.")
        ] = None,
    ) -> None:
        self.status = status
        self.newsletter = newsletter

    async def newsletter_id(self, session: AsyncSession) -> int | None:
        from app.newsletters import service as newsletters_service

        if self.newsletter is None:
            return None
        found = await newsletters_service.require_newsletters(
            session, [self.newsletter], loc=["query", "newsletter"]
        )
        return found[0].id


Filters = Annotated[SubscriberFilters, Depends()]


@router.get(
    "",
    summary="List subscribers",
    response_model=Page[SubscriberRead],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_subscribers(
    request: Request,
    response: Response,
    session: SessionDep,
    _reader: SubscribersReader,
    filters: Filters,
    page: PageParams,
) -> Page[SubscriberRead]:
    """Every subscriber with status, preferences and consent record, oldest first."""
    newsletter_id = await filters.newsletter_id(session)
    rows, next_cursor = await keyset_page(
        request,
        response,
        page,
        scope=filter_scope("subscribers", status=filters.status, newsletter=filters.newsletter),
        parsers=(parse_int,),
        fetch=lambda after, limit: service.list_subscribers(
            session, status=filters.status, newsletter_id=newsletter_id, after=after, limit=limit
        ),
        key_of=lambda row: [row.id],
    )
    return Page[SubscriberRead](items=[to_admin_read(row) for row in rows], next_cursor=next_cursor)


def _cell(value: object) -> str:
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    # Spreadsheets run cells starting with these as formulas (OWASP "CSV injection").
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _row(item: SubscriberRead) -> list[str]:
    values = item.model_dump() | item.consent.model_dump()
    for name in ("newsletters", "tickers", "authors"):
        values[name] = " ".join(values[name])
    return [_cell(values[column]) for column in CSV_COLUMNS]


async def _csv_lines(
    sessionmaker: async_sessionmaker[AsyncSession], status: str | None, newsletter_id: int | None
) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    after: list[int] | None = None
    while True:
        # A session per batch: the request's own session is closed once streaming starts.
        async with sessionmaker() as session:
            rows = await service.list_subscribers(
                session, status=status, newsletter_id=newsletter_id, after=after, limit=EXPORT_BATCH
            )
            for row in rows:
                writer.writerow(_row(to_admin_read(row)))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < EXPORT_BATCH:
            return
        after = [rows[-1].id]  # type: ignore[list-item]


@router.get(
    "/export",
    summary="Export subscribers as CSV",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {"schema": schema_ref("SubscribersCsv")}}, "description": "RFC 4180 CSV with a header row."},
        **problem_responses(401, 403, 422),
    },
)
async def export_subscribers(
    request: Request,
    response: Response,
    session: SessionDep,
    _reader: SubscribersReader,
    filters: Filters,
) -> StreamingResponse:
    """The whole filtered list as one CSV download."""
    newsletter_id = await filters.newsletter_id(session)
    # A returned response does not get the dependencies' headers (the router's no-store).
    return StreamingResponse(
        _csv_lines(request.app.state.sessionmaker, filters.status, newsletter_id),
        media_type="text/csv; charset=utf-8",
        headers={name: value for name, value in response.headers.items() if name != "content-length"}
        | {"Content-Disposition": 'attachment; filename="subscribers.csv"'},
    )
