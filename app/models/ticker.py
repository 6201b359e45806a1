from sqlmodel import Field, Relationship, SQLModel

from app.models.base import Timestamped


class Ticker(Timestamped, table=True):
    id: int | None = Field(default=None, primary_key=True)
    symbol: str = Field(max_length=16, unique=True)
    name: str = Field(max_length=200)
    asset_class: str = Field(max_length=16)
    exchange: str | None = Field(default=None, max_length=32)

    aliases: list["TickerAlias"] = Relationship(
        sa_relationship_kwargs={
            "lazy": "raise",
            "cascade": "all, delete-orphan",
            "order_by": "TickerAlias.alias",
        }
    )


class TickerAlias(SQLModel, table=True):
    __tablename__ = "ticker_alias"

    id: int | None = Field(default=None, primary_key=True)
    ticker_id: int = Field(foreign_key="ticker.id", ondelete="CASCADE", index=True)
    alias: str = Field(max_length=16, unique=True)
