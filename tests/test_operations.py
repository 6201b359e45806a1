"""Health, readiness, CORS and the OpenAPI description."""

import re
import socket
import threading
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from app.main import create_app
from app.settings import Settings
from tests.helpers import PROBLEM_JSON, assert_problem, problem

pytestmark = pytest.mark.asyncio(loop_scope="session")

CAMEL_CASE = re.compile(r"^[a-z]+(?:[A-Z][a-z0-9]*)+$|^[a-z]+$")
CONTRACT_OPERATIONS = {
    "listArticles", "getArticle", "listRelatedArticles", "createArticle", "updateArticle", "deleteArticle",
    "listAuthors", "getAuthor", "listAuthorArticles", "createAuthor", "updateAuthor", "deleteAuthor",
    "listTickers", "getTicker", "listTickerArticles", "createTicker", "updateTicker", "deleteTicker",
    "listTags", "getTag", "listTagArticles", "createTag",
    "listApiKeys", "createApiKey", "revokeApiKey",
    "checkHealth", "checkReadiness",
}
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable_database_urls(tmp_path: Path) -> list[str]:
    return [
        f"sqlite+aiosqlite:///{tmp_path / 'no-such-directory' / 'db.sqlite'}",
        f"postgresql+asyncpg://postgres@127.0.0.1:{unused_port()}/nothing",
    ]


# Writes a reader makes without an API key: subscribing, confirming, one-click unsubscribe.
PUBLIC_WRITES = {
    "/v1/subscriptions", "/v1/subscriptions/confirm", "/v1/subscriptions/unsubscribe",
    "/v1/readers/sign-in", "/v1/readers/sign-in/confirm",
}

class TestCheckHealth:
    async def test_answers_ok(self, client):
        response = await client.get("/healthz")

        assert (response.status_code, response.json()) == (200, {"status": "ok"})


class TestCheckReadiness:
    async def test_is_ready_when_the_database_answers(self, client):
        response = await client.get("/readyz")

        assert (response.status_code, response.json()) == (200, {"status": "ready"})

    async def test_is_a_503_problem_while_draining(self, client, monkeypatch):
        """On SIGTERM the server drains first (app/serving.py): a load balancer stops sending."""
        draining = threading.Event()
        draining.set()
        monkeypatch.setattr("app.operations.DRAINING", draining)

        ready = await client.get("/readyz")
        alive = await client.get("/healthz")

        assert_problem(ready, problem(503, "not-ready", "The server is shutting down."))
        assert alive.status_code == 200

    @pytest.mark.parametrize("backend", [0, 1], ids=["sqlite", "postgresql"])
    async def test_is_a_503_problem_when_the_database_does_not_answer(self, tmp_path, backend):
        settings = Settings(
            environment="test",
            secret_key="test-secret",
            database_url=unreachable_database_urls(tmp_path)[backend],
            load_demo_content=False,
            _env_file=None,  # type: ignore[call-arg]
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                ready = await client.get("/readyz")
                alive = await client.get("/healthz")

        assert_problem(ready, problem(503, "not-ready", "The database does not answer."))
        assert alive.status_code == 200


class TestCors:
    async def test_answers_a_preflight_from_an_allowed_origin(self, client):
        response = await client.options(
            "/v1/articles",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type",
            },
        )

        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        assert "POST" in response.headers["access-control-allow-methods"]
        assert "authorization" in response.headers["access-control-allow-headers"].lower()

    async def test_exposes_headers_clients_need(self, client):
        response = await client.get("/v1/articles", headers={"Origin": "https://app.example"})

        assert response.headers["access-control-allow-origin"] == "https://app.example"
        exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
        assert {"link", "location", "x-request-id", "etag", "retry-after"} <= exposed

    async def test_ignores_other_origins(self, client):
        response = await client.get("/v1/articles", headers={"Origin": "https://evil.example"})

        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers


class TestOpenApi:
    @pytest_asyncio.fixture(loop_scope="session")
    async def document(self, client):
        response = await client.get("/openapi.json")
        assert response.status_code == 200
        return response.json()

    @staticmethod
    def operations(document):
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if method in HTTP_METHODS:
                    yield path, method, operation

    async def test_is_openapi_3_1(self, document):
        assert document["openapi"].startswith("3.1")

    async def test_names_every_contract_operation_once(self, document):
        ids = [operation["operationId"] for _, _, operation in self.operations(document)]

        assert len(ids) == len(set(ids))
        assert CONTRACT_OPERATIONS <= set(ids)

    async def test_gives_every_operation_a_camel_case_id_a_tag_and_a_summary(self, document):
        for path, method, operation in self.operations(document):
            where = f"{method.upper()} {path}"
            assert CAMEL_CASE.match(operation["operationId"]), where
            assert operation.get("tags"), where
            assert operation.get("summary"), where

    async def test_documents_error_responses_as_problem_documents(self, document):
        for path, method, operation in self.operations(document):
            where = f"{method.upper()} {path}"
            errors = {code: r for code, r in operation["responses"].items() if code[0] in "45"}
            assert errors, f"{where} documents no error response"
            for code, response in errors.items():
                assert list(response["content"]) == [PROBLEM_JSON], (where, code)
            if operation.get("parameters"):
                assert "422" in errors, where
            if "{" in path:
                assert "404" in errors, where
            if operation.get("requestBody"):
                assert {"400", "413", "415", "422"} <= errors.keys(), where
            if operation.get("security"):
                assert "401" in errors, where

    async def test_validation_problems_name_their_schema(self, document):
        response = document["paths"]["/v1/articles"]["get"]["responses"]["422"]
        schema = response["content"][PROBLEM_JSON]["schema"]

        assert schema == {"$ref": "#/components/schemas/ValidationProblemDocument"}
        fields = document["components"]["schemas"]["ValidationProblemDocument"]["properties"]
        assert {"type", "title", "status", "detail", "errors"} <= fields.keys()

    async def test_declares_bearer_auth_on_writes(self, document):
        for path, method, operation in self.operations(document):
            if method in {"post", "patch", "delete"} and path not in PUBLIC_WRITES:
                assert operation.get("security"), f"{method.upper()} {path}"
