from datetime import datetime

from pydantic import BaseModel, Field

from app.api_keys.scopes import Scope
from app.fields import RequestBody, line

KeyName = line(100, min_length=1)


class ApiKeyCreate(RequestBody):
    name: KeyName  # type: ignore[valid-type]
    scopes: list[Scope] = Field(min_length=1, max_length=4)


class ApiKeyRead(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself. It is shown only in this response.")
