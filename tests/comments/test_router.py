from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys.scopes import Scope
from app.models import Article, Author
from tests.comments.helpers import approved, moderate, post, posted
from tests.conftest import bearer
from tests.factories import create_article, create_author
from tests.helpers import AnyInt, AnyTimestamp
from tests.mail_fixtures import SmtpServer
from tests.reader_fixtures import auth, named_reader, sign_in

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def article(session: AsyncSession, clock: Any) -> Article:
    return await create_article(session, author=await create_author(session), now=clock.now)


@pytest_asyncio.fixture
async def moderator(session: AsyncSession) -> dict[str, str]:
    return await bearer(session, Scope.COMMENTS_MODERATE)


@pytest_asyncio.fixture
async def ada(client: httpx.AsyncClient, smtp: SmtpServer) -> dict[str, str]:
    return await named_reader(client, smtp, "Ada", "ada@example.com")


async def thread(client: httpx.AsyncClient, slug: str, headers: dict[str, str] | None = None, **query: Any) -> dict[str, Any]:
    response = await client.get(f"/v1/articles/{slug}/comments", params=query, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


class TestPostComment:
    async def test_a_new_readers_comment_waits_and_only_they_see_it(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], smtp: SmtpServer
    ) -> None:
        response = await post(client, article.slug, ada, "Nice **call** on [NVDA](https://example.com/nvda).")

        assert response.status_code == 201
        assert response.json() == {
            "id": AnyInt(), "parent_id": None,
            "body_html": '<p>Nice <strong>call</strong> on <a href="https://example.com/nvda" rel="nofollow ugc">NVDA</a>.</p>\n',
            "author": {"display_name": "Ada", "is_article_author": False},
            "created_at": AnyTimestamp(), "edited_at": None, "reply_count": 0, "status": "pending",
        }
        assert response.headers["location"] == f"/v1/comments/{response.json()['id']}"
        assert (await thread(client, article.slug))["items"] == []
        mine = await thread(client, article.slug, ada)
        assert [item["status"] for item in mine["items"]] == ["pending"]
        other = await named_reader(client, smtp, "Bob")
        assert (await thread(client, article.slug, other))["items"] == []

    async def test_a_trusted_reader_posts_straight_away(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], moderator: dict[str, str]
    ) -> None:
        for n in range(3):
            await approved(client, article.slug, ada, moderator, f"Comment number {n}")

        response = await post(client, article.slug, ada, "Now I am trusted.")

        assert response.json()["status"] == "approved"
        me = (await client.get("/v1/readers/me", headers=ada)).json()
        assert me["trusted"] is True and me["approved_comments"] == 4

    async def test_needs_a_session_and_a_display_name(
        self, client: httpx.AsyncClient, article: Article, smtp: SmtpServer
    ) -> None:
        assert (await post(client, article.slug, {})).status_code == 401
        nameless = auth(await sign_in(client, smtp))
        response = await post(client, article.slug, nameless)
        assert response.status_code == 409 and "display name" in response.json()["detail"]

    async def test_an_api_key_is_no_reader(
        self, client: httpx.AsyncClient, article: Article, moderator: dict[str, str]
    ) -> None:
        assert (await post(client, article.slug, moderator)).status_code == 401

    async def test_refuses_drafts_and_unknown_articles(
        self, client: httpx.AsyncClient, session: AsyncSession, ada: dict[str, str], clock: Any
    ) -> None:
        draft = await create_article(session, author=await create_author(session), status="draft", published_ago=None)
        assert (await post(client, draft.slug, ada)).status_code == 404
        assert (await post(client, "no-such-article", ada)).status_code == 404
        assert (await client.get(f"/v1/articles/{draft.slug}/comments")).status_code == 404

    async def test_a_closed_thread_refuses_new_comments(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], writer: dict[str, str]
    ) -> None:
        closed = await client.patch(f"/v1/articles/{article.slug}", json={"comments_open": False}, headers=writer)
        assert closed.status_code == 200 and closed.json()["comments_open"] is False

        response = await post(client, article.slug, ada)

        assert response.status_code == 409 and "closed" in response.json()["detail"]
        [card] = (await client.get("/v1/articles")).json()["items"]
        assert card["comments_open"] is False
        reopened = await client.patch(f"/v1/articles/{article.slug}", json={"comments_open": True}, headers=writer)
        assert reopened.json()["comments_open"] is True
        assert (await post(client, article.slug, ada)).status_code == 201

    async def test_marks_the_article_authors_own_comments(
        self, client: httpx.AsyncClient, session: AsyncSession, article: Article, smtp: SmtpServer,
        moderator: dict[str, str], writer: dict[str, str],
    ) -> None:
        signed_in = await sign_in(client, smtp, "author@example.com")
        author = await session.get_one(Author, article.author_id)
        link = {"author": author.slug}
        reader_path = f"/v1/readers/{signed_in['reader']['id']}"
        assert (await client.patch(reader_path, json=link, headers=moderator)).status_code == 403
        linked = await client.patch(reader_path, json=link, headers=writer)
        assert linked.status_code == 200 and linked.json() == {"id": signed_in["reader"]["id"], "author": author.slug}
        assert (await client.patch(reader_path, json={"author": "nobody"}, headers=writer)).status_code == 422
        await client.patch("/v1/readers/me", json={"display_name": "The author"}, headers=auth(signed_in))

        comment = await approved(client, article.slug, auth(signed_in), moderator)

        assert comment["author"] == {"display_name": "The author", "is_article_author": True}


