"""The caller as routing and the screen-pop see them: the customer and their order figures.

One statement: ``customer_phones.e164`` (unique index) finds the customer, and three
correlated subqueries count their orders, and count and sum the paid ones of the tier
window, through ``ix_orders_customer_id_created_at``. On PostgreSQL that index carries
every column the figures read, so each is an index-only scan of the customer's own
entries (the window's only, for the paid figures): no heap page per order, no sort of
the joined rows. Routing and the screen-pop use the same statement, so the tier an
agent sees is the tier the call was routed by.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cti.customers.models import Customer, CustomerPhone
from cti.customers.tiers import CustomerProfile, OrderStats, stored_tier
from cti.orders.models import Order

CallerSelect = Select[*tuple[Any, ...]]


def caller_statement(
    *, paid_statuses: Iterable[str], currency: str, enough: int | None = None
) -> CallerSelect:
    """The caller and their order figures; bind ``e164`` and ``since`` (start of the window).

    An order counts as paid when its status is one of ``paid_statuses``, it is in
    ``currency`` and it is an order of the shop that brought the customer. Build it
    once and reuse it (:func:`caller_profile`).

    ``enough``: read no more than what tells the tier (:func:`cti.acd.policy.derive_tier`
    with ``vip_order_count == enough``): whether there is an order at all, and up to
    ``enough`` paid ones of the window. ``order_count`` is then 0 or 1 and
    ``paid_count`` at most ``enough``; ``paid_total`` is exact whenever
    ``paid_count < enough``, and when it is not the customer is a VIP by count
    anyway. So the tier is the one the exact figures give, and a customer with
    thousands of orders costs what any other does. The AGI routes with this; the
    screen-pop, which shows the count, reads the exact figures.
    """
    paid = and_(
        Order.customer_id == Customer.id,
        Order.created_at >= bindparam("since", type_=Order.created_at.type),
        # Not IN (...): an IN list is an "expanding" parameter, whose SQL SQLAlchemy
        # renders again at every execution; these equalities are compiled once.
        or_(*(Order.status == status for status in sorted(paid_statuses))),
        Order.currency == currency,
        # Only the shop that brought the customer can make them a VIP by its orders;
        # every shop's orders make them a returning customer (cti.customers.service.settle).
        or_(Customer.shop.is_(None), Order.shop == Customer.shop),
    )
    orders = select(Order.amount).where(Order.customer_id == Customer.id).correlate(Customer)
    paid_orders = select(Order.amount).where(paid).correlate(Customer)
    if enough is not None:
        orders = orders.limit(1)
        paid_orders = paid_orders.limit(enough)
    some, some_paid = orders.subquery("orders_read"), paid_orders.subquery("paid_read")
    return (
        select(
            Customer.id,
            Customer.name,
            Customer.tier,
            Customer.last_agent,
            Customer.last_call_at,
            select(func.count()).select_from(some).scalar_subquery().label("order_count"),
            select(func.count()).select_from(some_paid).scalar_subquery().label("paid_count"),
            select(func.coalesce(func.sum(some_paid.c.amount), 0))
            .scalar_subquery()
            .label("paid_total"),
        )
        .select_from(CustomerPhone)
        .join(Customer, Customer.id == CustomerPhone.customer_id)
        .where(CustomerPhone.e164 == bindparam("e164"))
    )


async def caller_profile(
    db: AsyncSession | AsyncConnection, *, stmt: CallerSelect, e164: str, since: datetime
) -> CustomerProfile | None:
    """The customer owning ``e164`` with their figures since ``since``; None if unknown.

    On a connection the statement runs as plain SQL, without the ORM's execution and row
    handling a session adds (which cost the AGI's lookup as much client CPU again as its
    round trip: ``benchmarks/routing.py``); the rows are the same.
    """
    row = (await db.execute(stmt, {"e164": e164, "since": since})).one_or_none()
    if row is None:
        return None
    return CustomerProfile(
        customer_id=row.id,
        name=row.name,
        tier=stored_tier(row.tier),
        stats=OrderStats(
            order_count=int(row.order_count),
            recent_paid_count=int(row.paid_count),
            # SQLite sums NUMERIC as float; str() keeps the cents exact enough to compare.
            recent_paid_total=Decimal(str(row.paid_total)),
        ),
        last_agent=row.last_agent,
        last_call_at=row.last_call_at,
    )
