"""Subscriber tokens, each good for one purpose.

- Confirmation: random, stored only as a SHA-256 hash, single-use, expiring.
- Manage and unsubscribe: `<subscriber id>.<HMAC>` over the purpose, the id and the
  subscriber's nonce, keyed by the settings secret. Nothing to store, so every mail can
  carry one; replacing the nonce revokes them all; a database leak alone forges none.
"""

import base64
import hashlib
import hmac
import re
import secrets

MANAGE = "manage"
UNSUBSCRIBE = "unsubscribe"
# Subscriber ids are 32-bit: a larger id is no subscriber's, and PostgreSQL would refuse it.
SIGNED_TOKEN = re.compile(r"^([1-9][0-9]{0,9})\.([A-Za-z0-9_-]{32})$")
MAX_ID = 2**31 - 1


def new_confirmation_token() -> tuple[str, str]:
    """The token for the mail and the hash for the database."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_nonce() -> str:
    return secrets.token_hex(16)


def _mac(secret: str, purpose: str, subscriber_id: int, nonce: str) -> str:
    key = hashlib.sha256(b"subscriber-token:" + secret.encode()).digest()
    digest = hmac.new(key, f"{purpose}:{subscriber_id}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def sign(secret: str, purpose: str, subscriber_id: int, nonce: str) -> str:
    return f"{subscriber_id}.{_mac(secret, purpose, subscriber_id, nonce)}"


def subscriber_id_of(token: str) -> int | None:
    """The id a signed token claims; check it with `verify` before believing it."""
    match = SIGNED_TOKEN.match(token)
    if match is None:
        return None
    subscriber_id = int(match.group(1))
    return subscriber_id if subscriber_id <= MAX_ID else None


def verify(secret: str, purpose: str, token: str, subscriber_id: int, nonce: str) -> bool:
    return hmac.compare_digest(token, sign(secret, purpose, subscriber_id, nonce))
