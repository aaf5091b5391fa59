"""Every domain's models in one place, so Base.metadata is complete (Alembic, tests)."""

from cti.acd.models import HotlineDay
from cti.agents.models import Agent
from cti.auth.models import ApiToken
from cti.calls.models import CallEventRecord, CallNote, CallRecord
from cti.clicktocall.models import AgentCall
from cti.confirmations.models import Confirmation, ConfirmationAttempt
from cti.csat.models import CsatRating
from cti.customers.models import Customer, CustomerPhone
from cti.db.base import Base
from cti.jobs.models import Job
from cti.orders.models import Order
from cti.recordings.models import Recording, Review
from cti.shops.models import DoNotCall, Shop
from cti.stats.models import (
    AgentCallSlot,
    AgentStateRecord,
    AgentTimeMark,
    AgentTimeSlot,
    QueueAgent,
    QueueSlot,
    RollupState,
)
from cti.tickets.models import Ticket, TicketEvent
from cti.webhooks.models import WebhookAttempt, WebhookDelivery

__all__ = [
    "Agent",
    "AgentCall",
    "AgentCallSlot",
    "AgentStateRecord",
    "AgentTimeMark",
    "AgentTimeSlot",
    "ApiToken",
    "Base",
    "CallEventRecord",
    "CallNote",
    "CallRecord",
    "Confirmation",
    "ConfirmationAttempt",
    "CsatRating",
    "Customer",
    "CustomerPhone",
    "DoNotCall",
    "HotlineDay",
    "Job",
    "Order",
    "QueueAgent",
    "QueueSlot",
    "Recording",
    "Review",
    "RollupState",
    "Shop",
    "Ticket",
    "TicketEvent",
    "WebhookAttempt",
    "WebhookDelivery",
]
