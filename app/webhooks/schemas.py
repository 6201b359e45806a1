from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.fields import RequestBody, Symbol, line

EventType = Literal["article.published", "article.updated", "article.unpublished", "article.deleted", "webhook.test"]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]
Url = line(2048, min_length=1)
Description = line(500)
EVENTS = "The event types to receive."
TICKERS = "Only events of articles that carry (or carried) one of these; empty: every article."


class WebhookCreate(RequestBody):
    url: Url = Field(description="An `https://` URL on a public address.")  # type: ignore[valid-type]
    events: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES), description=EVENTS)
    tickers: list[Symbol] = Field(default_factory=list, max_length=50, description=TICKERS)
    description: Description | None = None  # type: ignore[valid-type]


class WebhookUpdate(RequestBody):
    url: Url | None = None  # type: ignore[valid-type]
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=len(EVENT_TYPES), description=EVENTS)
    tickers: list[Symbol] | None = Field(default=None, max_length=50, description=TICKERS)
    description: Description | None = None  # type: ignore[valid-type]
    enabled: bool | None = Field(
        default=None, description="`true` enables a disabled endpoint (it hears of changes from then on); `false` disables it."
    )


class WebhookRead(BaseModel):
    id: int
    url: str
    events: list[EventType]
    tickers: list[str]
    description: str | None
    enabled: bool
    disabled_at: datetime | None = Field(description="When it was disabled, by an administrator or after 3 days of failures.")
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="The signing secret (`whsec_` and base64), for verifying `webhook-signature`. "
        "It is shown only in this response."
    )


class Delivery(BaseModel):
    id: int
    event_id: str = Field(description="The event's `webhook-id`: the same on every attempt of one event.")
    event_type: EventType
    attempt: int = Field(description="1 for the first attempt at the event, 2 for its first retry, …")
    attempted_at: datetime
    duration_ms: int
    status_code: int | None = Field(description="The receiver's status; null when no answer came.")
    error: str | None = Field(description="Why the attempt failed, when it did.")
    outcome: Literal["succeeded", "retrying", "failed"] = Field(
        description="`retrying`: another attempt follows at `next_retry_at`; `failed`: given up."
    )
    next_retry_at: datetime | None


class TestEventQueued(BaseModel):
    event_id: str
    type: Literal["webhook.test"]
