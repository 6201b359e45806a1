"""The OpenAPI document as generated clients read it (issue 11): committed and current,
`security: []` on public operations, named schemas for every body, and what the spec says
about inputs is what the server does."""

import re
from typing import Any

import pytest
import pytest_asyncio

from app.openapi_document import DOCUMENT_PATH, current_document
from tests.factories import create_author, create_ticker
from tests.helpers import PROBLEM_JSON, assert_validation_error

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Operations that answer anonymously; the rest must name the scheme they need.
KEYED = {
    "createArticle", "updateArticle", "deleteArticle", "createAuthor", "updateAuthor", "deleteAuthor",
    "createTicker", "updateTicker", "deleteTicker", "createTag", "createNewsletter",
    "listSubscribers", "exportSubscribers", "listApiKeys", "createApiKey", "revokeApiKey", "listChanges",
    "createWebhook", "listWebhooks", "getWebhook", "updateWebhook", "deleteWebhook", "listWebhookDeliveries",
    "testWebhook",
    "listCommentsToModerate", "banReader", "linkReaderToAuthor",
}
SUBSCRIBER_TOKEN = {"getMySubscription", "updateMySubscription", "unsubscribe", "checkUnsubscribeLink"}
READER_SESSION = {
    "createComment", "deleteComment", "reportComment", "signOut", "getMyReader", "updateMyReader", "eraseMyReader",
}
READER_OR_MODERATOR = {"updateComment"}
METHODS = {"get", "post", "put", "patch", "delete"}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def bodies(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, media type object) of every request and response body."""
    found = []
    for method, path, operation in operations(document):
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
            found.append((f"{method} {path} request {media_type}", content))
        for status, response in operation["responses"].items():
            for media_type, content in response.get("content", {}).items():
                found.append((f"{method} {path} {status} {media_type}", content))
    return found


@pytest_asyncio.fixture(loop_scope="session")
async def document(client) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


class TestCommittedDocument:
    async def test_is_current(self):
        assert DOCUMENT_PATH.read_text(encoding="utf-8") == current_document(), (
            "docs/openapi.json differs from what the app serves: run `make openapi` and commit it"
        )


class TestSecurity:
    async def test_public_operations_declare_an_empty_requirement_list(self, document):
        for method, path, operation in operations(document):
            if operation["operationId"] not in KEYED | SUBSCRIBER_TOKEN | READER_SESSION | READER_OR_MODERATOR:
                # An explicit `[]`: openapi-python-client 0.29 then accepts the anonymous Client.
                assert operation["security"] == [], f"{method} {path}"
                assert "Public" in operation["description"], f"{method} {path}"

    async def test_keyed_operations_declare_their_scheme_and_scope(self, document):
        for method, path, operation in operations(document):
            if operation["operationId"] in KEYED:
                assert operation["security"] == [{"HTTPBearer": []}], f"{method} {path}"
                assert "scope" in operation["description"], f"{method} {path}"
                assert {"401", "403"} <= operation["responses"].keys(), f"{method} {path}"
            if operation["operationId"] in SUBSCRIBER_TOKEN:
                assert operation["security"] == [{"ManageToken": []}], f"{method} {path}"
            if operation["operationId"] in READER_SESSION:
                assert operation["security"] == [{"ReaderSession": []}], f"{method} {path}"
                assert "reader session" in operation["description"], f"{method} {path}"
            if operation["operationId"] in READER_OR_MODERATOR:
                assert operation["security"] == [{"ReaderSession": []}, {"HTTPBearer": []}], f"{method} {path}"

    async def test_says_what_a_key_adds_where_it_adds_something(self, document):
        article = document["paths"]["/v1/articles/{slug}"]["get"]
        feed = document["paths"]["/feeds/articles.{fmt}"]["get"]

        assert "drafts" in article["description"] and "content:write" in article["description"]
        assert "full text" in feed["description"] and "feeds:full" in feed["description"]


class TestSchemas:
    async def test_every_body_is_a_named_component(self, document):
        components = document["components"]["schemas"]
        for where, content in bodies(document):
            reference = content.get("schema", {}).get("$ref", "")
            assert reference.startswith("#/components/schemas/"), where
            assert reference.rsplit("/", 1)[1] in components, where

    async def test_every_operation_documents_the_problems_middleware_can_answer(self, document):
        for method, path, operation in operations(document):
            for status in ("400", "413", "414", "500"):
                response = operation["responses"][status]
                assert list(response["content"]) == [PROBLEM_JSON], f"{method} {path} {status}"

    async def test_rate_limited_operations_document_retry_after(self, document):
        for path, method in [("/v1/articles", "get"), ("/v1/subscriptions", "post")]:
            assert "Retry-After" in document["paths"][path][method]["responses"]["429"]["headers"]

    async def test_declares_tags_servers_license_and_contact(self, document):
        used = {tag for _, _, operation in operations(document) for tag in operation["tags"]}

        assert used == {tag["name"] for tag in document["tags"]}
        assert all(tag["description"] for tag in document["tags"])
        assert document["servers"] == [{"url": "/", "description": "The API root on the host serving this document."}]
        assert {"license", "contact", "description"} <= document["info"].keys()

    async def test_describes_formats_the_server_validates(self, document):
        schemas = document["components"]["schemas"]
        edition = document["paths"]["/v1/newsletters/{slug}/editions/{day}"]["get"]
        day = next(p for p in edition["parameters"] if p["name"] == "day")

        assert schemas["SubscriptionRequest"]["properties"]["email"]["format"] == "email"
        assert day["schema"]["format"] == "date"
        assert schemas["NewsletterCreate"]["properties"]["send_hour"]["type"] == "integer"


class TestTextPatterns:
    """Found by schemathesis (issue 11): text fields refused control characters, and a name
    of spaces only, that the spec allowed. The spec's patterns now say so."""

    @pytest.mark.parametrize(
        ("schema", "field", "accepted", "refused"),
        [
            ("TagCreate", "name", ["Earnings", " AI "], ["", "   ", "a\bb", "a\nb", "a\x7f"]),
            ("ArticleCreate", "body_markdown", ["# Hi\n\n\tsee $NVDA\r\n"], ["a\x00b", "a\x0bb"]),
        ],
    )
    async def test_say_what_the_server_refuses(self, document, client, writer, schema, field, accepted, refused):
        pattern = document["components"]["schemas"][schema]["properties"][field]["pattern"]

        assert [bool(re.search(pattern, value)) for value in accepted] == [True] * len(accepted)
        assert [bool(re.search(pattern, value)) for value in refused] == [False] * len(refused)
        if schema == "TagCreate":
            for value in refused:
                response = await client.post("/v1/tags", headers=writer, json={"slug": "t", "name": value})
                assert_validation_error(response, ["body", "name"])


