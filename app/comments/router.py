"""An article's comments: read them (public), write them (reader session), moderate them
(`comments:moderate`)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from app.api_keys.dependencies import require_scope
from app.api_keys.scopes import Scope
from app.articles.router import ArticleSlug
from app.caching.http import LIST, NO_STORE, conclude, http_cache
from app.caching.keys import article_key, comments_key
from app.caching.state import read_state
from app.clients import ClientDep
from app.comments import queries, service
from app.comments.schemas import (
    CommentCreate,
    CommentItem,
    CommentUpdate,
    ModerationItem,
    ReportAccepted,
    ReportCreate,
)
from app.db import ReadConnection, SessionDep
from app.dependencies import JSON_BODY, get_clock
from app.models import Comment, Reader
from app.pagination import Page, PageParams, filter_scope, keyset_page, parse_datetime, parse_int
from app.problems import InvalidFields, NotFound, problem_responses
from app.readers.dependencies import CurrentReader, OptionalReader, ReaderOrModerator, reader_audience
from app.responses import json_response
from app.subscriptions.dependencies import Limiter

router = APIRouter(tags=["Comments"])
Clock = Annotated[datetime, Depends(get_clock)]
CommentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Sort = Annotated[Literal["oldest", "newest"], Query(description="`oldest` (default) or `newest` first.")]
THREAD_KEY = [parse_datetime, parse_int]
WRITE_PROBLEMS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)


async def _thread_article(connection: AsyncConnection, slug: str, now: datetime) -> int:
    """The id of a visible article; a 404 otherwise (a draft's thread is nobody's business)."""
    article_id = await queries.visible_article_id(connection, slug, now=now)
    if article_id is None:
        raise NotFound(f"No article with slug '{slug}'.")
    return article_id


async def _thread_page(
    request: Request, response: Response, connection: AsyncConnection, page: Any, *,
    article_id: int, parent_id: int | None, viewer: Reader | None, newest_first: bool, now: datetime,
) -> Response:
    # The state first: a write landing between the two reads makes the validators older
    # than the rows, never newer, so no client keeps a stale copy.
    state = await read_state(connection, (article_key(article_id), comments_key(article_id)), now=now)
    conclude(request, response, state.with_marker(None))
    viewer_id = viewer.id if viewer is not None else None
    scope = filter_scope("comments", article=article_id, parent=parent_id, newest=newest_first, viewer=viewer_id)

    async def fetch(after: list[Any] | None, limit: int) -> list[dict[str, Any]]:
        return await queries.read_thread(
            connection, article_id=article_id, parent_id=parent_id, viewer_id=viewer_id,
            newest_first=newest_first, after=after, limit=limit,
        )

    rows, next_cursor = await keyset_page(
        request, response, page, scope=scope, parsers=THREAD_KEY, fetch=fetch, key_of=queries.comment_key
    )
    return json_response(response, {"items": [queries.item(row) for row in rows], "next_cursor": next_cursor})


@router.get(
    "/v1/articles/{slug}/comments",
    dependencies=[http_cache(LIST, reader_audience)],
    summary="List an article's comments",
    response_model=Page[CommentItem],
    responses=problem_responses(400, 401, 404, 422),
)
async def list_article_comments(
    request: Request, response: Response, viewer: OptionalReader, connection: ReadConnection, slug: ArticleSlug,
    page: PageParams, now: Clock, sort: Sort = "oldest",
) -> Any:
    """The approved top-level comments, with their reply counts. With a reader's session,
    that reader's own pending comments too (nobody else sees them). A deleted comment
    that has replies keeps its place as `deleted`, without text or name."""
    article_id = await _thread_article(connection, slug, now)
    return await _thread_page(
        request, response, connection, page, article_id=article_id, parent_id=None, viewer=viewer,
        newest_first=sort == "newest", now=now,
    )


@router.get(
    "/v1/comments/{comment_id}/replies",
    dependencies=[http_cache(LIST, reader_audience)],
    summary="List a comment's replies",
    response_model=Page[CommentItem],
    responses=problem_responses(400, 401, 404, 422),
)
async def list_comment_replies(
    request: Request, response: Response, viewer: OptionalReader, connection: ReadConnection, comment_id: CommentId,
    page: PageParams, now: Clock, sort: Sort = "oldest",
) -> Any:
    """Approved replies to a top-level comment (one level: replies have no replies)."""
    found = await queries.reply_target(connection, comment_id)
    if found is None:
        raise NotFound("No such comment.")
    await _thread_article(connection, found.slug, now)
    return await _thread_page(
        request, response, connection, page, article_id=found.article_id, parent_id=comment_id,
        viewer=viewer, newest_first=sort == "newest", now=now,
    )


def _item(comment: Comment, reader: Reader) -> CommentItem:
    values = queries.item(comment.model_dump() | {"display_name": reader.display_name})
    return CommentItem.model_validate(values)


@router.post(
    "/v1/articles/{slug}/comments",
    dependencies=[http_cache(NO_STORE), JSON_BODY],
    summary="Comment on an article",
    status_code=201,
    response_model=CommentItem,
    responses=WRITE_PROBLEMS,
)
async def create_comment(
    request: Request, response: Response, session: SessionDep, slug: ArticleSlug, data: CommentCreate,
    reader: CurrentReader, client: ClientDep, limiter: Limiter, now: Clock,
) -> CommentItem:
    """Posts a comment (or, with `parent_id`, a reply). It is `approved` at once for a
    trusted reader, else `pending` until a moderator approves it; the spam check may hold
    it. Needs a display name; a closed thread is a 409."""
    settings = request.app.state.settings
    await limiter.hit(settings.rate_limit_comment_per_reader, "comment:reader", str(reader.id))
    await limiter.hit(settings.rate_limit_comment_per_client, "comment:client", client.rate_limit_key)
    article = await service.visible_article(session, slug, now=now)
    comment = await service.post_comment(
        session, article, reader, body_markdown=data.body_markdown, parent_id=data.parent_id,
        settings=settings, now=now,
    )
    response.headers["Location"] = f"/v1/comments/{comment.id}"
    return _item(comment, reader)


@router.patch(
    "/v1/comments/{comment_id}",
    dependencies=[http_cache(NO_STORE), JSON_BODY],
    summary="Edit or moderate a comment",
    response_model=CommentItem,
    responses=WRITE_PROBLEMS,
)
async def update_comment(
    request: Request, session: SessionDep, comment_id: CommentId, data: CommentUpdate,
    actor: ReaderOrModerator, now: Clock,
) -> CommentItem:
    """With a reader's session: `body_markdown` of their own comment, within 15 minutes of
    posting (`edited_at` shows it). With a `comments:moderate` key: `status` (`approved`,
    `rejected` or `spam`), which also settles the comment's open reports."""
    comment = await service.get_comment(session, comment_id)
    sent = data.model_fields_set
    if isinstance(actor, Reader):
        if sent != {"body_markdown"}:
            raise InvalidFields.one(["body"], "a reader sends `body_markdown` only")
        await service.edit_comment(
            session, comment, actor, body_markdown=data.body_markdown, settings=request.app.state.settings, now=now
        )
    else:
        if sent != {"status"}:
            raise InvalidFields.one(["body"], "a moderator sends `status` only")
        await service.moderate(session, comment, status=data.status, now=now)
    author = await session.get_one(Reader, comment.reader_id)
    return _item(comment, author)


