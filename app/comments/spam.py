"""The spam check a comment passes before it is stored, beyond the rate limits.

Three signals, each cheap (one indexed query at most) and each explainable to a moderator
through `held_for`:

- `repeated_text`: the same text (case, spacing and punctuation aside, at least 20
  characters) from the same reader in the last day, or from two other readers in the last
  hour. Copy-paste campaigns look like this; a reader saying "Great piece!" twice does not
  (too short to count). Marked `spam`.
- `new_account_burst`: a reader who signed up in the last day, with no approved comment,
  posting a fourth comment within ten minutes. Marked `spam`.
- `links`: more links than `comment_max_links`. Held as `pending` even for a trusted
  reader: links are what spam is for, and a moderator looks first.

Otherwise a trusted reader (`comment_trust_threshold` approved comments) is `approved`
and anyone else `pending`.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Comment, Reader
from app.settings import Settings

MIN_FINGERPRINT_CHARS = 20
NOT_TEXT = re.compile(r"[\W_]+")
ANCHOR = re.compile(r"<a\s")
BURST_WINDOW = timedelta(minutes=10)
BURST_SIZE = 3
NEW_ACCOUNT = timedelta(days=1)


@dataclass(frozen=True)
class Verdict:
    status: str
    held_for: str | None = None


def fingerprint(markdown: str) -> str | None:
    normalised = NOT_TEXT.sub(" ", markdown.lower()).strip()
    if len(normalised) < MIN_FINGERPRINT_CHARS:
        return None
    return hashlib.sha256(normalised.encode()).hexdigest()


def link_count(html: str) -> int:
    return len(ANCHOR.findall(html))


def is_trusted(reader: Reader, settings: Settings) -> bool:
    return reader.approved_count >= settings.comment_trust_threshold


async def _count(session: AsyncSession, *conditions: object) -> int:
    statement = select(func.count()).select_from(Comment).where(*conditions)  # type: ignore[arg-type]
    return (await session.exec(statement)).one()


async def _repeated(session: AsyncSession, reader_id: int, print_: str, now: datetime) -> bool:
    recent = col(Comment.fingerprint) == print_
    if await _count(session, recent, Comment.reader_id == reader_id, col(Comment.created_at) > now - timedelta(days=1)):
        return True
    others = select(func.count(func.distinct(Comment.reader_id))).where(
        recent, Comment.reader_id != reader_id, col(Comment.created_at) > now - timedelta(hours=1)
    )
    return (await session.exec(others)).one() >= 2


async def verdict(
    session: AsyncSession, *, reader: Reader, markdown: str, html: str, settings: Settings, now: datetime
) -> Verdict:
    assert reader.id is not None
    print_ = fingerprint(markdown)
    if print_ is not None and await _repeated(session, reader.id, print_, now):
        return Verdict("spam", "repeated_text")
    if reader.approved_count == 0 and now - reader.created_at < NEW_ACCOUNT:
        recent = await _count(session, Comment.reader_id == reader.id, col(Comment.created_at) > now - BURST_WINDOW)
        if recent >= BURST_SIZE:
            return Verdict("spam", "new_account_burst")
    if link_count(html) > settings.comment_max_links:
        return Verdict("pending", "links")
    return Verdict("approved" if is_trusted(reader, settings) else "pending")
