from datetime import datetime
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.fields import RequestBody, Slug, Symbol, omittable

SubscriberStatus = Literal["pending", "active", "unsubscribed"]


def _one_mailbox(value: str) -> str:
    # CR/LF or several addresses would let a caller add headers or recipients to our mail.
    if any(character in value for character in "\r\n,;<>") or any(
        ord(c) < 32 or ord(c) == 127 for c in value
    ):
        raise ValueError("must be a single email address")
    try:
        # Without SMTPUTF8 (RFC 6531), which we do not rely on relays offering, a mailbox
        # name must be ASCII; an internationalized domain is fine (sent as its A-label).
        info = validate_email(
            value, check_deliverability=False, allow_quoted_local=False, allow_smtputf8=False
        )
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address: {exc}") from exc
    return info.normalized


Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=320),
    AfterValidator(_one_mailbox),
    Field(json_schema_extra={"format": "email"}, examples=["reader@example.com"]),
]
NewsletterSlugs = Annotated[
    list[Slug], Field(min_length=1, max_length=20)
]


class SubscriptionRequest(RequestBody):
    email: Email
    newsletters: NewsletterSlugs = Field(examples=[["daily-headlines"]])
    tickers: list[Symbol] = Field(
        default_factory=list, max_length=50, description="Followed first in each edition."
    )
    authors: list[Slug] = Field(
        default_factory=list, max_length=50, description="Followed first in each edition."
    )


class SubscriptionAccepted(BaseModel):
    """The same for every address, known or not: nobody learns who subscribes."""

    status: Literal["accepted"] = "accepted"
    detail: str = "If this address can receive mail, a confirmation link is on its way."


class ConfirmRequest(RequestBody):
    token: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class UnsubscribeRequest(RequestBody):
    """The JSON form of the one-click unsubscribe: the token in the body."""

    token: Annotated[str, StringConstraints(min_length=1, max_length=128)]


# A one-click form has one field (RFC 8058 §3.1); more than this many is refused unread.
MAX_FORM_FIELDS = 10


class OneClickUnsubscribeForm(BaseModel):
    """RFC 8058 one-click unsubscribe, as mail clients send it; the token is in the URL."""

    # Other fields are ignored, but a form's every field is a string, and there are few.
    model_config = ConfigDict(
        json_schema_extra={"maxProperties": MAX_FORM_FIELDS, "additionalProperties": {"type": "string"}}
    )

    list_unsubscribe: Literal["One-Click"] = Field(alias="List-Unsubscribe")


class PreferencesUpdate(RequestBody):
    """Only the fields sent change."""

    newsletters: NewsletterSlugs = omittable()
    tickers: list[Symbol] = omittable(max_length=50)
    authors: list[Slug] = omittable(max_length=50)


class SubscriptionRead(BaseModel):
    email: str
    status: SubscriberStatus
    newsletters: list[str]
    tickers: list[str]
    authors: list[str]
    requested_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None


class SubscriptionConfirmed(SubscriptionRead):
    manage_token: str = Field(
        description="Shown here and in each mail; use as `Authorization: Bearer`."
    )


class ConsentRecord(BaseModel):
    requested_at: datetime
    requested_from: str | None
    confirmed_at: datetime | None
    confirmed_from: str | None
    consent_version: str


class SubscriberRead(SubscriptionRead):
    id: int
    created_at: datetime
    updated_at: datetime
    consent: ConsentRecord


class UnsubscribeLink(BaseModel):
    """What a GET on an unsubscribe link answers: nothing changes until a POST."""

    status: SubscriberStatus
    detail: str = "Nothing has changed. POST to this URL (RFC 8058 one-click) to unsubscribe."