@router.delete(
    "/v1/comments/{comment_id}",
    dependencies=[http_cache(NO_STORE)],
    summary="Delete my comment",
    status_code=204,
    responses=problem_responses(401, 404, 422),
)
async def delete_comment(session: SessionDep, comment_id: CommentId, reader: CurrentReader, now: Clock) -> None:
    """Removes the reader's own comment: its text goes; it stays as `deleted` only while
    replies hang from it."""
    comment = await service.get_comment(session, comment_id)
    await service.delete_comment(session, comment, reader, now=now)


@router.post(
    "/v1/comments/{comment_id}/reports",
    dependencies=[http_cache(NO_STORE), JSON_BODY],
    summary="Report a comment",
    status_code=202,
    response_model=ReportAccepted,
    responses=WRITE_PROBLEMS,
)
async def report_comment(
    request: Request, session: SessionDep, comment_id: CommentId, data: ReportCreate,
    reader: CurrentReader, limiter: Limiter, now: Clock,
) -> ReportAccepted:
    """Puts the comment in the moderators' `reported` queue; one report per reader counts."""
    await limiter.hit(request.app.state.settings.rate_limit_report_per_reader, "report:reader", str(reader.id))
    comment = await service.get_comment(session, comment_id)
    await service.report_comment(session, comment, reader, reason=data.reason, now=now)
    return ReportAccepted()


@router.get(
    "/v1/comments",
    dependencies=[http_cache(NO_STORE), Depends(require_scope(Scope.COMMENTS_MODERATE))],
    summary="List comments to moderate",
    response_model=Page[ModerationItem],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_comments_to_moderate(
    request: Request, response: Response, connection: ReadConnection, page: PageParams,
    status: Annotated[Literal["pending", "reported", "spam"], Query(description="The queue.")] = "pending",
) -> Any:
    """A moderation queue, oldest first: `pending` (waiting for approval), `reported`
    (approved or pending with open reports) or `spam`. With text, article and reader."""

    async def fetch(after: list[Any] | None, limit: int) -> list[dict[str, Any]]:
        return await queries.read_queue(connection, queue=status, after=after, limit=limit)

    rows, next_cursor = await keyset_page(
        request, response, page, scope=filter_scope("moderation", status=status), parsers=[parse_int],
        fetch=fetch, key_of=lambda row: [row["id"]],
    )
    return json_response(response, {"items": [queries.moderation_item(row) for row in rows], "next_cursor": next_cursor})
