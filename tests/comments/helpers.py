from typing import Any

import httpx


async def post(client: httpx.AsyncClient, slug: str, headers: dict[str, str], body: str = "A fair point.", **extra: Any) -> httpx.Response:
    return await client.post(f"/v1/articles/{slug}/comments", json={"body_markdown": body, **extra}, headers=headers)


async def posted(client: httpx.AsyncClient, slug: str, headers: dict[str, str], body: str = "A fair point.", **extra: Any) -> dict[str, Any]:
    response = await post(client, slug, headers, body, **extra)
    assert response.status_code == 201, response.text
    return response.json()


async def moderate(client: httpx.AsyncClient, moderator: dict[str, str], comment_id: int, status: str = "approved") -> dict[str, Any]:
    response = await client.patch(f"/v1/comments/{comment_id}", json={"status": status}, headers=moderator)
    assert response.status_code == 200, response.text
    return response.json()


async def approved(client: httpx.AsyncClient, slug: str, headers: dict[str, str], moderator: dict[str, str], body: str = "A fair point.", **extra: Any) -> dict[str, Any]:
    return await moderate(client, moderator, (await posted(client, slug, headers, body, **extra))["id"])