class TestNullability:
    """A field the spec marks nullable accepts `null`; the others refuse it."""

    @staticmethod
    def nullable(schema: dict[str, Any]) -> bool:
        return any(option.get("type") == "null" for option in schema.get("anyOf", []))

    async def test_marks_only_clearable_patch_fields_nullable(self, document):
        schemas = document["components"]["schemas"]
        clearable = {
            "TickerUpdate": {"exchange"},
            "AuthorUpdate": {"avatar_url", "audience", "disclosure"},
            "ArticleUpdate": {"published_at", "hero_image", "editorial_review"},
            "PreferencesUpdate": set(),
        }
        for name, fields in clearable.items():
            properties = schemas[name]["properties"]
            assert {field for field, schema in properties.items() if self.nullable(schema)} == fields, name
            assert all("default" not in schema for schema in properties.values()), name

    async def test_server_agrees_for_tickers_and_authors(self, client, session, writer):
        ticker = await create_ticker(session, "NVDA")
        author = await create_author(session)

        for path, field in [(f"/v1/tickers/{ticker.symbol}", "asset_class"), (f"/v1/authors/{author.slug}", "kind"),
                            (f"/v1/authors/{author.slug}", "links")]:
            assert_validation_error(await client.patch(path, headers=writer, json={field: None}), ["body", field])
        response = await client.patch(f"/v1/tickers/{ticker.symbol}", headers=writer, json={"exchange": None})
        assert response.status_code == 200
