"""Reader tokens.

- Sign-in link: an HMAC, keyed by the settings secret, of a random seed stored with it,
  minted when the mail is sent (as subscribers' confirmation links, issue 10 item 8): the
  database and the outbox alone sign no one in. Its SHA-256 finds the row.
- Session: `trs_` and 32 random bytes, handed out once; only its SHA-256 is stored, and
  deleting the row revokes it.
"""

import base64
import hashlib
import hmac
import secrets

SESSION_PREFIX = "trs_"


def new_seed() -> str:
    return secrets.token_hex(32)


def sign_in_token(secret: str, seed: str) -> str:
    key = hashlib.sha256(b"reader-token:" + secret.encode()).digest()
    digest = hmac.new(key, f"sign-in:{seed}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_session_token() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
