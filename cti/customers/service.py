"""Customers by phone: lookups, upserts (one, or a batch for the orders import), last agent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from cti.customers.models import Customer, CustomerPhone
from cti.customers.phones import PhoneNormalizer
from cti.customers.tiers import Tier
from cti.db.batch import chunks, dialect_insert
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


async def customer_exists(session: AsyncSession, *, customer_id: int) -> bool:
    found = await session.scalar(select(Customer.id).where(Customer.id == customer_id))
    return found is not None


async def find_by_e164(session: AsyncSession, e164: str) -> Customer | None:
    stmt = (
        select(Customer)
        .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
        .where(CustomerPhone.e164 == e164)
        .options(selectinload(Customer.phones))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def customer_phones(session: AsyncSession, *, customer_id: int) -> list[str]:
    """The E.164 numbers of a customer, oldest first."""
    rows = await session.execute(
        select(CustomerPhone.e164)
        .where(CustomerPhone.customer_id == customer_id)
        .order_by(CustomerPhone.id)
    )
    return list(rows.scalars())


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


@dataclass(slots=True)
class CustomerDetails:
    """What an order says about its customer: the number as written, a name, a tier."""

    raw: str
    name: str = ""
    tier: str | None = None


async def _owners(
    session: AsyncSession, e164s: Sequence[str]
) -> dict[str, tuple[int, str, str | None]]:
    found: dict[str, tuple[int, str, str | None]] = {}
    for chunk in chunks(e164s):
        rows = await session.execute(
            select(CustomerPhone.e164, Customer.id, Customer.name, Customer.tier)
            .join(Customer, Customer.id == CustomerPhone.customer_id)
            .where(CustomerPhone.e164.in_(chunk))
        )
        for e164, cid, name, tier in rows:
            found[e164] = (cid, name, tier)
    return found


async def upsert_customers(
    session: AsyncSession, *, details: Mapping[str, CustomerDetails], now: datetime
) -> dict[str, int]:
    """The customer id of each E.164 number, creating customers for new numbers.

    The batch form of :func:`upsert_customer` (a given name or tier replaces the
    old), in a few statements whatever the batch size, for the orders import.
    """
    known = await _owners(session, list(details))
    missing = [e for e in details if e not in known]
    if missing:
        new_rows = [
            {
                "name": details[e].name,
                "tier": details[e].tier,
                "created_at": now,
                "updated_at": now,
            }
            for e in missing
        ]
        ids = (
            await session.execute(
                dialect_insert(session, Customer.__table__).returning(
                    Customer.__table__.c.id, sort_by_parameter_order=True
                ),
                new_rows,
            )
        ).scalars()
        phone_rows = [
            {"customer_id": cid, "e164": e, "raw": details[e].raw, "created_at": now}
            for e, cid in zip(missing, ids, strict=True)
        ]
        await session.execute(
            dialect_insert(session, CustomerPhone.__table__).on_conflict_do_nothing(
                index_elements=["e164"]
            ),
            phone_rows,
        )
        # A concurrent import may have won a phone: read the final owners back.
        known.update(await _owners(session, missing))
    changes = []
    for e, d in details.items():
        cid, name, tier = known[e]
        want_name = d.name or name
        want_tier = d.tier if d.tier is not None else tier
        if want_name != name or want_tier != tier:
            changes.append({"id": cid, "name": want_name, "tier": want_tier, "updated_at": now})
    if changes:
        await session.execute(update(Customer), changes)
    return {e: cid for e, (cid, _, _) in known.items()}


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
