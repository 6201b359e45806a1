"""/v1/webhooks: managing endpoints (scope admin), their secrets, validation and SSRF
refusals when an endpoint is saved, the test ping and the deliveries list."""

from typing import Any

import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys.scopes import Scope
from tests.conftest import bearer
from tests.factories import create_ticker
from tests.helpers import ANY_ID, ANY_TIMESTAMP, PROBLEM_JSON, problem
from tests.webhooks.conftest import create_endpoint

pytestmark = pytest.mark.asyncio(loop_scope="session")
URL = "http://127.0.0.1:9/hook"  # loopback: allowed by the tests' WEBHOOKS_ALLOW_PRIVATE_TARGETS


def assert_kind(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == f"/problems/{kind}"


def representation(**fields: Any) -> dict[str, Any]:
    return {
        "id": ANY_ID, "url": URL, "events": ["article.published"], "tickers": [], "description": None,
        "enabled": True, "disabled_at": None, "disabled_reason": None,
        "created_at": ANY_TIMESTAMP, "updated_at": ANY_TIMESTAMP,
    } | fields


class TestCreateWebhook:
    async def test_answers_the_endpoint_with_its_secret_once(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
    ) -> None:
        await create_ticker(session, "NVDA")
        body = {"url": URL, "events": ["article.published"], "tickers": ["nvda"], "description": "Partner A"}
        response = await hooks_client.post("/v1/webhooks", json=body, headers=admin)
        assert response.status_code == 201, response.text
        created = response.json()
        assert created == representation(tickers=["NVDA"], description="Partner A", secret=created["secret"])
        assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
        assert response.headers["Location"] == f"/v1/webhooks/{created['id']}"
        shown = await hooks_client.get(f"/v1/webhooks/{created['id']}", headers=admin)
        assert shown.json() == representation(tickers=["NVDA"], description="Partner A")
        listed = await hooks_client.get("/v1/webhooks", headers=admin)
        assert representation(id=created["id"], tickers=["NVDA"], description="Partner A") in listed.json()["items"]
        assert "whsec_" not in listed.text

    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            ({"url": URL, "events": []}, ["body", "events"]),
            ({"url": URL, "events": ["article.created"]}, ["body", "events", 0]),
            ({"url": URL, "events": ["article.published"], "tickers": ["NOPE"]}, ["body", "tickers", 0]),
            ({"url": URL, "events": ["article.published"], "secret": "mine"}, ["body", "secret"]),
            ({"events": ["article.published"]}, ["body", "url"]),
        ],
    )
    async def test_refuses_invalid_fields(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], loc: list[Any]
    ) -> None:
        response = await hooks_client.post("/v1/webhooks", json=body, headers=admin)
        assert response.status_code == 422, response.text
        assert [error["loc"] for error in response.json()["errors"]] == [loc]

    @pytest.mark.parametrize(
        "url",
        [
            "https://192.0.2.10/hook", "https://203.0.113.7/hook", "https://10.0.0.1/hook",
            "https://169.254.169.254/latest/meta-data/", "https://[::ffff:169.254.169.254]/",
            "https://[fc00::1]/", "https://[fe80::1]/", "https://0.0.0.0/", "https://[::]/", "https://224.0.0.1/",
            "https://100.64.0.1/", "ftp://127.0.0.1/", "https://user:pass@127.0.0.1/", "not a url",
        ],
    )
    async def test_refuses_targets_that_are_not_public(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], url: str
    ) -> None:
        response = await hooks_client.post("/v1/webhooks", json={"url": url, "events": ["article.published"]}, headers=admin)
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert error["loc"] == ["body", "url"] and error["msg"].startswith("refused: the URL "), error

    @pytest.mark.parametrize("url", ["http://127.0.0.1/hook", "https://127.0.0.1/hook", "https://[::1]/", "https://localhost/"])
    async def test_refuses_loopback_and_http_unless_allowed(
        self, client: httpx.AsyncClient, admin: dict[str, str], url: str
    ) -> None:
        response = await client.post("/v1/webhooks", json={"url": url, "events": ["article.published"]}, headers=admin)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["msg"].startswith("refused: the URL ")

    async def test_refuses_a_name_that_resolves_to_a_private_address(
        self, client: httpx.AsyncClient, app: Any, admin: dict[str, str]
    ) -> None:
        async def resolver(host: str, port: int) -> list[str]:
            return {"hooks.partner.test": ["203.0.113.5", "10.1.2.3"]}[host]

        app.state.webhook_resolver = resolver
        body = {"url": "https://hooks.partner.test/in", "events": ["article.published"]}
        response = await client.post("/v1/webhooks", json=body, headers=admin)
        assert response.json()["errors"] == [
            {"loc": ["body", "url"], "msg": "refused: the URL resolves to 203.0.113.5, which is not a public address"}
        ]


