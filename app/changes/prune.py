"""Dropping old changes (`tickerfeed changes prune`, after `CHANGES_RETENTION_DAYS`).

A change older than the retention goes unless it is what a mirror starting from the first
page needs: the latest change of an article that is visible (its `article.published` or
`article.updated`). Tombstones, unpublishes and superseded changes go. A mirror whose
cursor is before the newest change dropped might have missed one: its next poll is a 410
telling it to resync (`change_log_head.pruned_seq`).
"""

from datetime import datetime

from sqlalchemy import Connection, delete, exists, func, select, update

from app.changes.log import HEAD_ID, change, head, lock_head
from app.changes.transitions import WITH_DETAIL
from app.models.webhook import WebhookEndpoint

endpoint = WebhookEndpoint.__table__  # type: ignore[attr-defined]


def prune_changes(connection: Connection, *, before: datetime) -> int:
    """Drops the changes that occurred before `before` and no mirror needs; how many."""
    lock_head(connection)
    later = change.alias("later")
    superseded = exists().where(later.c.article_id == change.c.article_id, later.c.seq > change.c.seq)
    droppable = (change.c.occurred_at < before) & (superseded | change.c.type.not_in(WITH_DETAIL))
    # Nor a change some enabled webhook endpoint has yet to make its event from (its
    # deliverer was down for longer than the retention): it would never hear of it.
    fanned_out = connection.execute(select(func.min(endpoint.c.fanout_seq)).where(endpoint.c.enabled)).scalar()
    if fanned_out is not None:
        droppable &= change.c.seq <= fanned_out
    newest = connection.execute(select(func.max(change.c.seq)).where(droppable)).scalar()
    if newest is None:
        return 0
    # The tickers of each change go with it (ON DELETE CASCADE).
    dropped = connection.execute(delete(change).where(change.c.seq <= newest, droppable)).rowcount
    statement = update(head).where(head.c.id == HEAD_ID, head.c.pruned_seq < newest).values(pruned_seq=newest)
    connection.execute(statement)
    return dropped
