"""What the agent sees while the phone rings: the caller as a customer, and their history.

Reads, each through its own domain's service: the customer and their order
figures (the routing's own statement, so the tier shown is the tier the call
was routed by), the customer's numbers, the last orders, open tickets, recent
ticket events, the last calls of the customer's numbers with their notes.
Every read uses an index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.acd.policy import Policy, derive_tier
from cti.calls.service import call_notes, last_calls
from cti.clock import SYSTEM_CLOCK, Clock
from cti.customers.phones import PhoneNormalizer
from cti.customers.profile import caller_profile, caller_statement
from cti.customers.service import customer_phones
from cti.orders.models import Order
from cti.orders.service import last_orders
from cti.tickets.models import Ticket
from cti.tickets.service import customer_ticket_events, open_tickets

_LOCAL_FIXED = re.compile(r"^[2-8]\d{6,7}$")

LAST_ORDERS = 5
LAST_CALLS = 3
OPEN_TICKETS = 10
HISTORY_EVENTS = 10


def number_forms(
    e164s: Iterable[str], extra: Iterable[str | None] = (), local_area_code: str = ""
) -> list[str]:
    """The ways a trunk may have written these numbers in ``calls.caller_number``.

    With a ``local_area_code``, a fixed line of that area is also looked for as
    the trunk presents local callers: without the area code.
    """
    forms: set[str] = {x for x in extra if x}
    for e164 in e164s:
        digits = e164.lstrip("+")
        forms.update((e164, digits, "00" + digits))
        if e164.startswith("+86"):
            national = e164[3:]
            forms.add(national)
            if national.startswith("10") or not national.startswith("1"):
                forms.add("0" + national)  # fixed line: trunk prefix 0
            local = national.removeprefix(local_area_code) if local_area_code else national
            if local != national and _LOCAL_FIXED.fullmatch(local):
                forms.add(local)
    return sorted(forms)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _ticket(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id,
        "type": t.type,
        "status": t.status,
        "title": t.title,
        "assignee": t.assignee,
        "due_at": _iso(t.due_at),
        "order_id": t.order_id,
        "created_at": _iso(t.created_at),
    }


def _order(o: Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "shop": o.shop,
        "status": o.status,
        "amount": str(o.amount),
        "currency": o.currency,
        "items": o.items or [],
        "created_at": _iso(o.created_at),
    }


class PopLookup:
    """``await lookup(caller_number)``: the pop's payload, read through each domain's service."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: Policy,
        *,
        phones: PhoneNormalizer,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._stmt = caller_statement(
            paid_statuses=policy.rules.paid_statuses, currency=policy.rules.currency
        )
        self._phones = phones
        self._clock = clock

    async def __call__(self, caller_number: str | None) -> dict[str, Any]:
        number = self._phones(caller_number)
        empty: dict[str, Any] = {
            "customer": None,
            "orders": [],
            "open_tickets": [],
            "last_calls": [],
            "history": [],
        }
        if number.e164 is None:
            return empty
        area = self._phones.local_area_code
        async with self._sessions() as session:
            now = self._clock.now()
            profile = await caller_profile(
                session,
                stmt=self._stmt,
                e164=number.e164,
                since=self._policy.rules.window_start(now),
            )
            if profile is None:
                forms = number_forms([number.e164], [caller_number], area)
                empty["last_calls"] = await _last_calls(session, forms)
                return empty
            cid = profile.customer_id
            phones = await customer_phones(session, customer_id=cid)
            orders = await last_orders(session, customer_id=cid, limit=LAST_ORDERS)
            tickets = await open_tickets(session, customer_id=cid, limit=OPEN_TICKETS)
            events = await customer_ticket_events(session, customer_id=cid, limit=HISTORY_EVENTS)
            forms = number_forms(phones or [number.e164], [caller_number], area)
            calls = await _last_calls(session, forms)
        tier = derive_tier(profile, self._policy.rules)
        return {
            "customer": {
                "id": cid,
                "name": profile.name,
                "tier": tier.value,
                "tier_source": "explicit" if profile.tier is not None else "orders",
                "order_count": profile.stats.order_count,
                "phones": phones,
                "last_agent": profile.last_agent,
            },
            "orders": [_order(o) for o in orders],
            "open_tickets": [_ticket(t) for t in tickets],
            "last_calls": calls,
            "history": [
                {
                    "ticket_id": t.id,
                    "ticket_type": t.type,
                    "ticket_title": t.title,
                    "kind": ev.kind,
                    "body": ev.body,
                    "actor": ev.actor,
                    "at": _iso(ev.at),
                }
                for ev, t in events
            ],
        }


async def _last_calls(session: AsyncSession, forms: list[str]) -> list[dict[str, Any]]:
    rows = await last_calls(session, caller_numbers=forms, limit=LAST_CALLS)
    notes: dict[str, list[dict[str, str]]] = {}
    for n in await call_notes(session, linkedids=[r.linkedid for r in rows]):
        notes.setdefault(n.linkedid, []).append(
            {"agent": n.agent, "disposition": n.disposition, "note": n.note}
        )
    return [
        {
            "call_id": r.linkedid,
            "started_at": _iso(r.started_at),
            "outcome": r.outcome,
            "agent": r.agent,
            "queue": r.queue,
            "talk_s": r.talk_s,
            "notes": notes.get(r.linkedid, []),
        }
        for r in rows
    ]
