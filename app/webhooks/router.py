from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api_keys.dependencies import Admin
from app.caching.http import NO_STORE, http_cache
from app.db import SessionDep
from app.dependencies import JSON_BODY
from app.models import WebhookEndpoint
from app.pagination import Page, PageParams, filter_scope, keyset_page, parse_int
from app.problems import problem_responses
from app.webhooks import service
from app.webhooks.fanout import message_id
from app.webhooks.schemas import Delivery, TestEventQueued, WebhookCreate, WebhookCreated, WebhookRead, WebhookUpdate

router = APIRouter(prefix="/v1/webhooks", tags=["Webhooks"], dependencies=[http_cache(NO_STORE)])
WRITE_PROBLEMS = problem_responses(400, 401, 403, 404, 413, 415, 422)


async def webhook_by_id(
    session: SessionDep, _admin: Admin, webhook_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> WebhookEndpoint:
    return await service.get_webhook(session, webhook_id)


Endpoint = Annotated[WebhookEndpoint, Depends(webhook_by_id)]


async def read(session: SessionDep, endpoint: WebhookEndpoint) -> dict[str, Any]:
    return service.representation(endpoint, await service.symbols_of(session, [endpoint]))


@router.post(
    "", summary="Create a webhook endpoint", status_code=201, response_model=WebhookCreated,
    responses=problem_responses(400, 401, 403, 413, 415, 422), dependencies=[JSON_BODY],
)
async def create_webhook(
    request: Request, response: Response, session: SessionDep, _admin: Admin, data: WebhookCreate
) -> Any:
    """Registers a URL for the events chosen; the response is the only place its signing secret appears."""
    state = request.app.state
    endpoint, secret = await service.create_webhook(
        session, data=data, settings=state.settings, resolver=state.webhook_resolver, now=state.clock()
    )
    response.headers["Location"] = f"/v1/webhooks/{endpoint.id}"
    return await read(session, endpoint) | {"secret": secret}


@router.get(
    "", summary="List webhook endpoints", response_model=Page[WebhookRead],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_webhooks(request: Request, response: Response, session: SessionDep, _admin: Admin, page: PageParams) -> Any:
    """Every endpoint by id, disabled ones included; secrets are never shown again."""
    endpoints, next_cursor = await keyset_page(
        request, response, page, scope=filter_scope("webhooks"), parsers=(parse_int,),
        fetch=lambda after, limit: service.list_webhooks(session, after=after, limit=limit),
        key_of=lambda endpoint: [endpoint.id],
    )
    symbols = await service.symbols_of(session, endpoints)
    return {"items": [service.representation(endpoint, symbols) for endpoint in endpoints], "next_cursor": next_cursor}


@router.get(
    "/{webhook_id}", summary="Get a webhook endpoint", response_model=WebhookRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_webhook(session: SessionDep, endpoint: Endpoint) -> Any:
    """One endpoint: its events, tickers, and whether (and why) it is disabled."""
    return await read(session, endpoint)


@router.patch(
    "/{webhook_id}", summary="Update a webhook endpoint", response_model=WebhookRead,
    responses=WRITE_PROBLEMS, dependencies=[JSON_BODY],
)
async def update_webhook(request: Request, session: SessionDep, endpoint: Endpoint, data: WebhookUpdate) -> Any:
    """Changes the fields sent; `enabled: true` enables a disabled endpoint again."""
    state = request.app.state
    updated = await service.update_webhook(
        session, endpoint, data=data, settings=state.settings, resolver=state.webhook_resolver, now=state.clock()
    )
    return await read(session, updated)


@router.delete(
    "/{webhook_id}", summary="Delete a webhook endpoint", status_code=204,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_webhook(session: SessionDep, endpoint: Endpoint) -> None:
    """Deletes the endpoint with its pending events and deliveries log."""
    await service.delete_webhook(session, endpoint)


@router.get(
    "/{webhook_id}/deliveries", summary="List a webhook endpoint's deliveries", response_model=Page[Delivery],
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def list_webhook_deliveries(
    request: Request, response: Response, session: SessionDep, endpoint: Endpoint, page: PageParams
) -> Any:
    """Every attempt at the endpoint's events, newest first: status code or error, duration, next retry."""
    items, next_cursor = await keyset_page(
        request, response, page, scope=filter_scope("webhook-deliveries", endpoint=endpoint.id), parsers=(parse_int,),
        fetch=lambda after, limit: service.list_deliveries(session, endpoint, after=after, limit=limit),
        key_of=lambda item: [item["id"]],
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/{webhook_id}/test", summary="Send a test event to a webhook endpoint", status_code=202,
    response_model=TestEventQueued, responses=problem_responses(401, 403, 404, 409, 422),
)
async def test_webhook(request: Request, session: SessionDep, endpoint: Endpoint) -> Any:
    """Queues a `webhook.test` ping, delivered after the endpoint's waiting events."""
    event = await service.queue_test(session, endpoint, now=request.app.state.clock())
    return {"event_id": message_id(event.id), "type": event.type}
