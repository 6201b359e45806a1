"""Who reads a feed: anyone gets summaries, a `feeds:full` key gets full text."""

from typing import Annotated

from fastapi import Query, Request

from app.api_keys import service as keys_service
from app.api_keys.dependencies import OptionalApiKey
from app.api_keys.scopes import Scope
from app.caching.http import PUBLIC, Audience
from app.db import read_session
from app.problems import Forbidden, Unauthorized

# Full text is licensed to one partner: private, so no shared cache keeps it.
FULL_TEXT = Audience(variant="feeds:full", private=True)

PartnerKey = Annotated[
    str | None,
    Query(
        max_length=128,
        description="A partner key with scope `feeds:full` for full text. Feed readers "
        "cannot send headers, so the key goes in the URL; `Authorization: Bearer` works too. "
        "In the URL only a key whose one scope is `feeds:full` is accepted (403 otherwise).",
    ),
]


# A URL reaches access logs, proxies and browser history: the key it carries must be able
# to do nothing but read feeds (issue 10, item 5). Keys with more go in the header.
URL_KEY_SCOPES = [Scope.FEEDS_FULL]


async def feed_audience(request: Request, bearer_key: OptionalApiKey, key: PartnerKey = None) -> Audience:
    """A bad key is a 401 and a key without the scope a 403, never a silent downgrade."""
    if key is None and bearer_key is None:
        return PUBLIC
    api_key = bearer_key
    if key is not None:
        async with read_session(request) as session:
            api_key = await keys_service.authenticate(session, key)
        if api_key is None:
            raise Unauthorized("The feed key is not valid or has been revoked.")
        if api_key.scopes != URL_KEY_SCOPES:
            raise Forbidden(
                "Only a key whose one scope is `feeds:full` may be sent in the URL; "
                "send this key as `Authorization: Bearer <key>`."
            )
    assert api_key is not None
    if not keys_service.grants(api_key, Scope.FEEDS_FULL):
        raise Forbidden("Full-text feeds need a key with the `feeds:full` scope.")
    return FULL_TEXT
