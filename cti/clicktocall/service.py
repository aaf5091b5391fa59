"""Placing an agent's click-to-call and settling it when the call ends.

The agent's own phone rings first (AMI ``Originate`` of the agent's interface,
``Async``, with a ``ChannelId`` we choose: the call's id is known before its
first event). When the agent answers, the ``cti-callback`` dialplan records the
agent's leg and dials the customer, presenting the shop's number. The tracker
files the call as outbound with the customer as its party
(``CTI_CUSTOMER``) and the agent as its answerer once the customer answers
(``CTI_CALLBACK_AGENT``).

The row is written before anything reaches Asterisk; the call's end settles it
through a durable job (:mod:`cti.clicktocall.results`), so neither a restart
nor a database outage loses the result on the ticket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.agents.models import Agent
from cti.agents.state import AgentStateTracker
from cti.ami.actions import ActionSender, check_channel, originate
from cti.ami.failures import connected_sender
from cti.ami.protocol import AmiActionError, AmiActionTimeout, AmiConnectionLost, AmiNotConnected
from cti.clicktocall.config import ClickToCallSettings
from cti.clicktocall.models import AgentCall, AgentCallStatus
from cti.clicktocall.results import CallEnd, apply_end
from cti.clicktocall.schemas import AgentCallIn
from cti.clock import Clock
from cti.confirmations.dialler import dial_string, new_channel_id
from cti.customers.models import CustomerPhone
from cti.customers.phones import PhoneNormalizer
from cti.errors import Conflict, InvalidInput, NotFound
from cti.shops.models import Shop
from cti.shops.service import GLOBAL, is_blocked
from cti.tickets.models import Ticket

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallPlan:
    """What will be dialled, checked and resolved, before anything reaches Asterisk."""

    agent: str
    interface: str
    phone: str
    shop: str | None
    order_id: str | None
    ticket_id: int | None
    caller_id: str


class ClickToCall:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: ClickToCallSettings,
        *,
        phones: PhoneNormalizer,
        clock: Clock,
        ami: Callable[[], object | None],
        agent_states: AgentStateTracker,
        interface_of: Callable[[str], str],
        live_call: Callable[[str], object | None],
        on_a_call: Callable[[str], bool],
    ) -> None:
        self._sessions = sessions
        self.settings = settings
        self._phones = phones
        self._clock = clock
        self._ami = ami
        self._agent_states = agent_states
        self._interface_of = interface_of
        self._live_call = live_call
        self._on_a_call = on_a_call
        self._tasks: set[asyncio.Task[None]] = set()

    # -- placing -------------------------------------------------------------------------

    async def plan(self, session: AsyncSession, agent: str, data: AgentCallIn) -> CallPlan:
        """Check the request: the agent's ticket, the number, the do-not-call list, the
        agent's phone; every refusal is a clear 4xx and nothing is dialled."""
        ticket = None
        if data.ticket_id is not None:
            ticket = await session.get(Ticket, data.ticket_id)
            if ticket is None or ticket.assignee != agent:
                raise NotFound(f"no ticket {data.ticket_id} assigned to agent {agent}")
        raw = data.phone
        if raw is None and ticket is not None:
            raw = ticket.caller_number or await _customer_phone(session, ticket.customer_id)
        if raw is None:
            raise InvalidInput("invalid phone: give 'phone', or a ticket with the caller's number")
        e164 = self._phones.e164(raw)
        if e164 is None:
            raise InvalidInput(f"invalid phone: {raw[:64]!r} is not a valid phone number")
        shop_id = data.shop or (ticket.shop if ticket is not None else None)
        caller_id = self.settings.caller_id
        if shop_id is not None:
            shop = await session.get(Shop, shop_id)
            if shop is None and data.shop is not None:
                raise NotFound(f"no shop {data.shop!r}")
            if shop is not None and shop.caller_id:
                caller_id = shop.caller_id
        if await is_blocked(session, e164, shop_id or GLOBAL):
            raise Conflict(f"{e164} is on the do-not-call list", code="do_not_call")
        interface = self._interface_of(agent)
        if await session.scalar(select(Agent.id).where(Agent.extension == agent)) is None:
            raise NotFound(f"no agent {agent}: an agent must be set up before it can call")
        self._check_phone(agent, interface)
        return CallPlan(
            agent=agent,
            interface=interface,
            phone=e164,
            shop=shop_id,
            order_id=data.order_id or (ticket.order_id if ticket is not None else None),
            ticket_id=ticket.id if ticket is not None else None,
            caller_id=caller_id,
        )

    def _check_phone(self, agent: str, interface: str) -> None:
        if self._on_a_call(interface) or self._agent_states.phone_busy(interface):
            raise Conflict(f"agent {agent} is on a call; hang up first", code="agent_busy")
        if not self._agent_states.phone_reachable(interface):
            raise Conflict(
                f"agent {agent}'s phone ({interface}) is not registered", code="agent_unreachable"
            )

    def sender(self) -> ActionSender:
        return connected_sender(self._ami())

    async def start(self, plan: CallPlan, requested_by: str) -> AgentCall:
        """Write the call's row, then ring the agent's phone (in the background: the
        agent may take its time to answer)."""
        sender = self.sender()
        try:
            dial = dial_string(self.settings.dial_template, plan.phone)
            check_channel(dial)
        except (ValueError, KeyError, phonenumbers.NumberParseException) as exc:
            raise InvalidInput(f"invalid phone: {plan.phone} cannot be dialled ({exc})") from None
        now = self._clock.now()
        row = AgentCall(
            call_id=new_channel_id(now),
            agent=plan.agent,
            phone=plan.phone,
            shop=plan.shop,
            order_id=plan.order_id,
            ticket_id=plan.ticket_id,
            caller_id=plan.caller_id,
            status=AgentCallStatus.RINGING_AGENT.value,
            requested_by=requested_by[:100],
            requested_at=now,
        )
        async with self._sessions() as session, session.begin():
            session.add(row)
        task = asyncio.get_running_loop().create_task(self._ring(sender, row, plan, dial))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return row

    async def _ring(self, sender: ActionSender, row: AgentCall, plan: CallPlan, dial: str) -> None:
        variables = {
            "CTI_DIRECTION": "outbound",
            "CTI_CUSTOMER": plan.phone,
            "CTI_CALLBACK_AGENT": plan.interface,
            "CTI_CALLBACK_DIAL": dial,
            "CTI_CALLBACK_CLID": plan.caller_id,
            "CTI_CALLBACK_RING_S": str(self.settings.customer_ring_s),
        }
        if plan.order_id:
            variables["CTI_ORDER_ID"] = plan.order_id
        if plan.shop:
            variables["CTI_SHOP"] = plan.shop
        if plan.ticket_id is not None:
            variables["CTI_TICKET"] = str(plan.ticket_id)
        reason: int | None = None
        try:
            result = await originate(
                sender,
                plan.interface,
                context=self.settings.context,
                exten="s",
                # The agent's phone shows whom it is about to call.
                caller_id=f'"回拨" <{plan.phone}>',
                ring_timeout=self.settings.agent_ring_s,
                channel_id=row.call_id,
                variables=variables,
            )
            reason = result.reason
        except AmiActionError as exc:
            log.warning("Asterisk refused call %s of agent %s: %s", row.call_id, plan.agent, exc)
        except (AmiConnectionLost, AmiNotConnected, AmiActionTimeout) as exc:
            log.warning("call %s of agent %s: outcome unknown: %s", row.call_id, plan.agent, exc)
            return  # the tracker tells whether the call exists; its end settles the row
        except Exception:
            log.exception("call %s of agent %s could not be placed", row.call_id, plan.agent)
        if reason == 4:
            return  # the agent answered: the call's end settles it
        await asyncio.sleep(2)  # the agent's channel, if there was one, ends first
        if self._live_call(row.call_id) is None:
            await self.settle_unplaced(row.call_id)

    async def settle_unplaced(self, call_id: str) -> None:
        """The agent's phone never answered and no call is left: no customer was dialled
        (a call that did exist is settled by its end, and only once)."""
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            await apply_end(session, CallEnd(call_id=call_id, ended_at=now), self.settings, now)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _customer_phone(session: AsyncSession, customer_id: int | None) -> str | None:
    if customer_id is None:
        return None
    found: str | None = await session.scalar(
        select(CustomerPhone.e164).where(CustomerPhone.customer_id == customer_id).limit(1)
    )
    return found
