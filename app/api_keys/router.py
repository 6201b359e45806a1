from fastapi import APIRouter, Path

from app.api_keys import service
from app.api_keys.dependencies import Admin
from app.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from app.db import SessionDep
from app.dependencies import JSON_BODY
from app.problems import problem_responses

router = APIRouter(prefix="/v1/api-keys", tags=["API keys"])
AUTH_PROBLEMS = problem_responses(401, 403)


@router.get("", summary="List API keys", response_model=list[ApiKeyRead], responses=AUTH_PROBLEMS)
async def list_api_keys(session: SessionDep, _admin: Admin) -> list[ApiKeyRead]:
    """Every key, revoked ones included; the keys themselves are never shown again."""
    return [ApiKeyRead.model_validate(key, from_attributes=True) for key in await service.list_keys(session)]


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
