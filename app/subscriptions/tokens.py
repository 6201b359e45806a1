"""Subscriber tokens, each good for one purpose.

- Confirmation: an HMAC, keyed by the settings secret, of a random seed stored with it;
  single-use, expiring. The database holds the seed and the token's SHA-256 hash (to find
  it), and the outbox only the token's id: the link is minted when its mail is sent, so a
  database leak alone confirms no one (issue 10, item 8).
- Manage and unsubscribe: an HMAC over the purpose, the id and the subscriber's nonce,
  keyed by the settings secret. Nothing to store, so every mail can carry one; replacing
  the nonce revokes them all; a database leak alone forges none. A manage token,
  `<subscriber id>.<expiry, Unix seconds>.<HMAC>`, also signs its expiry and is minted per
  mail (issue 10, item 5); an unsubscribe token, `<subscriber id>.<HMAC>`, does not expire,
  so the RFC 8058 link of any mail ever sent keeps working.
"""

import base64
import hashlib
import hmac
import re
import secrets

MANAGE = "manage"
UNSUBSCRIBE = "unsubscribe"
# Subscriber ids are 32-bit: a larger id is no subscriber's, and PostgreSQL would refuse it.
SIGNED_TOKEN = re.compile(r"^([1-9][0-9]{0,9})(?:\.([1-9][0-9]{0,10}))?\.([A-Za-z0-9_-]{32})$")
EXPIRING = frozenset({MANAGE})
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


def _mac(secret: str, message: str) -> str:
    digest = hmac.new(_key(secret), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def sign(
    secret: str, purpose: str, subscriber_id: int, nonce: str, *, expires: int | None = None
) -> str:
    """`expires` (Unix seconds) is required for the purposes in EXPIRING, refused for others."""
    if (expires is None) == (purpose in EXPIRING):
        raise ValueError(f"a {purpose} token {'needs' if expires is None else 'takes no'} expiry")
    if expires is None:
        return f"{subscriber_id}.{_mac(secret, f'{purpose}:{subscriber_id}:{nonce}')}"
    claims = f"{subscriber_id}.{expires}"
    return f"{claims}.{_mac(secret, f'{purpose}:{subscriber_id}:{nonce}:{expires}')}"


def subscriber_id_of(token: str) -> int | None:
    """The id a signed token claims; check it with `verify` before believing it."""
    match = SIGNED_TOKEN.match(token)
    if match is None:
        return None
    subscriber_id = int(match.group(1))
    return subscriber_id if subscriber_id <= MAX_ID else None


def verify(
    secret: str, purpose: str, token: str, subscriber_id: int, nonce: str, *, now: float
) -> bool:
    """Signed for this purpose, subscriber and nonce, and not expired at `now` (Unix seconds)."""
    match = SIGNED_TOKEN.match(token)
    if match is None or (match.group(2) is None) == (purpose in EXPIRING):
        return False
    expires = None if match.group(2) is None else int(match.group(2))
    if expires is not None and expires <= now:
        return False
    expected = sign(secret, purpose, subscriber_id, nonce, expires=expires)
    return hmac.compare_digest(token, expected)
