"""A shop's settings and its do-not-call entries as the API reads and writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from cti.bounds import ONE_LINE
from cti.shops import rules

WebhookUrl = Annotated[
    str, StringConstraints(max_length=rules.WEBHOOK_URL_MAX), AfterValidator(rules.webhook_url)
]
HhMm = Annotated[str, StringConstraints(max_length=5), AfterValidator(rules.hhmm)]
TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(rules.timezone)]
CallerId = Annotated[str, StringConstraints(max_length=21), AfterValidator(rules.caller_id)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=ONE_LINE)]

DEFAULT_WINDOW = ("09:00", "21:00")
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_MAX_CONCURRENT = 2


class ShopIn(BaseModel):
    """``PUT /api/v1/shops/{shop}``: fields left out keep their value (their default
    when the shop is created); ``null`` clears ``webhook_url`` or ``caller_id``."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=200, pattern=ONE_LINE)
    ] = ""
    webhook_url: WebhookUrl | None = Field(
        default=None,
        description="where final results are POSTed: http(s), no credentials, no fragment",
        examples=["https://shop.example.com/cti/webhook"],
    )
    window_start: HhMm = Field(default=DEFAULT_WINDOW[0], description="local time, HH:MM")
    window_end: HhMm = Field(default=DEFAULT_WINDOW[1], description="local time, HH:MM")
    timezone: TimeZone = DEFAULT_TIMEZONE
    max_concurrent: int = Field(default=DEFAULT_MAX_CONCURRENT, ge=1, le=100)
    caller_id: CallerId | None = Field(
        default=None, description="the number customers see, e.g. 4008001234"
    )


class ShopOut(BaseModel):
    """A shop's settings; never its webhook secret."""

    model_config = ConfigDict(from_attributes=True)

    shop: str
    name: str
    webhook_url: str | None
    window_start: str
    window_end: str
    timezone: str
    max_concurrent: int
    caller_id: str | None
    previous_secret_valid_until: datetime | None = Field(
        description="after a rotation: until when the old secret still signs (then null)"
    )
    created_at: datetime
    updated_at: datetime


class ShopWritten(ShopOut):
    secret: str | None = Field(
        description="the webhook signing secret, shown once: when the shop is created"
    )


class SecretOut(BaseModel):
    shop: str
    secret: str = Field(description="the new webhook signing secret, shown once")
    previous_secret_valid_until: datetime | None = Field(
        description="until when webhooks are still verifiable with the old secret"
    )


class DoNotCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = ""


class DoNotCallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    phone: str = Field(description="E.164")
    shop: str = Field(description='the shop it applies to; "" for every shop')
    reason: str
    created_at: datetime


class DoNotCallPage(BaseModel):
    items: list[DoNotCallOut]
    total: int
    limit: int
    offset: int
