"""Who the reader is: a session token as `Authorization: Bearer trs_…`."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api_keys import service as keys_service
from app.api_keys.scopes import Scope
from app.caching.http import PUBLIC, Audience
from app.db import SessionDep, read_session
from app.models import ApiKey, Reader
from app.problems import Forbidden, Unauthorized
from app.readers import service
from app.readers.tokens import SESSION_PREFIX

# Read by app.openapi: "required", "optional" or "or_moderator".
READER_SESSION = "reader_session"
reader_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ReaderSession",
    description="A reader's session token from `POST /v1/readers/sign-in/confirm`: `Authorization: Bearer trs_…`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(reader_bearer)]
SIGN_IN_FIRST = "Sign in first: send the session token as `Authorization: Bearer <session_token>`."
BAD_SESSION = "The session token is not valid, has expired or was revoked; sign in again."


def _given(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is None and "authorization" in request.headers:
        raise Unauthorized(SIGN_IN_FIRST)
    return credentials.credentials if credentials else None


async def current_reader(request: Request, session: SessionDep, credentials: Credentials) -> Reader:
    token = _given(request, credentials)
    if token is None:
        raise Unauthorized(SIGN_IN_FIRST)
    reader = await service.authenticate(session, token, now=request.app.state.clock())
    if reader is None:
        raise Unauthorized(BAD_SESSION)
    return reader


async def optional_reader(request: Request, credentials: Credentials) -> Reader | None:
    """The signed-in reader, or None for an anonymous call; a token sent but wrong is a 401.
    Looked up in a session of its own, so an anonymous read opens none."""
    token = _given(request, credentials)
    if token is None:
        return None
    async with read_session(request) as session:
        reader = await service.authenticate(session, token, now=request.app.state.clock())
    if reader is None:
        raise Unauthorized(BAD_SESSION)
    return reader


async def reader_audience(reader: Annotated[Reader | None, Depends(optional_reader)]) -> Audience:
    """A signed-in reader sees their own pending comments: a private answer, never shared."""
    return PUBLIC if reader is None else Audience(variant=f"reader:{reader.id}", private=True)


async def reader_or_moderator(request: Request, session: SessionDep, credentials: Credentials) -> Reader | ApiKey:
    """A reader's session, or an API key with `comments:moderate`."""
    token = _given(request, credentials)
    if token is None:
        raise Unauthorized("Send a reader session token or a moderator's API key as `Authorization: Bearer …`.")
    if token.startswith(SESSION_PREFIX):
        return await current_reader(request, session, credentials)
    api_key = await keys_service.authenticate(session, token)
    if api_key is None:
        raise Unauthorized("The API key is not valid or has been revoked.")
    if not keys_service.grants(api_key, Scope.COMMENTS_MODERATE):
        raise Forbidden(f"This operation needs the `{Scope.COMMENTS_MODERATE}` scope.")
    return api_key


current_reader.reader_session = "required"  # type: ignore[attr-defined]
optional_reader.reader_session = "optional"  # type: ignore[attr-defined]
reader_or_moderator.reader_session = "or_moderator"  # type: ignore[attr-defined]
CurrentReader = Annotated[Reader, Depends(current_reader)]
OptionalReader = Annotated[Reader | None, Depends(optional_reader)]
ReaderOrModerator = Annotated[Reader | ApiKey, Depends(reader_or_moderator)]
