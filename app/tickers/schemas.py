from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.fields import RequestBody, Symbol, line, omittable

AssetClass = Literal["equity", "etf", "crypto", "index", "fx", "commodity"]
TickerName = line(200, min_length=1)
Exchange = line(32, min_length=1)


class TickerCreate(RequestBody):
    symbol: Symbol
    name: TickerName  # type: ignore[valid-type]
    asset_class: AssetClass
    exchange: Exchange | None = None  # type: ignore[valid-type]
    aliases: list[Symbol] = Field(default_factory=list, max_length=10)


class TickerUpdate(RequestBody):
    """Every field is optional; `aliases`, when sent, replaces the list. Only `exchange`
    may be `null` (it clears it)."""

    name: TickerName = omittable()  # type: ignore[valid-type]
    asset_class: AssetClass = omittable()
    exchange: Exchange | None = None  # type: ignore[valid-type]
    aliases: list[Symbol] = omittable(max_length=10)


class TickerRead(BaseModel):
    id: int
    symbol: str
    name: str
    asset_class: AssetClass
    exchange: str | None
    aliases: list[str]
    article_count: int
    latest_article_at: datetime | None
    created_at: datetime
    updated_at: datetime
