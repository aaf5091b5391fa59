from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from cti.bounds import MULTI_LINE, ONE_LINE, RowId, Timestamp


class TicketType(StrEnum):
    QUESTION = "question"
    COMPLAINT = "complaint"
    RETURN_EXCHANGE = "return_exchange"
    CALLBACK = "callback"
    ORDER_CHANGE = "order_change"


class TicketStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_CUSTOMER = "waiting_customer"
    CLOSED = "closed"


Extension = Annotated[str, StringConstraints(pattern=r"^[0-9]{2,20}$")]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=ONE_LINE)
]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=4000, pattern=MULTI_LINE)
]
OrderRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


class TicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: TicketType
    title: Title
    description: LongText = ""
    status: TicketStatus = TicketStatus.OPEN
    assignee: Extension | None = None
    due_at: Timestamp | None = None
    linkedid: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._-]{1,64}$")] | None = None
    customer_id: RowId | None = None
    order_id: OrderRef | None = None
    shop: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    caller_number: Annotated[str, StringConstraints(max_length=64, pattern=ONE_LINE)] | None = None


class TicketPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TicketStatus | None = None
    assignee: Extension | None = None
    due_at: Timestamp | None = None
    title: Title | None = None
    description: LongText | None = None


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=4000, pattern=MULTI_LINE),
    ]


class TicketEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    body: str
    actor: str
    at: datetime
    linkedid: str | None = None
    """The call the event is about (``GET /api/v1/calls/{linkedid}`` has its recordings)."""


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    type: TicketType
    status: TicketStatus
    title: str
    description: str
    assignee: str | None
    due_at: datetime | None
    linkedid: str | None
    customer_id: int | None
    shop: str | None
    order_id: str | None
    caller_number: str | None
    recording_path: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class TicketDetailOut(TicketOut):
    events: list[TicketEventOut]


class TicketPage(BaseModel):
    items: list[TicketOut]
    total: int
    limit: int
    offset: int