class TestReplies:
    async def test_one_level_of_replies_counted_when_approved(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], smtp: SmtpServer,
        moderator: dict[str, str],
    ) -> None:
        bob = await named_reader(client, smtp, "Bob")
        parent = await approved(client, article.slug, ada, moderator)
        reply = await posted(client, article.slug, bob, "I disagree.", parent_id=parent["id"])
        assert (await thread(client, article.slug))["items"][0]["reply_count"] == 0

        await moderate(client, moderator, reply["id"])

        [top] = (await thread(client, article.slug))["items"]
        assert top["id"] == parent["id"] and top["reply_count"] == 1
        replies = (await client.get(f"/v1/comments/{parent['id']}/replies")).json()
        assert [item["id"] for item in replies["items"]] == [reply["id"]]
        assert replies["items"][0]["parent_id"] == parent["id"]
        nested = await post(client, article.slug, ada, parent_id=reply["id"])
        assert nested.status_code == 422
        assert (await client.get(f"/v1/comments/{reply['id']}/replies")).status_code == 404

    async def test_refuses_a_parent_under_another_article_or_not_approved(
        self, client: httpx.AsyncClient, session: AsyncSession, article: Article, ada: dict[str, str]
    ) -> None:
        pending = await posted(client, article.slug, ada)
        other = await create_article(session, author=await create_author(session))
        assert (await post(client, article.slug, ada, parent_id=pending["id"])).status_code == 422
        assert (await post(client, other.slug, ada, parent_id=pending["id"])).status_code == 422
        assert (await post(client, article.slug, ada, parent_id=999999)).status_code == 422


