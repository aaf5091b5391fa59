"""Every domain's models in one place, so Base.metadata is complete (Alembic, tests)."""

from cti.acd.models import HotlineDay
from cti.agents.models import Agent
from cti.auth.models import ApiToken
from cti.calls.models import CallEventRecord, CallRecord
from cti.customers.models import Customer, CustomerPhone, Order
from cti.db.base import Base
from cti.jobs.models import Job
from cti.tickets.models import CallNote, Ticket, TicketEvent

__all__ = [
    "Agent",
    "ApiToken",
    "Base",
    "CallEventRecord",
    "CallNote",
    "CallRecord",
    "Customer",
    "CustomerPhone",
    "HotlineDay",
    "Job",
    "Order",
    "Ticket",
    "TicketEvent",
]
