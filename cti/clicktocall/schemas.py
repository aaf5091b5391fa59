from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cti.bounds import ONE_LINE, RowId
from cti.clicktocall.models import AgentCallStatus
from cti.orders.schemas import ORDER_ID_RE
from cti.shops.rules import SHOP_ID_RE


class AgentCallIn(BaseModel):
    """``POST /api/v1/calls``: call a customer back from the agent's own phone."""

    model_config = ConfigDict(extra="forbid")

    phone: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ONE_LINE),
        ]
        | None
    ) = Field(
        default=None,
        description="the customer's number in any form; may be left out with a ticket that "
        "has the caller's number",
    )
    ticket_id: RowId | None = Field(
        default=None, description="the ticket or callback task the call is about"
    )
    shop: Annotated[str, StringConstraints(pattern=SHOP_ID_RE.pattern)] | None = Field(
        default=None,
        description="whose number to present (default: the ticket's shop, else the hotline's)",
    )
    order_id: (
        Annotated[str, StringConstraints(max_length=64, pattern=ORDER_ID_RE.pattern)] | None
    ) = None


class AgentCallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    call_id: str = Field(description="the call's id, as in `GET /api/v1/calls/{call_id}`")
    status: AgentCallStatus
    agent: str
    phone: str = Field(description="E.164")
    shop: str | None
    order_id: str | None
    ticket_id: int | None
    caller_id: str = Field(description="the number presented to the customer")
    customer_dial: str | None
    talk_s: float | None
    requested_at: datetime
    ended_at: datetime | None
