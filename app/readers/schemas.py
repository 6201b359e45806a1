from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.fields import RequestBody, Slug, line
from app.subscriptions.schemas import Email

DisplayName = Annotated[line(60, min_length=1), Field(examples=["Ada L."])]  # type: ignore[misc]
SubscriptionStatus = Literal["pending", "active", "unsubscribed"]


class SignInRequest(RequestBody):
    email: Email


class SignInAccepted(BaseModel):
    """The same for every address, known or not: nobody learns who reads here."""

    status: Literal["accepted"] = "accepted"
    detail: str = "If this address can receive mail, a sign-in link is on its way."


class SignInConfirm(RequestBody):
    token: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ReaderPublic(BaseModel):
    id: int
    display_name: str | None


class SignedIn(BaseModel):
    reader: ReaderPublic
    session_token: str = Field(
        description="`Authorization: Bearer <session_token>` on reader calls; shown once, revoked by sign-out."
    )


class ReaderMe(ReaderPublic):
    email: str
    status: Literal["active", "banned"]
    trusted: bool = Field(description="Comments appear without waiting for a moderator.")
    approved_comments: int
    newsletter_subscription: SubscriptionStatus | None = Field(
        description="The status of this address's newsletter subscription, if it has one. "
        "Signing in never subscribes."
    )
    created_at: datetime


class ReaderUpdate(RequestBody):
    display_name: DisplayName  # type: ignore[valid-type]


class ReaderBanned(BaseModel):
    id: int
    status: Literal["banned"]
    banned_at: datetime
    rejected_pending: int = Field(description="Pending comments of the reader rejected with the ban.")


class ReaderAuthorLink(RequestBody):
    author: Slug | None = Field(description="The author's slug, or null to unlink.")


class ReaderAuthor(BaseModel):
    id: int
    author: str | None = Field(description="The author this reader writes as, marked on comments under their articles.")