class TestListComments:
    async def test_pages_oldest_or_newest_first_with_keyset_cursors(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], moderator: dict[str, str],
        clock: Any,
    ) -> None:
        ids = []
        for n in range(5):
            ids.append((await approved(client, article.slug, ada, moderator, f"Comment {n}"))["id"])
            clock.now += timedelta(seconds=1)

        first = await thread(client, article.slug, limit=2)
        assert [item["id"] for item in first["items"]] == ids[:2]
        response = await client.get(f"/v1/articles/{article.slug}/comments", params={"limit": 2, "cursor": first["next_cursor"]})
        assert [item["id"] for item in response.json()["items"]] == ids[2:4]
        assert 'rel="next"' in response.headers["link"]
        newest = await thread(client, article.slug, sort="newest", limit=3)
        assert [item["id"] for item in newest["items"]] == ids[::-1][:3]
        rest = await thread(client, article.slug, sort="newest", limit=3, cursor=newest["next_cursor"])
        assert [item["id"] for item in rest["items"]] == ids[::-1][3:] and rest["next_cursor"] is None

    async def test_a_cursor_fits_only_its_own_list(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], moderator: dict[str, str]
    ) -> None:
        for n in range(2):
            await approved(client, article.slug, ada, moderator, f"Comment {n}")
        cursor = (await thread(client, article.slug, limit=1))["next_cursor"]
        newest = await client.get(f"/v1/articles/{article.slug}/comments", params={"sort": "newest", "cursor": cursor})
        assert newest.status_code == 400
        forged = await client.get(f"/v1/articles/{article.slug}/comments", params={"cursor": "bm9wZQ"})
        assert forged.status_code == 400

    async def test_limit_out_of_range_is_a_422(self, client: httpx.AsyncClient, article: Article) -> None:
        assert (await client.get(f"/v1/articles/{article.slug}/comments", params={"limit": 101})).status_code == 422

    async def test_a_bad_session_on_a_public_list_is_a_401(self, client: httpx.AsyncClient, article: Article) -> None:
        response = await client.get(f"/v1/articles/{article.slug}/comments", headers={"Authorization": "Bearer trs_x"})
        assert response.status_code == 401

    async def test_a_readers_own_view_is_private(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str]
    ) -> None:
        public = await client.get(f"/v1/articles/{article.slug}/comments")
        mine = await client.get(f"/v1/articles/{article.slug}/comments", headers=ada)
        assert public.headers["cache-control"].startswith("public")
        assert mine.headers["cache-control"] == "private, no-store"
        assert public.headers["etag"] != mine.headers["etag"]


class TestEditAndDelete:
    async def test_edits_own_comment_within_15_minutes(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], smtp: SmtpServer, clock: Any
    ) -> None:
        comment = await posted(client, article.slug, ada)
        clock.now += timedelta(minutes=14)

        edited = await client.patch(f"/v1/comments/{comment['id']}", json={"body_markdown": "Better *said*."}, headers=ada)

        assert edited.status_code == 200
        assert edited.json()["body_html"] == "<p>Better <em>said</em>.</p>\n"
        assert edited.json()["edited_at"] is not None
        clock.now += timedelta(minutes=2)
        late = await client.patch(f"/v1/comments/{comment['id']}", json={"body_markdown": "Too late."}, headers=ada)
        assert late.status_code == 409
        bob = await named_reader(client, smtp, "Bob")
        theirs = await client.patch(f"/v1/comments/{comment['id']}", json={"body_markdown": "Mine now."}, headers=bob)
        assert theirs.status_code == 404
        status = await client.patch(f"/v1/comments/{comment['id']}", json={"status": "approved"}, headers=ada)
        assert status.status_code == 422

    async def test_a_deleted_comment_vanishes_unless_replies_hang_from_it(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], smtp: SmtpServer,
        moderator: dict[str, str],
    ) -> None:
        lonely = await approved(client, article.slug, ada, moderator, "Nobody answers this.")
        answered = await approved(client, article.slug, ada, moderator, "Somebody answers this.")
        bob = await named_reader(client, smtp, "Bob")
        await approved(client, article.slug, bob, moderator, "An answer.", parent_id=answered["id"])

        for comment in (lonely, answered):
            assert (await client.delete(f"/v1/comments/{comment['id']}", headers=ada)).status_code == 204

        [placeholder] = (await thread(client, article.slug))["items"]
        assert placeholder == {
            "id": answered["id"], "parent_id": None, "body_html": None,
            "author": {"display_name": None, "is_article_author": False},
            "created_at": AnyTimestamp(), "edited_at": None, "reply_count": 1, "status": "deleted",
        }
        detail = (await client.get(f"/v1/articles/{article.slug}")).json()
        assert detail["comment_count"] == 1  # the reply
        assert (await client.delete(f"/v1/comments/{lonely['id']}", headers=ada)).status_code == 404

    async def test_erasing_a_reader_leaves_no_text_and_no_name(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], smtp: SmtpServer,
        moderator: dict[str, str],
    ) -> None:
        answered = await approved(client, article.slug, ada, moderator, "Somebody answers this.")
        await approved(client, article.slug, ada, moderator, "Nobody answers this.")
        bob = await named_reader(client, smtp, "Bob")
        await approved(client, article.slug, bob, moderator, "An answer.", parent_id=answered["id"])

        assert (await client.delete("/v1/readers/me", headers=ada)).status_code == 204

        [placeholder] = (await thread(client, article.slug))["items"]
        assert placeholder["status"] == "deleted" and placeholder["body_html"] is None
        assert placeholder["author"]["display_name"] is None
        assert (await client.get(f"/v1/articles/{article.slug}")).json()["comment_count"] == 1
        queue = (await client.get("/v1/comments", params={"status": "pending"}, headers=moderator)).json()
        assert "Ada" not in str(queue) and "Somebody" not in str(queue)


