"""Rate limits on subscribe and confirm: in memory on SQLite runs, in Redis on PostgreSQL runs."""

from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.settings import Settings
from tests.mail_fixtures import SmtpServer, build_app, mail_settings, redis_url
from tests.subscriber_factories import create_newsletter, subscribe

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture(autouse=True)
async def daily(session: AsyncSession) -> Any:
    return await create_newsletter(session, slug="daily", name="Daily")


def limited_app(
    settings: Settings,
    engine: AsyncEngine,
    connection: AsyncConnection,
    sessionmaker: Any,
    clock: Any,
    smtp: SmtpServer,
    prefix: str,
    **limits: Any,
) -> Any:
    values = {"redis_url": redis_url(), "rate_limit_prefix": prefix, "send_mail_on_request": False}
    return build_app(mail_settings(settings, smtp, **values | limits), engine, connection, sessionmaker, clock)


def client_for(app: Any, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(peer, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
def make_app(
    settings: Settings,
    engine: AsyncEngine,
    connection: AsyncConnection,
    sessionmaker: Any,
    clock: Any,
    smtp: SmtpServer,
    limiter_prefix: str,
) -> Any:
    def make(**limits: Any) -> Any:
        return limited_app(settings, engine, connection, sessionmaker, clock, smtp, limiter_prefix, **limits)

    return make


class TestSubscribeLimits:
    async def test_limits_each_client_address(self, make_app: Any) -> None:
        app = make_app(rate_limit_subscribe_per_client="3/minute")
        async with client_for(app, "198.51.100.7") as client:
            answers = [await subscribe(client, f"r{n}@example.com") for n in range(4)]
        async with client_for(app, "198.51.100.8") as other:
            elsewhere = await subscribe(other, "r9@example.com")

        assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
        refused = answers[-1]
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/rate-limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert elsewhere.status_code == 202

    async def test_limits_each_address_across_clients(self, make_app: Any) -> None:
        app = make_app(rate_limit_subscribe_per_email="2/hour")
        answers = []
        for peer in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
            async with client_for(app, peer) as client:
                answers.append(
                    await subscribe(
                        client, "Target@Example.com" if peer.endswith("3") else "target@example.com"
                    )
                )

        assert [answer.status_code for answer in answers] == [202, 202, 429]
        assert int(answers[-1].headers["retry-after"]) > 60

    async def test_a_second_process_shares_the_counters_when_redis_is_configured(
        self, make_app: Any
    ) -> None:
        if redis_url() is None:
            pytest.skip("in-process limits on the embedded SQLite setup")
        first, second = (
            make_app(rate_limit_subscribe_per_client="2/minute"),
            make_app(rate_limit_subscribe_per_client="2/minute"),
        )
        async with client_for(first) as one, client_for(second) as two:
            answers = [
                await subscribe(one, "a@example.com"),
                await subscribe(two, "b@example.com"),
                await subscribe(one, "c@example.com"),
            ]

        assert [answer.status_code for answer in answers] == [202, 202, 429]


class TestClientAddress:
    async def test_believes_x_forwarded_for_only_from_a_trusted_proxy(self, make_app: Any) -> None:
        app = make_app(rate_limit_subscribe_per_client="1/minute", trusted_proxies=["10.0.0.0/8"])
        async with client_for(app, "10.1.2.3") as proxy:
            behind_proxy = [
                await proxy.post(
                    "/v1/subscriptions",
                    json={"email": f"p{n}@example.com", "newsletters": ["daily"]},
                    headers={"X-Forwarded-For": f"203.0.113.{n}"},
                )
                for n in (1, 2)
            ]
        async with client_for(app, "198.51.100.50") as direct:
            forged = [
                await direct.post(
                    "/v1/subscriptions",
                    json={"email": f"d{n}@example.com", "newsletters": ["daily"]},
                    headers={"X-Forwarded-For": f"203.0.113.{n + 10}"},
                )
                for n in (1, 2)
            ]

        assert [answer.status_code for answer in behind_proxy] == [202, 202]
        assert [answer.status_code for answer in forged] == [202, 429]

    async def test_takes_the_nearest_untrusted_hop(self, make_app: Any) -> None:
        app = make_app(rate_limit_subscribe_per_client="1/minute", trusted_proxies=["10.0.0.0/8"])
        async with client_for(app, "10.1.2.3") as proxy:
            answers = [
                await proxy.post(
                    "/v1/subscriptions",
                    json={"email": f"h{n}@example.com", "newsletters": ["daily"]},
                    # The client prepends a made-up hop each time; the proxy appends the real one.
                    headers={"X-Forwarded-For": f"1.2.3.{n}, 203.0.113.99, 10.0.0.2"},
                )
                for n in (1, 2)
            ]

        assert [answer.status_code for answer in answers] == [202, 429]


class TestConfirmLimits:
    async def test_limits_each_client_address(self, make_app: Any) -> None:
        app = make_app(rate_limit_confirm_per_client="2/minute")
        async with client_for(app) as client:
            answers = [
                await client.post("/v1/subscriptions/confirm", json={"token": f"guess{n}"})
                for n in range(3)
            ]

        assert [answer.status_code for answer in answers] == [400, 400, 429]
        assert "retry-after" in answers[-1].headers


class TestParsedOnce:
    async def test_settings_are_parsed_once_not_per_request(
        self, make_app: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import ipaddress

        import app.ratelimit as ratelimit

        calls = {"networks": 0, "limits": 0}
        ip_network, parse_many = ipaddress.ip_network, ratelimit.parse_many

        def counted_network(*args: Any, **kwargs: Any) -> Any:
            calls["networks"] += 1
            return ip_network(*args, **kwargs)

        def counted_limits(value: str) -> Any:
            calls["limits"] += 1
            return parse_many(value)

        monkeypatch.setattr(ipaddress, "ip_network", counted_network)
        monkeypatch.setattr(ratelimit, "parse_many", counted_limits)
        ratelimit.parsed_limits.cache_clear()
        ratelimit.trusted_networks.cache_clear()
        app = make_app(
            trusted_proxies=["10.0.0.0/8", "192.168.0.0/16"],
            rate_limit_subscribe_per_client="100/minute;1000/day",
            rate_limit_subscribe_per_email="100/minute",
        )
        async with client_for(app) as client:
            for n in range(4):
                assert (await subscribe(client, f"once{n}@example.com")).status_code == 202

        assert calls == {"networks": 2, "limits": 2}
