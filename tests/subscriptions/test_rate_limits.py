"""Rate limits on subscribe and confirm: in memory on SQLite runs, in Redis on PostgreSQL runs."""

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from app import cli
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


DOCKERFILE = Path(__file__).parents[2] / "Dockerfile"


def client_for(app: Any, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(peer, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def subscribe_forwarded(client: httpx.AsyncClient, forwarded_for: list[str]) -> list[int]:
    """Subscribes a new address once per `X-Forwarded-For` value; the status of each answer."""
    statuses = []
    for value in forwarded_for:
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        answer = await client.post(
            "/v1/subscriptions",
            json={"email": email, "newsletters": ["daily"]},
            headers={"X-Forwarded-For": value},
        )
        statuses.append(answer.status_code)
    return statuses


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


class UnreachableCounters:
    """A rate-limit strategy whose storage does not answer, as when Redis is stopped."""

    async def hit(self, *arguments: Any) -> bool:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")


class TestWithoutCounters:
    """Sign-ups fail closed, searches fail open (app/ratelimit.py says why);
    tests/faults/test_redis_outage.py stops a real Redis."""

    async def test_refuse_sign_ups_with_a_503(self, make_app: Any) -> None:
        app = make_app()
        async with client_for(app) as client:
            await client.get("/healthz")  # the lifespan has made the limiter by now
            app.state.rate_limiter.strategy = UnreachableCounters()
            answer = await subscribe(client, "someone@example.com")

        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "/problems/unavailable"
        assert answer.headers["retry-after"] == "5"

    async def test_let_searches_through(self, make_app: Any) -> None:
        app = make_app()
        async with client_for(app) as client:
            await client.get("/healthz")
            app.state.rate_limiter.strategy = UnreachableCounters()
            answer = await client.get("/v1/articles", params={"q": "nvidia"})

        assert answer.status_code == 200


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
            behind_proxy = await subscribe_forwarded(proxy, ["203.0.113.1", "203.0.113.2"])
        async with client_for(app, "198.51.100.50") as direct:
            forged = await subscribe_forwarded(direct, ["203.0.113.11", "203.0.113.12"])

        assert behind_proxy == [202, 202]
        assert forged == [202, 429]

    async def test_takes_the_nearest_untrusted_hop(self, make_app: Any) -> None:
        app = make_app(rate_limit_subscribe_per_client="1/minute", trusted_proxies=["10.0.0.0/8"])
        async with client_for(app, "10.1.2.3") as proxy:
            # The client prepends a made-up hop each time; the proxy appends the real one.
            answers = await subscribe_forwarded(
                proxy, [f"1.2.3.{n}, 203.0.113.99, 10.0.0.2" for n in (1, 2)]
            )

        assert answers == [202, 429]


class TestClientBuckets:
    """Issue 10, item 6: one client must not get many buckets, nor many clients one."""

    async def test_counts_an_ipv6_client_by_its_slash_64(self, make_app: Any) -> None:
        app = make_app(rate_limit_subscribe_per_client="1/minute")
        answers = []
        # Every address of a /64 is one subscriber's (RFC 6177): rotating through it is one client.
        peers = ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:3::1")
        for n, peer in enumerate(peers):
            async with client_for(app, peer) as client:
                answers.append(await subscribe(client, f"v6-{n}@example.com"))

        assert [answer.status_code for answer in answers] == [202, 429, 202]

    async def test_an_ipv4_mapped_peer_is_its_ipv4_address(self, make_app: Any) -> None:
        app = make_app(rate_limit_subscribe_per_client="1/minute")
        answers = []
        for n, peer in enumerate(("::ffff:198.51.100.7", "198.51.100.7")):
            async with client_for(app, peer) as client:
                answers.append(await subscribe(client, f"mapped-{n}@example.com"))

        assert [answer.status_code for answer in answers] == [202, 429]

    async def test_a_trusted_proxy_on_a_dual_stack_socket_is_still_trusted(
        self, make_app: Any
    ) -> None:
        app = make_app(rate_limit_subscribe_per_client="1/minute", trusted_proxies=["10.0.0.0/8"])
        async with client_for(app, "::ffff:10.1.2.3") as proxy:
            answers = await subscribe_forwarded(proxy, ["203.0.113.1", "203.0.113.2"])

        assert answers == [202, 202]

    async def test_reads_forwarded_hops_that_carry_a_port(self, make_app: Any) -> None:
        app = make_app(rate_limit_subscribe_per_client="1/minute", trusted_proxies=["10.0.0.0/8"])
        hops = ["203.0.113.5:51000", "[2001:db8::5]:443", "203.0.113.6", "203.0.113.5:52000"]
        async with client_for(app, "10.1.2.3") as proxy:
            answers = await subscribe_forwarded(proxy, hops)

        # Three clients get a request each; the first one, back from another port, is refused.
        assert answers == [202, 202, 202, 429]


def behind_uvicorn(app: Any, options: dict[str, Any]) -> Any:
    """`app` wrapped as uvicorn serves it with `options`: its proxy-header handling included."""
    config = uvicorn.Config(
        app,
        proxy_headers=options.get("proxy_headers", True),
        forwarded_allow_ips=options.get("forwarded_allow_ips"),
        log_config=None,
    )
    config.load()
    return config.loaded_app


def docker_image_command() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", "")
    return json.loads(re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)[1])  # type: ignore[index,no-any-return]


def serve_command_options(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, folder: Path
) -> dict[str, Any]:
    """What `tickerfeed serve` passes to uvicorn; it migrates a scratch database first."""
    started: dict[str, Any] = {}
    scratch = {
        "database_url": f"sqlite+aiosqlite:///{folder / 'serve.db'}",
        "load_demo_content": False,
    }
    monkeypatch.setattr(cli, "get_settings", lambda: settings.model_copy(update=scratch))

    def run_server(config: uvicorn.Config, **_: Any) -> None:
        started.update(proxy_headers=config.proxy_headers, forwarded_allow_ips=config.forwarded_allow_ips)

    monkeypatch.setattr(cli, "run_server", run_server)
    cli.serve.callback(host="127.0.0.1", port=8000, workers=1)  # type: ignore[misc]
    return started


class TestServedBehindUvicorn:
    """Issue 10, item 6: with proxy headers on and FORWARDED_ALLOW_IPS=*, uvicorn replaced the
    peer with an address from X-Forwarded-For, which any client writes."""

    def test_the_docker_image_serves_with_tickerfeed_serve(self) -> None:
        """So the test below covers the image too."""
        assert docker_image_command()[:2] == ["tickerfeed", "serve"]

    async def test_a_forged_x_forwarded_for_does_not_change_the_client(
        self,
        make_app: Any,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
    ) -> None:
        monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
        # `serve` migrates first, which runs its own event loop: not on this one.
        options = await asyncio.to_thread(serve_command_options, settings, monkeypatch, tmp_path)
        served = behind_uvicorn(make_app(rate_limit_subscribe_per_client="1/minute"), options)
        async with client_for(served, "198.51.100.50") as client:
            answers = await subscribe_forwarded(client, ["203.0.113.1", "203.0.113.2"])

        assert answers == [202, 429]

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

        import app.clients as clients
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
        clients.trusted_networks.cache_clear()
        app = make_app(
            trusted_proxies=["10.0.0.0/8", "192.168.0.0/16"],
            rate_limit_subscribe_per_client="100/minute;1000/day",
            rate_limit_subscribe_per_email="100/minute",
        )
        async with client_for(app) as client:
            for n in range(4):
                assert (await subscribe(client, f"once{n}@example.com")).status_code == 202

        assert calls == {"networks": 2, "limits": 2}
