"""JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/) as pydantic models.

Tickers travel in a `_tickerfeed` extension object, as the spec asks of extensions:
an underscore name and an `about` URL that documents it.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.feeds.document import AI_CATEGORY, TICKERFEED_NS, FeedDocument, FeedItem

MEDIA_TYPE = "application/feed+json"
VERSION = "https://jsonfeed.org/version/1.1"


class JsonFeedAuthor(BaseModel):
    name: str
    url: str | None = None


class TickerExtension(BaseModel):
    symbol: str
    name: str
    exchange: str | None
    asset_class: str
    role: str


class ItemExtension(BaseModel):
    about: str = TICKERFEED_NS
    ai_generated: bool
    tickers: list[TickerExtension]


class JsonFeedItem(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    url: str
    title: str
    summary: str | None = None
    # The spec requires one of the two: full text for partners, the summary otherwise.
    content_html: str | None = None
    content_text: str | None = None
    image: str | None = None
    date_published: datetime
    date_modified: datetime
    authors: list[JsonFeedAuthor]
    tags: list[str]
    tickerfeed: ItemExtension = Field(alias="_tickerfeed")


class JsonFeed(BaseModel):
    version: str = VERSION
    title: str
    home_page_url: str
    feed_url: str
    description: str
    language: str
    items: list[JsonFeedItem]


def _item(item: FeedItem) -> JsonFeedItem:
    tags = [ticker.symbol for ticker in item.tickers] + [tag.name for tag in item.tags]
    if item.ai_generated:
        tags.append(AI_CATEGORY)
    optional = {
        "summary": item.summary or None,
        "content_html": item.content_html,
        "content_text": None if item.content_html is not None else (item.summary or item.title),
        "image": item.image.url if item.image else None,
    }
    author = JsonFeedAuthor(name=item.author_name, **({"url": item.author_url} if item.author_url else {}))
    return JsonFeedItem(
        id=item.id,
        url=item.url,
        title=item.title,
        date_published=item.published,
        date_modified=item.updated,
        authors=[author],
        tags=tags,
        tickerfeed=ItemExtension(
            about=TICKERFEED_NS,
            ai_generated=item.ai_generated,
            # Every field, `exchange` too: null for a ticker without one (an index, a coin).
            tickers=[TickerExtension(**ticker._asdict()) for ticker in item.tickers],
        ),
        **{name: value for name, value in optional.items() if value is not None},
    )


def render_json(document: FeedDocument) -> bytes:
    feed = JsonFeed(
        version=VERSION,
        title=document.title,
        home_page_url=document.home_url,
        feed_url=document.self_url,
        description=document.description,
        language=document.language,
        items=[_item(item) for item in document.items],
    )
    # What was given, nulls included; empty optional fields are left out by not giving them
    # (`exclude_none` also dropped the required `exchange`: issue 11, found by schemathesis).
    return feed.model_dump_json(by_alias=True, exclude_unset=True).encode()
