"""Every error is an RFC 9457 problem document, and no bad input is ever a 500."""

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from app.articles.repository import ArticleRepository
from app.authors import service as authors_service
from app.authors.schemas import AuthorCreate
from app.db import SessionDep
from tests.factories import create_article, create_author, create_tag, create_ticker
from tests.helpers import (
    ANY_REQUEST_ID,
    PROBLEM_JSON,
    assert_problem,
    assert_validation_error,
    problem,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

WRITES = [
    ("POST", "/v1/articles"),
    ("PATCH", "/v1/articles/some-article"),
    ("POST", "/v1/authors"),
    ("PATCH", "/v1/authors/someone"),
    ("POST", "/v1/tickers"),
    ("PATCH", "/v1/tickers/NVDA"),
    ("POST", "/v1/tags"),
    ("POST", "/v1/api-keys"),
]


class TestMalformedJson:
    @pytest.mark.parametrize(("method", "url"), WRITES)
    async def test_is_a_400_problem(self, client, admin, method, url):
        response = await client.request(
            method, url, headers=admin | {"Content-Type": "application/json"}, content=b'{"title": '
        )

        assert_problem(response, problem(400, "malformed-json", "The request body is not valid JSON."))

    @pytest.mark.parametrize(
        "body",
        [b"[" * 100_000 + b"]" * 100_000, b'{"slug": ' + b"9" * 5000 + b"}"],
        ids=["nested-too-deep", "number-too-long"],
    )
    async def test_json_python_cannot_parse_is_malformed_too(self, client, admin, body):
        response = await client.post(
            "/v1/tags", headers=admin | {"Content-Type": "application/json"}, content=body
        )

        assert_problem(response, problem(400, "malformed-json", "The request body is not valid JSON."))

    async def test_refuses_invalid_utf8(self, client, admin):
        response = await client.post(
            "/v1/tags", headers=admin | {"Content-Type": "application/json"}, content=b'{"slug": "\xff\xfe"}'
        )

        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM_JSON

    async def test_survives_deep_nesting(self, client, admin):
        response = await client.post(
            "/v1/tags", headers=admin | {"Content-Type": "application/json"}, content=b"[" * 200_000
        )

        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM_JSON

    @pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"])
    async def test_refuses_json_that_is_not_an_object(self, client, admin, body):
        response = await client.post("/v1/tags", headers=admin | {"Content-Type": "application/json"}, content=body)

        assert_validation_error(response, ["body"])


class TestUnsupportedMediaType:
    @pytest.mark.parametrize(("method", "url"), WRITES)
    @pytest.mark.parametrize(
        "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
    )
    async def test_refuses_bodies_that_are_not_json(self, client, admin, method, url, content_type):
        headers = dict(admin)
        if content_type:
            headers["Content-Type"] = content_type
        response = await client.request(method, url, headers=headers, content=b'{"name": "x"}')

        assert_problem(response, problem(415, "unsupported-media-type", "Send the body as `application/json`."))

    async def test_accepts_json_with_a_charset_and_json_suffix_types(self, client, writer):
        for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
            response = await client.post(
                "/v1/tags", headers=writer | {"Content-Type": content_type},
                content=json.dumps({"slug": content_type[12:17].strip("/;-+ ").replace("+", ""), "name": "x"}),
            )
            assert response.status_code == 201, response.text


class TestBodyTooLarge:
    async def test_refuses_a_declared_length_over_the_limit(self, client, writer, settings):
        body = b'{"name": "' + b"x" * settings.max_body_bytes + b'"}'

        response = await client.post("/v1/tags", headers=writer | {"Content-Type": "application/json"}, content=body)

        assert_problem(
            response,
            problem(413, "body-too-large", f"The request body exceeds {settings.max_body_bytes} bytes."),
        )

    async def test_refuses_a_chunked_body_over_the_limit(self, client, writer, settings):
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"name": "'
            for _ in range(settings.max_body_bytes // 65536 + 2):
                yield b"x" * 65536
            yield b'"}'

        response = await client.post(
            "/v1/tags", headers=writer | {"Content-Type": "application/json"}, content=chunks()
        )

        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["status"] == 413
        assert response.json()["request_id"] == response.headers["x-request-id"]

    async def test_accepts_a_body_just_under_the_limit(self, client, session, writer, settings):
        author = await create_author(session)
        body = {"title": "Big", "author": author.slug, "body_markdown": "word " * 19_000}

        response = await client.post("/v1/articles", headers=writer, json=body)

        assert response.status_code == 201

    async def test_refuses_a_malformed_content_length(self, client, writer):
        response = await client.post(
            "/v1/tags", headers=writer | {"Content-Type": "application/json", "Content-Length": "12abc"},
            content=b'{"slug": "a"}',
        )

        assert_problem(response, problem(400, "bad-request", "Invalid Content-Length."))


async def asgi_get(app, raw_path: bytes, query_string: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
    """One GET straight through the ASGI app: its status, headers and body."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": raw_path.decode(), "raw_path": raw_path, "root_path": "", "query_string": query_string,
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


class TestUriTooLong:
    async def test_refuses_a_query_string_over_4096_bytes(self, client):
        response = await client.get("/v1/articles?q=" + "a" * 4100)

        assert_problem(response, problem(414, "uri-too-long", "The query string is too long."))

    async def test_accepts_a_query_string_of_4096_bytes(self, client):
        response = await client.get("/v1/articles?" + "x=" + "a" * 4094)

        assert response.status_code == 200

    async def test_refuses_a_path_of_100_kb(self, app):
        # httpx refuses to send a URL over 64 KiB, so the request is handed to the app as
        # uvicorn would hand it over (the server side: tests/test_serving.py).
        status, headers, body = await asgi_get(app, b"/v1/tickers/" + b"A" * 100_000)

        assert status == 414
        assert headers[b"content-type"] == PROBLEM_JSON.encode()
        assert json.loads(body) == problem(414, "uri-too-long", "The path is too long.")

    async def test_refuses_a_path_over_1024_bytes_counted_as_sent(self, client):
        # 400 bytes of text, 1,200 once percent-encoded: the limit is on what crossed the wire.
        response = await client.get("/v1/articles/" + "%41" * 400)

        assert_problem(response, problem(414, "uri-too-long", "The path is too long."))

    async def test_accepts_a_path_of_1024_bytes(self, client):
        path = "/v1/articles/"
        response = await client.get(path + "a" * (1024 - len(path)))

        assert response.status_code == 422


class TestBadInputIsNeverAServerError:
    @pytest.mark.parametrize(
        ("path", "loc"),
        [
            ("/v1/articles/" + "a" * 121, ["path", "slug"]),
            ("/v1/articles/%00", ["path", "slug"]),
            ("/v1/articles/caf%C3%A9", ["path", "slug"]),
            ("/v1/articles/a%0Ab", ["path", "slug"]),
            ("/v1/articles/" + "a" * 500 + "/related", ["path", "slug"]),
            ("/v1/authors/%00/articles", ["path", "slug"]),
            ("/v1/tickers/" + "A" * 500, ["path", "symbol"]),
            ("/v1/tags/%7F", ["path", "slug"]),
        ],
    )
    async def test_refuses_bad_path_segments(self, client, path, loc):
        assert_validation_error(await client.get(path), loc)

    @pytest.mark.parametrize(
        ("query", "loc"),
        [
            ("q=%00", ["query", "q"]),
            ("q=a%1Bb", ["query", "q"]),
            ("q=" + "a" * 201, ["query", "q"]),
            ("author=%00", ["query", "author"]),
            ("tag=a%00", ["query", "tag"]),
            ("ticker=NV%00DA", ["query", "ticker", 0]),
            ("ticker=" + "&ticker=".join(["A"] * 21), ["query", "ticker"]),
            ("since=%00", ["query", "since"]),
            ("limit=99999999999999999999999", ["query", "limit"]),
            ("limit=1e309", ["query", "limit"]),
            ("author_kind=%00", ["query", "author_kind"]),
        ],
    )
    async def test_refuses_bad_query_values(self, client, query, loc):
        assert_validation_error(await client.get(f"/v1/articles?{query}"), loc)

    @pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
    async def test_refuses_timestamps_outside_the_utc_range_in_queries(self, client, value):
        response = await client.get("/v1/articles", params={"since": value})

        assert_validation_error(response, ["query", "since"])

    @pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
    async def test_refuses_timestamps_outside_the_utc_range_in_bodies(self, client, session, writer, value):
        author = await create_author(session)

        response = await client.post(
            "/v1/articles", headers=writer,
            json={"title": "Edge", "body_markdown": "b", "author": author.slug, "published_at": value},
        )

        assert_validation_error(response, ["body", "published_at"])

    @pytest.mark.parametrize(
        "text", ["nul\u0000", "escape\u001b[31m", "delete\u007f", "lone \ud800 surrogate", "bell\u0007"]
    )
    async def test_refuses_control_characters_in_every_kind_of_string_field(self, client, session, writer, text):
        author = await create_author(session)
        await create_ticker(session, "NVDA")
        await create_tag(session, "ai")
        article = await create_article(session, author=author, tickers=["NVDA"])
        cases = [
            ("POST", "/v1/articles", {"title": text, "body_markdown": "b", "author": author.slug}, ["body", "title"]),
            ("POST", "/v1/articles", {"title": "t", "dek": text, "body_markdown": "b", "author": author.slug}, ["body", "dek"]),
            ("POST", "/v1/articles", {"title": "t", "body_markdown": text, "author": author.slug}, ["body", "body_markdown"]),
            ("PATCH", f"/v1/articles/{article.slug}", {"hero_image": {"url": "https://a.example/x.png", "alt": text}}, ["body", "hero_image", "alt"]),
            ("PATCH", f"/v1/articles/{article.slug}", {"hero_image": {"url": "https://a.example/x.png", "credit": text}}, ["body", "hero_image", "credit"]),
            ("PATCH", f"/v1/authors/{author.slug}", {"bio": text}, ["body", "bio"]),
            ("PATCH", f"/v1/authors/{author.slug}", {"audience": text}, ["body", "audience"]),
            ("PATCH", f"/v1/authors/{author.slug}", {"disclosure": text}, ["body", "disclosure"]),
            ("PATCH", f"/v1/authors/{author.slug}", {"expertise": [text]}, ["body", "expertise", 0]),
            ("PATCH", f"/v1/authors/{author.slug}", {"links": [{"label": text, "url": "https://a.example"}]}, ["body", "links", 0, "label"]),
            ("PATCH", "/v1/tickers/NVDA", {"name": text}, ["body", "name"]),
            ("PATCH", "/v1/tickers/NVDA", {"exchange": text}, ["body", "exchange"]),
            ("POST", "/v1/tags", {"slug": "x", "name": "X", "description": text}, ["body", "description"]),
        ]
        for method, url, body, loc in cases:
            response = await client.request(
                method, url, headers=writer | {"Content-Type": "application/json"},
                content=json.dumps(body).encode(),
            )
            assert_validation_error(response, loc)

    async def test_refuses_an_absurdly_long_key(self, client):
        response = await client.post("/v1/tags", json={}, headers={"Authorization": "Bearer tfk_" + "a" * 5000})

        assert response.status_code == 401

    async def test_reports_validation_errors_without_echoing_input(self, client, writer):
        response = await client.post("/v1/tags", headers=writer, json={"slug": "<script>", "name": "x"})

        assert_validation_error(response, ["body", "slug"])
        assert "<script>" not in response.text


class TestRoutingProblems:
    async def test_unknown_path_is_a_404_problem(self, client):
        assert_problem(await client.get("/v1/nothing-here"), problem(404, None, "No resource at this path."))

    async def test_wrong_method_is_a_405_problem(self, client):
        response = await client.put("/v1/articles/some-article")

        assert_problem(response, problem(405, None, "PUT is not allowed on this path."))
        assert response.headers["allow"] == "GET, HEAD, PATCH, DELETE"

    async def test_405_allows_every_method_of_the_path_not_only_the_first_route(self, client):
        response = await client.put("/v1/articles")

        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD, POST"


class TestHead:
    async def test_head_answers_with_the_headers_of_get_and_no_body(self, client):
        got = await client.get("/feeds/articles.rss")

        head = await client.head("/feeds/articles.rss")

        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["etag"] == got.headers["etag"]
        assert head.headers["content-length"] == str(len(got.content))

    async def test_head_of_a_missing_article_is_a_404_without_body(self, client):
        head = await client.head("/v1/articles/no-such-article")

        assert head.status_code == 404
        assert head.content == b""


class TestUnexpectedErrors:
    async def test_are_a_500_problem_with_the_request_id_and_no_internals(self, app, client, caplog):
        async def explode() -> None:
            raise RuntimeError("secret connection string postgres://u:p@db")

        app.add_api_route("/test-only/explode", explode)

        response = await client.get("/test-only/explode", headers={"X-Request-ID": "trace-123"})

        assert_problem(
            response,
            problem(
                500, None, "An unexpected error occurred; quote the request id when reporting it.",
                request_id="trace-123",
            ),
        )
        assert "secret" not in response.text and "RuntimeError" not in response.text
        assert any(record.exc_info and "trace-123" in record.getMessage() for record in caplog.records)


class TestDatabaseUnreachable:
    """What PostgreSQL's restart raises (tests/faults/test_database_restart.py has the real
    one): a 503 problem with Retry-After, not a 500; a statement's own error stays a 500."""

    @pytest.mark.parametrize(
        "error",
        [
            ConnectionRefusedError(111, "Connection refused"),
            OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")),
            DBAPIError("SELECT 1", {}, type("CannotConnectNowError", (Exception,), {})("starting up")),
            DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True),
        ],
        ids=["refused", "operational", "starting-up", "invalidated"],
    )
    async def test_is_a_503_problem(self, app, client, error):
        async def unreachable() -> None:
            raise error

        app.add_api_route("/test-only/unreachable", unreachable)

        response = await client.get("/test-only/unreachable")

        assert_problem(response, problem(503, "unavailable", "The database does not answer; try again shortly."))
        assert response.headers["Retry-After"] == "2"

    async def test_a_statements_own_error_stays_a_500(self, app, client):
        async def wrong() -> None:
            raise ProgrammingError("SELEC 1", {}, Exception("syntax error"))

        app.add_api_route("/test-only/wrong", wrong)

        assert (await client.get("/test-only/wrong")).status_code == 500


class TestFailedWrites:
    async def test_leave_nothing_written(self, app, client):
        async def write_then_fail(session: SessionDep) -> None:
            data = AuthorCreate(slug="half-written", name="Half Written", kind="human")
            await authors_service.create_author(session, data=data)
            raise RuntimeError("after the write")

        app.add_api_route("/test-only/write-then-fail", write_then_fail, methods=["POST"])

        response = await client.post("/test-only/write-then-fail")

        assert response.status_code == 500
        assert (await client.get("/v1/authors/half-written")).status_code == 404

    async def test_a_racing_duplicate_is_a_409_not_a_500(self, client, session, writer, monkeypatch):
        """Two requests can both pass the slug check; the unique constraint decides."""
        author = await create_author(session)

        async def never_taken(self: ArticleRepository, slug: str) -> bool:
            return False

        monkeypatch.setattr(ArticleRepository, "slug_exists", never_taken)
        body = {"slug": "race", "title": "Race", "body_markdown": "b", "author": author.slug, "status": "published"}
        assert (await client.post("/v1/articles", headers=writer, json=body)).status_code == 201

        response = await client.post("/v1/articles", headers=writer, json=body | {"title": "Loser"})

        assert_problem(response, problem(409, "conflict", "The change conflicts with data already stored."))
        assert (await client.get("/v1/articles/race")).json()["title"] == "Race"


class TestRequestId:
    async def test_generates_one_for_every_response(self, client):
        for response in (
            await client.get("/healthz"),
            await client.get("/v1/articles"),
            await client.get("/v1/nothing"),
            await client.get("/v1/articles?q=" + "a" * 5000),
        ):
            assert response.headers["x-request-id"] == ANY_REQUEST_ID

    @pytest.mark.parametrize("sent", ["abc-123", "req_01HZX.9:a", "A" * 128])
    async def test_echoes_a_sane_client_id(self, client, sent):
        response = await client.get("/v1/nothing", headers={"X-Request-ID": sent})

        assert response.headers["x-request-id"] == sent
        assert response.json()["request_id"] == sent

    @pytest.mark.parametrize("sent", ["", "has space", "A" * 129, "<script>", "a\tb", "ünïcode"])
    async def test_replaces_an_insane_client_id(self, client, sent):
        response = await client.get("/v1/nothing", headers={"X-Request-ID": sent.encode()})

        assert response.headers["x-request-id"] == ANY_REQUEST_ID
        assert response.json()["request_id"] == response.headers["x-request-id"]
