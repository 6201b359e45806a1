from fastapi import APIRouter, Path, Request, Response

from app.api_keys import service
from app.api_keys.dependencies import Admin
from app.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from app.caching.http import NO_STORE, http_cache
from app.db import SessionDep
from app.dependencies import JSON_BODY
from app.pagination import Page, PageParams, filter_scope, keyset_page, parse_int
from app.problems import problem_responses

router = APIRouter(prefix="/v1/api-keys", tags=["API keys"])


@router.get(
    "", summary="List API keys", response_model=Page[ApiKeyRead],
    responses=problem_responses(400, 401, 403, 422), dependencies=[http_cache(NO_STORE)],
)
async def list_api_keys(
    request: Request, response: Response, session: SessionDep, _admin: Admin, page: PageParams
) -> Page[ApiKeyRead]:
    """Every key by id, revoked ones included; the keys themselves are never shown again."""
    keys, next_cursor = await keyset_page(
        request,
        response,
        page,
        scope=filter_scope("api-keys"),
        parsers=(parse_int,),
        fetch=lambda after, limit: service.list_keys(session, after=after, limit=limit),
        key_of=lambda api_key: [api_key.id],
    )
    items = [ApiKeyRead.model_validate(key, from_attributes=True) for key in keys]
    return Page[ApiKeyRead](items=items, next_cursor=next_cursor)


@router.post(
    "",
    summary="Create an API key",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=problem_responses(400, 401, 403, 413, 415, 422),
    dependencies=[JSON_BODY],
)
async def create_api_key(session: SessionDep, _admin: Admin, data: ApiKeyCreate) -> ApiKeyCreated:
    """Creates a key; the response is the only place its plaintext ever appears."""
    api_key, plaintext = await service.create_key(session, name=data.name, scopes=data.scopes)
    read = ApiKeyRead.model_validate(api_key, from_attributes=True)
    return ApiKeyCreated(**read.model_dump(), key=plaintext)


@router.delete(
    "/{key_id}",
    summary="Revoke an API key",
    status_code=204,
    responses=problem_responses(401, 403, 404),
)
async def revoke_api_key(
    session: SessionDep, _admin: Admin, key_id: int = Path(ge=1, le=2**31 - 1)
) -> None:
    """Revokes a key at once; revoking twice is harmless."""
    await service.revoke_key(session, key_id=key_id)
