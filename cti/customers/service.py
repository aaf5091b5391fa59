"""Customers by phone, orders in, and who served a caller last."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from cti.customers.models import Customer, CustomerPhone, Order
from cti.customers.phones import PhoneNormalizer
from cti.customers.tiers import Tier
from cti.errors import InvalidInput


class CustomerError(InvalidInput):
    """Input that cannot make a customer or an order (the message says why)."""


async def find_by_phone(
    session: AsyncSession, *, phones: PhoneNormalizer, number: str | None
) -> Customer | None:
    """The customer owning this number in any written form; None if unknown or withheld."""
    e164 = phones.e164(number)
    if e164 is None:
        return None
    return await find_by_e164(session, e164)


async def find_by_e164(session: AsyncSession, e164: str) -> Customer | None:
    stmt = (
        select(Customer)
        .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
        .where(CustomerPhone.e164 == e164)
        .options(selectinload(Customer.phones))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def require_number(phones: PhoneNormalizer, raw: str) -> str:
    """The E.164 key of ``raw``, or :class:`CustomerError` when no customer can call from it."""
    e164 = phones.e164(raw)
    if e164 is None:
        raise CustomerError(f"{raw!r} is not a phone number a customer can call from")
    return e164


async def upsert_customer(
    session: AsyncSession,
    *,
    phones: PhoneNormalizer,
    phone: str,
    name: str | None,
    at: datetime,
    tier: str | None = None,
) -> Customer:
    """The customer with this phone, created if new; a given name or tier replaces the old."""
    if tier is not None and tier not in set(Tier):
        raise CustomerError(f"unknown tier {tier!r}; known: {', '.join(Tier)}")
    e164 = require_number(phones, phone)
    customer = await find_by_e164(session, e164)
    if customer is None:
        customer = Customer(name=(name or "").strip(), tier=tier, created_at=at, updated_at=at)
        customer.phones = [CustomerPhone(e164=e164, raw=phone.strip()[:64], created_at=at)]
        session.add(customer)
        await session.flush()
        return customer
    if name is not None and name.strip() and name.strip() != customer.name:
        customer.name = name.strip()
        customer.updated_at = at
    if tier is not None and tier != customer.tier:
        customer.tier = tier
        customer.updated_at = at
    return customer


async def add_phone(
    session: AsyncSession,
    *,
    phones: PhoneNormalizer,
    customer: Customer,
    phone: str,
    at: datetime,
) -> CustomerPhone:
    """Give a customer another number; a number already owned by another customer is refused."""
    e164 = require_number(phones, phone)
    owner = (
        await session.execute(select(CustomerPhone).where(CustomerPhone.e164 == e164))
    ).scalar_one_or_none()
    if owner is not None:
        if owner.customer_id != customer.id:
            raise CustomerError(f"{phone!r} already belongs to customer {owner.customer_id}")
        return owner
    row = CustomerPhone(customer_id=customer.id, e164=e164, raw=phone.strip()[:64], created_at=at)
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True, slots=True)
class OrderData:
    shop: str
    order_id: str
    phone: str
    amount: Decimal
    status: str
    created_at: datetime
    currency: str = "CNY"
    customer_name: str | None = None
    customer_tier: str | None = None
    items: Sequence[dict[str, Any]] = field(default_factory=tuple)
    shipping_address: dict[str, Any] | str | None = None


async def upsert_order(
    session: AsyncSession, data: OrderData, at: datetime, *, phones: PhoneNormalizer
) -> Order:
    """Insert or update one order by ``(shop, order_id)``, creating its customer if new."""
    customer = await upsert_customer(
        session,
        phones=phones,
        phone=data.phone,
        name=data.customer_name,
        at=at,
        tier=data.customer_tier,
    )
    order = (
        await session.execute(
            select(Order).where(Order.shop == data.shop, Order.order_id == data.order_id)
        )
    ).scalar_one_or_none()
    if order is None:
        order = Order(shop=data.shop, order_id=data.order_id, created_at=data.created_at)
        session.add(order)
    order.customer_id = customer.id
    order.amount = data.amount
    order.currency = data.currency
    order.status = data.status
    order.items = list(data.items)
    order.shipping_address = data.shipping_address
    order.updated_at = at
    await session.flush()
    return order


async def last_orders(session: AsyncSession, customer_id: int, limit: int = 5) -> list[Order]:
    stmt = (
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def record_answered(
    session: AsyncSession,
    *,
    phones: PhoneNormalizer,
    caller_number: str | None,
    agent_interface: str,
    at: datetime,
) -> bool:
    """Remember who answered this caller, for the next call's preferred agent.

    One UPDATE; an older event (replayed after a reconnect) never overwrites a
    newer one. False when the caller is not a known customer.
    """
    agent = agent_interface.strip()
    e164 = phones.e164(caller_number)
    if e164 is None or not agent:
        return False
    owner = select(CustomerPhone.customer_id).where(CustomerPhone.e164 == e164)
    result = await session.execute(
        update(Customer)
        .where(Customer.id == owner.scalar_subquery())
        .where(or_(Customer.last_call_at.is_(None), Customer.last_call_at <= at))
        .values(last_agent=agent[:80], last_call_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
