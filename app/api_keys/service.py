"""API keys: random, shown once, stored as a SHA-256 hash, revocable.

A key has 256 bits of randomness, so a fast hash is enough: there is nothing to
brute-force that a slow password hash would protect.
"""

import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys.repository import ApiKeyRepository
from app.api_keys.scopes import Scope
from app.db import utcnow
from app.keyset import ascending_page
from app.models import ApiKey
from app.problems import NotFound

KEY_PREFIX = "tfk_"


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def grants(api_key: ApiKey, scope: Scope) -> bool:
    return Scope.ADMIN in api_key.scopes or scope in api_key.scopes


async def create_key(
    session: AsyncSession, *, name: str, scopes: Iterable[Scope]
) -> tuple[ApiKey, str]:
    """Returns the stored key and its plaintext, which is never available again."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        name=name,
        prefix=plaintext[: len(KEY_PREFIX) + 6],
        key_hash=hash_key(plaintext),
        scopes=sorted({str(scope) for scope in scopes}),
    )
    return await ApiKeyRepository(session).add(api_key), plaintext


async def authenticate(session: AsyncSession, plaintext: str) -> ApiKey | None:
    if not plaintext.startswith(KEY_PREFIX) or len(plaintext) > 128:
        return None
    api_key = await ApiKeyRepository(session).get_by_hash(hash_key(plaintext))
    if api_key is None or api_key.revoked_at is not None:
        return None
    return api_key


async def list_keys(
    session: AsyncSession, *, after: list[Any] | None = None, limit: int | None = None
) -> list[ApiKey]:
    """Keys by id, after the key `after` names; all of them when `limit` is None."""
    return await ascending_page(session, ApiKey, key=[ApiKey.id], after=after, limit=limit)


async def revoke_key(session: AsyncSession, *, key_id: int) -> ApiKey:
    api_key = await ApiKeyRepository(session).get(key_id)
    if api_key is None:
        raise NotFound(f"No API key with id {key_id}.")
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        api_key.updated_at = api_key.revoked_at
        await session.flush()
    return api_key
