"""Reading /v1/changes as a partner does: page after page until an empty one."""

from typing import Any

import httpx

MAX_PAGES = 1000


async def poll(
    client: httpx.AsyncClient, headers: dict[str, str], cursor: str | None = None, **params: Any
) -> tuple[list[dict[str, Any]], str]:
    """Every change after `cursor` up to an empty page, and the cursor to poll with next."""
    changes: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        query = params | ({"cursor": cursor} if cursor else {})
        response = await client.get("/v1/changes", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["next_cursor"], page
        cursor = page["next_cursor"]
        if not page["items"]:
            return changes, cursor
        changes.extend(page["items"])
    raise AssertionError("the changes never ran out")


def apply(mirror: dict[int, dict[str, Any]], changes: list[dict[str, Any]]) -> None:
    """What a mirror does with each change, in order: keep the detail, or drop the article."""
    for change in changes:
        if change["type"] in ("article.published", "article.updated"):
            mirror[change["article_id"]] = change["article"]
        else:
            mirror.pop(change["article_id"], None)
