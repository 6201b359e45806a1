"""Request logs (issue 13, item 4): one line per request, JSON with LOG_FORMAT=json, every
500 once with its id and stack, nothing secret or personal in any line."""

import io
import json
import logging
import time
from typing import Any

import pytest

from app.logs import JsonFormatter, OwnHandler, configure_logging, redact
from tests.helpers import ANY_TIMESTAMP
from tests.test_shared_cache import article, cache_settings, cached, cached_app  # noqa: F401  (fixtures)

pytestmark = pytest.mark.asyncio


class AnyDuration:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, float) and other >= 0

    def __repr__(self) -> str:
        return "<any duration in ms>"


ANY_DURATION = AnyDuration()


@pytest.fixture
def request_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="tickerfeed")
    return caplog


def json_lines(caplog: pytest.LogCaptureFixture, logger: str = "tickerfeed.requests") -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(record)) for record in caplog.records if record.name == logger]


class TestJsonRequestLine:
    async def test_has_the_request_fields(self, client, request_logs):
        await client.get("/v1/articles/no-such-article", headers={"X-Request-ID": "req-404"})

        assert json_lines(request_logs) == [
            {
                "time": ANY_TIMESTAMP,
                "level": "INFO",
                "logger": "tickerfeed.requests",
                "message": f"GET /v1/articles/no-such-article 404 {json_lines(request_logs)[0]['duration_ms']} ms cache=none id=req-404",
                "request_id": "req-404",
                "method": "GET",
                "route": "/v1/articles/{slug}",
                "path": "/v1/articles/no-such-article",
                "status": 404,
                "duration_ms": ANY_DURATION,
                "cache": "none",
            }
        ]

    async def test_names_the_shared_cache_outcome(self, cached, article, request_logs, writer):  # noqa: F811
        await cached.get("/v1/articles")
        await cached.get("/v1/articles")
        await cached.get("/v1/articles", headers=writer)
        await cached.post("/v1/tags", json={"slug": "x", "name": "X"}, headers=writer)

        assert [(line["method"], line["cache"]) for line in json_lines(request_logs)] == [
            ("GET", "miss"), ("GET", "hit"), ("GET", "bypass"), ("POST", "bypass"),
        ]
        assert [line["route"] for line in json_lines(request_logs)] == ["/v1/articles"] * 3 + ["/v1/tags"]

    async def test_leaves_query_strings_out_and_masks_addresses_in_paths(self, client, request_logs):
        await client.get("/feeds/articles.rss", params={"key": "tf_secret_key_value"})
        await client.get("/v1/subscriptions/me", params={"token": "secret-token-value"})
        await client.get("/v1/authors/reader@example.com")

        lines = json_lines(request_logs)
        assert [line["path"] for line in lines] == [
            "/feeds/articles.rss", "/v1/subscriptions/me", "/v1/authors/[email]",
        ]
        text = json.dumps(lines)
        assert "tf_secret_key_value" not in text and "secret-token-value" not in text
        assert "reader@example.com" not in text


class TestUnexpectedErrors:
    async def test_a_500_is_logged_once_with_its_request_id_and_stack(self, client, request_logs, monkeypatch):
        def broken(**_: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr("app.operations.Health", broken)
        response = await client.get("/healthz", headers={"X-Request-ID": "req-500"})

        assert response.status_code == 500
        errors = [line for line in json_lines(request_logs, "tickerfeed") if "stack" in line]
        assert len(errors) == 1
        assert errors[0]["message"] == "unhandled error in request req-500"
        assert errors[0]["level"] == "ERROR"
        assert errors[0]["stack"].startswith("Traceback (most recent call last):")
        assert errors[0]["stack"].endswith("RuntimeError: boom")
        [line] = json_lines(request_logs)
        assert (line["request_id"], line["route"], line["status"]) == ("req-500", "/healthz", 500)


class TestRedaction:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("mail to Reader.One+news@mail.example.com failed", "mail to [email] failed"),
            ("GET /v1/subscriptions/me?token=abc.def&x=1", "GET /v1/subscriptions/me?token=[redacted]&x=1"),
            ("/feeds/articles.rss?KEY=tf_123", "/feeds/articles.rss?KEY=[redacted]"),
            ("Authorization: Bearer tf_abc.def-123", "Authorization: Bearer [redacted]"),
            ("password=hunter2 secret='x'", "password=[redacted] secret='x'"),
            ("request_key=page:1 and monkey=1", "request_key=page:1 and monkey=1"),
        ],
    )
    async def test_cuts_addresses_and_secrets(self, text, expected):
        assert redact(text) == expected

    async def test_takes_linear_time_on_a_long_line(self):
        line = "GET /v1?undeclared=" + "x" * 60_000 + " and a@" + "b" * 60_000
        started = time.process_time()
        redact(line)

        assert time.process_time() - started < 0.5

    async def test_the_formatted_exception_is_redacted_too(self):
        try:
            raise ValueError("no such subscriber: someone@example.com")
        except ValueError:
            record = logging.LogRecord("tickerfeed", logging.ERROR, __file__, 1, "failed", None, exc_info=True)
            import sys

            record.exc_info = sys.exc_info()
        document = json.loads(JsonFormatter().format(record))

        assert document["stack"].endswith("ValueError: no such subscriber: [email]")


class TestConfigureLogging:
    def written(self, log_format: str) -> str:
        configure_logging("INFO", log_format)
        handler = next(h for h in logging.getLogger().handlers if isinstance(h, OwnHandler))
        stream, handler.stream = handler.stream, io.StringIO()
        try:
            logging.getLogger("tickerfeed.test").warning("sent to %s", "a@example.com")
            return handler.stream.getvalue()
        finally:
            handler.stream = stream
            configure_logging("INFO", "text")

    async def test_json_writes_one_object_a_line(self):
        [line] = self.written("json").splitlines()

        assert json.loads(line) == {
            "time": ANY_TIMESTAMP, "level": "WARNING", "logger": "tickerfeed.test", "message": "sent to [email]",
        }

    async def test_text_by_default_redacted_too(self):
        line = self.written("text")

        assert line.endswith(" WARNING tickerfeed.test: sent to [email]\n")

    async def test_installs_one_handler_however_often_it_is_called(self):
        configure_logging("INFO", "json")
        configure_logging("INFO", "text")

        assert len([h for h in logging.getLogger().handlers if isinstance(h, OwnHandler)]) == 1
