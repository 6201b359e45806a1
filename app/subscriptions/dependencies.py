from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.db import SessionDep
from app.models import Subscriber
from app.problems import Unauthorized
from app.ratelimit import RateLimiter
from app.subscriptions import service, tokens

subscriber_bearer = HTTPBearer(
    auto_error=False, scheme_name="ManageToken", description="The subscriber's manage token."
)
TokenQuery = Annotated[
    str | None,
    Query(
        max_length=128,
        description="The token, for links in mail; `Authorization: Bearer` works too.",
    ),
]


def get_rate_limiter(request: Request) -> RateLimiter:
    return request.app.state.rate_limiter


Limiter = Annotated[RateLimiter, Depends(get_rate_limiter)]


async def subscriber_from_token(
    request: Request,
    session: SessionDep,
    credentials: HTTPAuthorizationCredentials | None,
    token: str | None,
    purposes: tuple[str, ...],
) -> Subscriber:
    given = credentials.credentials if credentials else token
    if not given:
        raise Unauthorized("Send the manage token as `Authorization: Bearer <token>` or `?token=`.")
    secret = request.app.state.settings.secret_key
    return await service.authenticate(
        session, given, secret=secret, purposes=purposes, now=request.app.state.clock()
    )


async def managing_subscriber(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(subscriber_bearer)],
    token: TokenQuery = None,
) -> Subscriber:
    return await subscriber_from_token(request, session, credentials, token, (tokens.MANAGE,))


ManagingSubscriber = Annotated[Subscriber, Depends(managing_subscriber)]
