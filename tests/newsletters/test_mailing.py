"""The links in each subscriber's mail."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from app.newsletters.mailing import subscriber_links
from app.subscriptions import service as subscriptions_service
from app.subscriptions import tokens
from tests.subscriber_factories import create_newsletter, create_subscriber

pytestmark = pytest.mark.asyncio


class TestSubscriberLinks:
    async def test_sign_with_the_subscriptions_service_tokens(
        self, app: Any, session: AsyncSession
    ) -> None:
        settings = app.state.settings
        await create_newsletter(session, slug="daily")
        subscriber = await create_subscriber(session, settings, newsletters=["daily"])

        now = datetime.now(UTC)
        manage, page, one_click = subscriber_links(settings, subscriber, now=now)

        expected_manage = subscriptions_service.manage_token(settings, subscriber, now=now)
        expected_leave = subscriptions_service.unsubscribe_token(settings, subscriber)
        assert manage.endswith(f"/newsletters/manage?token={expected_manage}")
        assert page.endswith(f"/newsletters/unsubscribe?token={expected_leave}")
        assert one_click.endswith(f"/v1/subscriptions/unsubscribe?token={expected_leave}")
        assert tokens.verify(
            settings.secret_key, tokens.UNSUBSCRIBE, expected_leave, subscriber.id, subscriber.token_nonce,  # type: ignore[arg-type]
            now=now.timestamp(),
        )