class TestModeration:
    async def test_needs_the_moderation_scope_which_admin_includes(
        self, client: httpx.AsyncClient, writer: dict[str, str], admin: dict[str, str], moderator: dict[str, str]
    ) -> None:
        assert (await client.get("/v1/comments")).status_code == 401
        assert (await client.get("/v1/comments", headers=writer)).status_code == 403
        assert (await client.get("/v1/comments", headers=admin)).status_code == 200
        assert (await client.get("/v1/comments", headers=moderator)).status_code == 200

    async def test_queues_pending_reported_and_spam(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], smtp: SmtpServer,
        moderator: dict[str, str], writer: dict[str, str],
    ) -> None:
        waiting = await posted(client, article.slug, ada, "Please approve me.")
        shown = await approved(client, article.slug, ada, moderator, "Approved already.")
        bob = await named_reader(client, smtp, "Bob")
        for _ in range(2):  # one report per reader counts
            report = await client.post(f"/v1/comments/{shown['id']}/reports", json={"reason": "rude"}, headers=bob)
            assert report.status_code == 202
        junk = await posted(client, article.slug, ada, "Marked as spam by hand.")
        await moderate(client, moderator, junk["id"], "spam")

        def ids(queue: dict[str, Any]) -> list[int]:
            return [item["id"] for item in queue["items"]]

        pending = (await client.get("/v1/comments", params={"status": "pending"}, headers=moderator)).json()
        reported = (await client.get("/v1/comments", params={"status": "reported"}, headers=moderator)).json()
        spam = (await client.get("/v1/comments", params={"status": "spam"}, headers=moderator)).json()
        assert (ids(pending), ids(reported), ids(spam)) == ([waiting["id"]], [shown["id"]], [junk["id"]])
        assert reported["items"][0] | {"created_at": None} == {
            "id": shown["id"], "status": "approved", "held_for": None, "open_reports": 1,
            "body_markdown": "Approved already.", "body_html": "<p>Approved already.</p>\n", "parent_id": None,
            "article": {"id": article.id, "slug": article.slug, "title": article.title},
            "reader": {"id": AnyInt(), "display_name": "Ada", "status": "active", "approved_comments": 1},
            "created_at": None, "edited_at": None,
        }
        await moderate(client, moderator, shown["id"], "rejected")
        assert ids((await client.get("/v1/comments", params={"status": "reported"}, headers=moderator)).json()) == []
        assert (await thread(client, article.slug))["items"] == []
        editor = await client.patch(f"/v1/comments/{waiting['id']}", json={"status": "approved"}, headers=writer)
        assert editor.status_code == 403

    async def test_banning_rejects_pending_comments_and_stops_new_ones(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], moderator: dict[str, str]
    ) -> None:
        await posted(client, article.slug, ada)
        reader_id = (await client.get("/v1/readers/me", headers=ada)).json()["id"]

        banned = await client.post(f"/v1/readers/{reader_id}/ban", headers=moderator)

        assert banned.status_code == 200
        assert banned.json() | {"banned_at": None} == {
            "id": reader_id, "status": "banned", "banned_at": None, "rejected_pending": 1
        }
        assert (await post(client, article.slug, ada)).status_code == 403
        assert (await client.get("/v1/comments", headers=moderator)).json()["items"] == []
        assert (await client.post("/v1/readers/999999/ban", headers=moderator)).status_code == 404