class TestAccess:
    @pytest.mark.parametrize(
        ("method", "path"),
        [("POST", "/v1/webhooks"), ("GET", "/v1/webhooks"), ("GET", "/v1/webhooks/1"), ("PATCH", "/v1/webhooks/1"),
         ("DELETE", "/v1/webhooks/1"), ("GET", "/v1/webhooks/1/deliveries"), ("POST", "/v1/webhooks/1/test")],
    )
    async def test_needs_an_admin_key(
        self, hooks_client: httpx.AsyncClient, session: AsyncSession, method: str, path: str
    ) -> None:
        body = {"url": URL, "events": ["article.published"]}
        anonymous = await hooks_client.request(method, path, json=body)
        assert_kind(anonymous, 401, "unauthorized")
        writer = await bearer(session, Scope.CONTENT_WRITE)
        forbidden = await hooks_client.request(method, path, json=body, headers=writer)
        assert forbidden.json() == problem(403, "forbidden", "This operation needs the `admin` scope.")


class TestUpdateWebhook:
    async def test_changes_the_fields_sent(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
    ) -> None:
        await create_ticker(session, "AMD")
        endpoint = await create_endpoint(hooks_client, admin, URL, events=["article.published"])
        changes = {"events": ["article.deleted", "article.updated"], "tickers": ["AMD"], "description": "B"}
        response = await hooks_client.patch(f"/v1/webhooks/{endpoint['id']}", json=changes, headers=admin)
        assert response.json() == representation(
            id=endpoint["id"], events=["article.deleted", "article.updated"], tickers=["AMD"], description="B"
        )

    async def test_disables_and_enables_again(self, hooks_client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        endpoint = await create_endpoint(hooks_client, admin, URL, events=["article.published"])
        path = f"/v1/webhooks/{endpoint['id']}"
        disabled = (await hooks_client.patch(path, json={"enabled": False}, headers=admin)).json()
        assert disabled == representation(
            id=endpoint["id"], enabled=False, disabled_at=ANY_TIMESTAMP, disabled_reason="disabled by an administrator"
        )
        ping = await hooks_client.post(f"{path}/test", headers=admin)
        assert_kind(ping, 409, "conflict")
        enabled = (await hooks_client.patch(path, json={"enabled": True}, headers=admin)).json()
        assert enabled == representation(id=endpoint["id"])

    @pytest.mark.parametrize(
        "body", [{"url": "https://10.0.0.8/"}, {"events": []}, {"events": None}, {"tickers": ["NOPE"]}, {"enabled": "maybe"}]
    )
    async def test_refuses_invalid_fields(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]
    ) -> None:
        endpoint = await create_endpoint(hooks_client, admin, URL)
        response = await hooks_client.patch(f"/v1/webhooks/{endpoint['id']}", json=body, headers=admin)
        assert_kind(response, 422, "validation-error")


class TestDeleteWebhook:
    async def test_deletes_it(self, hooks_client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        endpoint = await create_endpoint(hooks_client, admin, URL)
        path = f"/v1/webhooks/{endpoint['id']}"
        assert (await hooks_client.post(f"{path}/test", headers=admin)).status_code == 202
        assert (await hooks_client.delete(path, headers=admin)).status_code == 204
        for method, suffix in (("GET", ""), ("DELETE", ""), ("PATCH", ""), ("GET", "/deliveries"), ("POST", "/test")):
            response = await hooks_client.request(method, path + suffix, json={}, headers=admin)
            assert response.json() == problem(404, "not-found", f"No webhook endpoint with id {endpoint['id']}.")


class TestTestWebhook:
    async def test_queues_a_ping(self, hooks_client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        endpoint = await create_endpoint(hooks_client, admin, URL)
        response = await hooks_client.post(f"/v1/webhooks/{endpoint['id']}/test", headers=admin)
        assert response.status_code == 202
        assert response.json() == {"event_id": response.json()["event_id"], "type": "webhook.test"}
        assert response.json()["event_id"].startswith("msg_")


class TestListWebhooks:
    async def test_pages_by_cursor(self, hooks_client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        ids = [(await create_endpoint(hooks_client, admin, URL))["id"] for _ in range(3)]
        seen: list[int] = []
        cursor = None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await hooks_client.get("/v1/webhooks", params=params, headers=admin)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(seen) and set(ids) <= set(seen)
        bad = await hooks_client.get("/v1/webhooks", params={"cursor": "abc"}, headers=admin)
        assert_kind(bad, 400, "invalid-cursor")
