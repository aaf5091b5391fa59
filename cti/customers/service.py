"""Customers by phone: lookups, upserts (one, or a batch for the orders import), last agent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    """The customer with this phone, created if new; a given name or tier replaces the old.

    An operator's (or the centre's own) word: it is not a shop's, so no shop brings the
    customer here (:func:`settle` is the rule for shops' orders).
    """
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
class ShopWord:
    """What one shop's orders say about a customer (the last name and tier given win)."""

    name: str = ""
    tier: str | None = None


@dataclass(slots=True)
class CustomerDetails:
    """What a batch of orders says about one number: the number as written, and each
    shop's word about its customer, in the order the shops first appear."""

    raw: str
    shops: dict[str, ShopWord] = field(default_factory=dict)

    def said_by(self, shop: str) -> ShopWord:
        return self.shops.setdefault(shop, ShopWord())


Standing = tuple[str, str | None, str | None]
"""A customer's ``(name, tier, shop)``: what changes how their calls are treated."""


def settle(current: Standing, details: CustomerDetails) -> Standing:
    """A customer's name, tier and owning shop after a batch of orders: the sharing rule.

    The shop that brought the customer (``customers.shop``; for a customer no shop has
    brought yet, the first shop of the batch) is the only one whose name and tier count:
    a name it gives replaces the old, a tier it gives replaces the old. Another shop's
    name only fills an empty name; another shop's tier never counts. So one shop cannot
    rename another shop's customer or make them a VIP (queue priority).
    """
    name, tier, owner = current
    if owner is None:
        owner = next(iter(details.shops), None)
    word = details.shops.get(owner) if owner is not None else None
    if word is not None:
        name = word.name or name
        tier = word.tier if word.tier is not None else tier
    if not name:
        name = next((w.name for w in details.shops.values() if w.name), "")
    return name, tier, owner


async def _owners(session: AsyncSession, e164s: Sequence[str]) -> dict[str, tuple[int, Standing]]:
    found: dict[str, tuple[int, Standing]] = {}
    for chunk in chunks(e164s):
        rows = await session.execute(
            select(CustomerPhone.e164, Customer.id, Customer.name, Customer.tier, Customer.shop)
            .join(Customer, Customer.id == CustomerPhone.customer_id)
            .where(CustomerPhone.e164.in_(chunk))
        )
        for e164, cid, name, tier, shop in rows:
            found[e164] = (cid, (name, tier, shop))
    return found


async def upsert_customers(
    session: AsyncSession, *, details: Mapping[str, CustomerDetails], now: datetime
) -> dict[str, int]:
    """The customer id of each E.164 number, creating customers for new numbers.

    Names and tiers follow :func:`settle` (only the shop that brought a customer sets
    them), in a few statements whatever the batch size, for the orders import.
    """
    known = await _owners(session, list(details))
    missing = [e for e in details if e not in known]
    if missing:
        new_rows = []
        for e in missing:
            name, tier, shop = settle(("", None, None), details[e])
            new_rows.append(
                {"name": name, "tier": tier, "shop": shop, "created_at": now, "updated_at": now}
            )
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
        cid, standing = known[e]
        name, tier, shop = settle(standing, d)
        if (name, tier, shop) != standing:
            changes.append({"id": cid, "name": name, "tier": tier, "shop": shop, "updated_at": now})
    if changes:
        await session.execute(update(Customer), changes)
    return {e: cid for e, (cid, _) in known.items()}


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
