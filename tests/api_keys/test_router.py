"""/v1/api-keys: creating (shown once), listing and revoking keys, admin only."""

import hashlib

import pytest
from sqlmodel import select

from app.api_keys.scopes import Scope
from app.models import ApiKey
from tests.conftest import bearer
from tests.factories import create_author
from tests.helpers import (
    ANY_ID,
    ANY_TIMESTAMP,
    assert_problem,
    assert_validation_error,
    problem,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


class TestCreateApiKey:
    async def test_shows_the_key_once_and_stores_only_its_hash(self, client, session, admin):
        response = await client.post(
            "/v1/api-keys", headers=admin, json={"name": "CMS", "scopes": ["content:write"]}
        )

        assert response.status_code == 201
        body = response.json()
        key = body["key"]
        assert body == {
            "id": ANY_ID,
            "name": "CMS",
            "prefix": key[:10],
            "scopes": ["content:write"],
            "created_at": ANY_TIMESTAMP,
            "revoked_at": None,
            "key": key,
        }
        assert key.startswith("tfk_") and len(key) >= 40
        stored = (await session.exec(select(ApiKey).where(ApiKey.id == body["id"]))).one()
        assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert key not in str(stored.model_dump())
        listed = (await client.get("/v1/api-keys", headers=admin)).text
        assert key not in listed

    async def test_makes_a_key_that_works_for_its_scope(self, client, session, admin):
        key = (await client.post("/v1/api-keys", headers=admin, json={"name": "CMS", "scopes": ["content:write"]})).json()["key"]

        response = await client.post(
            "/v1/authors", headers={"Authorization": f"Bearer {key}"}, json={"name": "New Writer", "kind": "human"}
        )

        assert response.status_code == 201
        assert (await client.get("/v1/api-keys", headers={"Authorization": f"Bearer {key}"})).status_code == 403

    async def test_makes_different_keys_each_time(self, client, admin):
        first = (await client.post("/v1/api-keys", headers=admin, json={"name": "a", "scopes": ["admin"]})).json()
        second = (await client.post("/v1/api-keys", headers=admin, json={"name": "a", "scopes": ["admin"]})).json()

        assert first["key"] != second["key"]

    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            ({"name": "x", "scopes": []}, ["body", "scopes"]),
            ({"name": "x", "scopes": ["root"]}, ["body", "scopes", 0]),
            ({"name": "", "scopes": ["admin"]}, ["body", "name"]),
            ({"name": "x" * 101, "scopes": ["admin"]}, ["body", "name"]),
            ({"name": "nul\u0000", "scopes": ["admin"]}, ["body", "name"]),
            ({"name": "x", "scopes": ["admin"], "expires_at": "2030-01-01T00:00:00Z"}, ["body", "expires_at"]),
        ],
    )
    async def test_refuses_invalid_fields(self, client, admin, body, loc):
        assert_validation_error(await client.post("/v1/api-keys", headers=admin, json=body), loc)

    async def test_refuses_a_body_that_is_not_json(self, client, admin):
        response = await client.post(
            "/v1/api-keys", headers=admin | {"Content-Type": "text/plain"}, content='{"name": "x", "scopes": ["admin"]}'
        )

        assert_problem(response, problem(415, "unsupported-media-type", "Send the body as `application/json`."))


class TestListApiKeys:
    async def test_lists_keys_in_the_list_envelope(self, client, admin):
        response = await client.get("/v1/api-keys", headers=admin)

        assert response.json() == {"items": [
            {"id": ANY_ID, "name": "test", "prefix": response.json()["items"][0]["prefix"],
             "scopes": ["admin"], "created_at": ANY_TIMESTAMP, "revoked_at": None},
        ], "next_cursor": None}

    async def test_lists_every_key_without_the_key_itself(self, client, session, admin):
        await bearer(session, Scope.CONTENT_WRITE, Scope.SUBSCRIBERS_READ)

        response = await client.get("/v1/api-keys", headers=admin)

        assert response.status_code == 200
        items = response.json()["items"]
        assert [(item["name"], item["scopes"]) for item in items] == [
            ("test", ["admin"]),
            ("test", ["content:write", "subscribers:read"]),
        ]
        assert all("key" not in item and "key_hash" not in item for item in items)


class TestRevokeApiKey:
    async def test_revoked_key_is_refused_at_once(self, client, session, admin):
        created = (await client.post("/v1/api-keys", headers=admin, json={"name": "CMS", "scopes": ["content:write"]})).json()
        headers = {"Authorization": f"Bearer {created['key']}"}
        author = await create_author(session)
        assert (await client.patch(f"/v1/authors/{author.slug}", headers=headers, json={"bio": "x"})).status_code == 200

        response = await client.delete(f"/v1/api-keys/{created['id']}", headers=admin)

        assert response.status_code == 204
        assert_problem(
            await client.patch(f"/v1/authors/{author.slug}", headers=headers, json={"bio": "y"}),
            problem(401, "unauthorized", "The API key is not valid or has been revoked."),
        )
        items = (await client.get("/v1/api-keys", headers=admin)).json()["items"]
        assert [item["revoked_at"] for item in items if item["id"] == created["id"]] == [ANY_TIMESTAMP]

    async def test_revoking_twice_is_harmless(self, client, admin):
        created = (await client.post("/v1/api-keys", headers=admin, json={"name": "x", "scopes": ["admin"]})).json()

        assert (await client.delete(f"/v1/api-keys/{created['id']}", headers=admin)).status_code == 204
        assert (await client.delete(f"/v1/api-keys/{created['id']}", headers=admin)).status_code == 204

    async def test_is_404_for_unknown_id(self, client, admin):
        assert_problem(
            await client.delete("/v1/api-keys/999999", headers=admin),
            problem(404, "not-found", "No API key with id 999999."),
        )

    @pytest.mark.parametrize("key_id", ["0", "abc", "99999999999"])
    async def test_refuses_malformed_ids(self, client, admin, key_id):
        assert_validation_error(await client.delete(f"/v1/api-keys/{key_id}", headers=admin), ["path", "key_id"])


ADMIN_OPERATIONS = [
    ("GET", "/v1/api-keys", None),
    ("POST", "/v1/api-keys", {"name": "x", "scopes": ["admin"]}),
    ("DELETE", "/v1/api-keys/1", None),
]


class TestApiKeysAuthorization:
    @pytest.mark.parametrize(("method", "url", "body"), ADMIN_OPERATIONS)
    async def test_needs_a_key(self, client, method, url, body):
        response = await client.request(method, url, json=body)

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="tickerfeed"'

    @pytest.mark.parametrize(("method", "url", "body"), ADMIN_OPERATIONS)
    async def test_refuses_an_editor_key(self, client, writer, method, url, body):
        response = await client.request(method, url, json=body, headers=writer)

        assert_problem(response, problem(403, "forbidden", "This operation needs the `admin` scope."))
