"""Authentication by `Authorization: Bearer <key>` and scope checks for routes."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api_keys import service
from app.api_keys.scopes import Scope
from app.db import read_session
from app.models import ApiKey
from app.problems import Forbidden, Unauthorized

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer tfk_…`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def optional_api_key(request: Request, credentials: Credentials) -> ApiKey | None:
    """The caller's key, or None for an anonymous call. A key that is sent but wrong is a 401,
    never a silent downgrade to anonymous. Looked up in a session of its own, so an
    anonymous read opens none."""
    if credentials is None:
        # HTTPBearer ignores other schemes and an empty token; they are still credentials sent.
        if "authorization" in request.headers:
            raise Unauthorized("Send the API key as `Authorization: Bearer <key>`.")
        return None
    async with read_session(request) as session:
        api_key = await service.authenticate(session, credentials.credentials)
    if api_key is None:
        raise Unauthorized("The API key is not valid or has been revoked.")
    return api_key


OptionalApiKey = Annotated[ApiKey | None, Depends(optional_api_key)]


def require_scope(scope: Scope) -> Callable[..., Awaitable[ApiKey]]:
    async def dependency(api_key: OptionalApiKey) -> ApiKey:
        if api_key is None:
            raise Unauthorized("This operation needs an API key: `Authorization: Bearer <key>`.")
        if not service.grants(api_key, scope):
            raise Forbidden(f"This operation needs the `{scope}` scope.")
        return api_key

    # Read by app.openapi: a route with this dependency declares the bearer scheme.
    dependency.required_scope = scope  # type: ignore[attr-defined]
    return dependency


ContentWriter = Annotated[ApiKey, Depends(require_scope(Scope.CONTENT_WRITE))]
Admin = Annotated[ApiKey, Depends(require_scope(Scope.ADMIN))]
