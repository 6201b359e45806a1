"""Subscriber tokens, each good for one purpose.

- Confirmation: an HMAC, keyed by the settings secret, of a random seed stored with it;
  single-use, expiring. The database holds the seed and the token's SHA-256 hash (to find
  it), and the outbox only the token's id: the link is minted when its mail is sent, so a
  database leak alone confirms no one (issue 10, item 8).
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


def new_seed() -> str:
    return secrets.token_hex(32)


def confirmation_token(secret: str, seed: str) -> str:
    digest = hmac.new(_key(secret), f"confirmation:{seed}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_nonce() -> str:
    return secrets.token_hex(16)


def _key(secret: str) -> bytes:
    return hashlib.sha256(b"subscriber-token:" + secret.encode()).digest()


def _mac(secret: str, purpose: str, subscriber_id: int, nonce: str) -> str:
    digest = hmac.new(_key(secret), f"{purpose}:{subscriber_id}:{nonce}".encode(), hashlib.sha256).digest()
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
