"""Which addresses webhooks may reach, and the fan-out's durability, without HTTP."""

import ipaddress
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles import service as articles_service
from app.changes.prune import prune_changes
from app.models import ArticleChange, ChangeLogHead, WebhookEndpoint, WebhookEvent
from app.webhooks.fanout import fan_out
from app.webhooks.targets import RefusedTarget, check_address, parse_target
from tests.factories import create_article, create_author

pytestmark = pytest.mark.asyncio(loop_scope="session")

REFUSED = [
    "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "169.254.169.254", "0.0.0.0",
    "192.0.2.1", "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "2002:7f00:1::1", "64:ff9b::a9fe:a9fe",
]


class TestCheckAddress:
    @pytest.mark.parametrize("address", REFUSED)
    async def test_refuses_every_address_that_is_not_public(self, address: str) -> None:
        with pytest.raises(RefusedTarget, match="which is not a public address"):
            check_address(ipaddress.ip_address(address), allow_private=False)

    @pytest.mark.parametrize("address", [a for a in REFUSED if a not in ("127.0.0.1", "::1", "::ffff:127.0.0.1")])
    async def test_the_setting_allows_loopback_only(self, address: str) -> None:
        for loopback in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
            check_address(ipaddress.ip_address(loopback), allow_private=True)
        with pytest.raises(RefusedTarget):
            check_address(ipaddress.ip_address(address), allow_private=True)


class TestParseTarget:
    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("http://hooks.partner.test/", "must be an https:// URL"),
            ("https:///path", "must name a host"),
            ("https://a:b@hooks.partner.test/", "must not carry credentials"),
            ("https://hooks.partner.test:99999/", "is not a valid URL"),
            ("https://hooks.partner.test/#x", "must not have a fragment"),
        ],
    )
    async def test_refuses(self, url: str, reason: str) -> None:
        with pytest.raises(RefusedTarget, match=reason):
            parse_target(url, allow_private=False)

    async def test_keeps_path_and_query(self) -> None:
        target = parse_target("https://hooks.partner.test:8443/in?x=1", allow_private=False)
        assert (target.host, target.port, target.path) == ("hooks.partner.test", 8443, "/in?x=1")


async def head(session: AsyncSession) -> int:
    """The last `seq` logged: other tests may have left committed changes behind."""
    return await session.scalar(select(ChangeLogHead.last_seq))  # type: ignore[return-value]


async def new_endpoint(session: AsyncSession, event: str) -> WebhookEndpoint:
    """An endpoint that has heard of every change logged so far."""
    endpoint = WebhookEndpoint(url="https://hooks.partner.test/", events=[event], secret="whsec_", fanout_seq=await head(session))
    session.add(endpoint)
    await session.commit()
    return endpoint


class TestFanOut:
    async def test_a_rolled_back_fan_out_leaves_nothing_and_a_second_makes_no_copies(self, session: AsyncSession) -> None:
        endpoint = await new_endpoint(session, "article.published")
        author = await create_author(session)
        await create_article(session, author=author, status="published")
        events = select(func.count()).select_from(WebhookEvent).where(WebhookEvent.endpoint_id == endpoint.id)
        async with session.begin_nested() as crashed:
            assert await fan_out(session, site_url="https://news.example", clock=lambda: endpoint.created_at) >= 1
            await crashed.rollback()  # as a crash before commit
        assert await session.scalar(events) == 0
        await session.refresh(endpoint)
        made = await fan_out(session, site_url="https://news.example", clock=lambda: endpoint.created_at)
        assert made == 1 and await session.scalar(events) == made
        assert await fan_out(session, site_url="https://news.example", clock=lambda: endpoint.created_at) == 0
        assert await session.scalar(events) == made

    async def test_the_prune_keeps_changes_an_endpoint_has_yet_to_fan_out(self, session: AsyncSession) -> None:
        endpoint = await new_endpoint(session, "article.deleted")
        author = await create_author(session)
        article = await create_article(session, author=author, status="published")
        await articles_service.delete_article(session, article, now=endpoint.created_at)
        await session.commit()
        later = endpoint.created_at + timedelta(days=400)

        async def prune() -> int:
            return await session.run_sync(lambda sync: prune_changes(sync.connection(), before=later))

        logged = select(func.count()).select_from(ArticleChange).where(ArticleChange.article_id == article.id)
        await prune()
        assert await session.scalar(logged) == 2  # published, then the tombstone: not heard of yet
        await fan_out(session, site_url="https://news.example", clock=lambda: endpoint.created_at)
        await prune()
        assert await session.scalar(logged) == 0

    async def test_a_deliverer_whose_clock_lags_sends_the_article_all_the_same(self, session: AsyncSession) -> None:
        """The log shows a change's article by its status, not by the reader's clock."""
        endpoint = await new_endpoint(session, "article.published")
        author = await create_author(session)
        article = await create_article(session, author=author, status="published", published_ago=timedelta(0))
        behind = article.published_at - timedelta(seconds=2)  # a deliverer whose clock lags the API's
        assert await fan_out(session, site_url="https://news.example", clock=lambda: behind) == 1
        payload = await session.scalar(select(WebhookEvent.payload).where(WebhookEvent.endpoint_id == endpoint.id))
        assert json.loads(payload)["data"]["article"]["slug"] == article.slug
