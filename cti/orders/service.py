"""Orders in: validation, customer matching by phone, batched upserts.

One code path serves the single ``PUT`` and the bulk import
(:mod:`cti.orders.imports`): a batch of parsed orders is written, in the
caller's transaction, with a handful of statements (look up phones, create the
customers not seen before, upsert the orders, refresh the customers' tier
figures), so a million-line file loads in minutes and a single order costs the
same few round trips.

Upserts are idempotent and ordered by the shop's own ``updated_at``: an order
whose stored copy is newer is left alone (a retried or late push never rolls
an order back).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.bounds import plain_reason
from cti.customers.phones import PhoneNormalizer
from cti.customers.service import CustomerDetails, upsert_customers
from cti.db.batch import chunks, dialect_insert
from cti.errors import InvalidInput
from cti.orders.models import Order
from cti.orders.schemas import OrderIn, OrderLine, OrderOut

#: Longest NDJSON line accepted (a big order with 500 items fits).
MAX_LINE_BYTES = 256 * 1024


class LineError(InvalidInput):
    """A line or order that cannot be imported; the message says why."""


@dataclass(frozen=True, slots=True)
class ParsedOrder:
    order_id: str
    order: OrderIn
    e164: str


@dataclass(slots=True)
class BatchResult:
    inserted: int = 0
    updated: int = 0
    stale: int = 0
    created: set[str] = field(default_factory=set)
    """``order_id`` of the orders inserted (not updated) by this batch."""


def describe(exc: ValidationError) -> str:
    """One readable line for the first problem of an invalid order."""
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        ctx = err.get("ctx") or {}
        msg = plain_reason(err.get("type", ""), err.get("msg", "invalid"), ctx.get("pattern"))
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid order"


class OrderPhones:
    """A customer's phone as the orders table keys it, or :class:`LineError` with why not."""

    def __init__(self, phones: PhoneNormalizer) -> None:
        self._phones = phones

    def __call__(self, raw: str) -> str:
        e164 = self._phones.e164(raw)
        if e164 is None:
            raise LineError(f"customer.phone: {raw!r} is not a valid phone number")
        return e164


def parse_order(order_id: str, order: OrderIn, phones: Callable[[str], str]) -> ParsedOrder:
    return ParsedOrder(order_id, order, phones(order.customer.phone))


def parse_line(raw: bytes | str, phones: Callable[[str], str]) -> ParsedOrder:
    """One NDJSON line to an order, or :class:`LineError` with the reason."""
    if len(raw) > MAX_LINE_BYTES:
        raise LineError(f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        line = OrderLine.model_validate_json(raw)
    except ValidationError as exc:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            raise LineError("not valid JSON") from None
        if any(e.get("type") == "model_type" and not e.get("loc") for e in exc.errors()):
            raise LineError("a line must be one JSON object") from None
        raise LineError(describe(exc)) from None
    order = OrderIn.model_validate(line.model_dump(exclude={"order_id"}))
    return parse_order(line.order_id, order, phones)


def _items(order: OrderIn) -> list[dict[str, Any]]:
    # Prices as strings: exact in JSON, unlike floats.
    return [
        {"sku": i.sku, "name": i.name, "qty": i.qty, "price": str(i.price)} for i in order.items
    ]


def _address(order: OrderIn) -> Any:
    # Round-trips through JSON so only JSON types reach the column.
    value = order.shipping_address
    return json.loads(json.dumps(value, ensure_ascii=False, default=str)) if value else None


async def upsert_orders(
    session: AsyncSession, batch: Sequence[ParsedOrder], *, now: datetime
) -> BatchResult:
    """Write a batch of orders (and their customers) in the caller's transaction.

    ``now`` stamps the customers created or renamed; orders keep the shop's own times.
    """
    result = BatchResult()
    if not batch:
        return result
    # Last line wins inside a batch, as it would across batches.
    latest: dict[tuple[str, str], ParsedOrder] = {}
    for p in batch:
        latest[(p.order.shop, p.order_id)] = p
    orders = list(latest.values())

    # 1. customers, matched by phone; new phones make new customers. Every line
    # counts (a later line naming the customer, or a superseded one, still does), but
    # only for its own shop: a name or tier of a customer another shop brought is not
    # this shop's to change (cti.customers.service.settle).
    details: dict[str, CustomerDetails] = {}
    for p in batch:
        c = p.order.customer
        d = details.get(p.e164)
        if d is None:
            details[p.e164] = d = CustomerDetails(raw=c.phone)
        word = d.said_by(p.order.shop)
        if c.name:
            word.name = c.name
        if c.tier is not None:
            word.tier = c.tier.value
    customer_ids = await upsert_customers(session, details=details, now=now)

    # 2. orders: what is stored, to count inserts/updates/stale and move customers.
    stored: dict[tuple[str, str], tuple[datetime, int]] = {}
    ids_wanted = sorted({p.order_id for p in orders})
    for chunk in chunks(ids_wanted):
        rows = await session.execute(
            select(Order.shop, Order.order_id, Order.updated_at, Order.customer_id).where(
                Order.order_id.in_(chunk)
            )
        )
        for shop, oid, upd, cid in rows:
            stored[(shop, oid)] = (upd, cid)
    values = []
    for key, p in latest.items():
        cid = customer_ids[p.e164]
        before = stored.get(key)
        if before is not None and before[0] > p.order.updated_at:
            result.stale += 1
            continue
        if before is None:
            result.inserted += 1
            result.created.add(p.order_id)
        else:
            result.updated += 1
        o = p.order
        values.append(
            {
                "shop": o.shop,
                "order_id": p.order_id,
                "customer_id": cid,
                "amount": o.amount,
                "currency": o.currency,
                "status": o.status,
                "items": _items(o),
                "shipping_address": _address(o),
                "created_at": o.created_at,
                "updated_at": o.updated_at,
            }
        )
    if values:
        stmt = dialect_insert(session, Order.__table__)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["shop", "order_id"],
            set_={
                col: excluded[col]
                for col in (
                    "customer_id",
                    "amount",
                    "currency",
                    "status",
                    "items",
                    "shipping_address",
                    "created_at",
                    "updated_at",
                )
            },
            where=Order.__table__.c.updated_at <= excluded.updated_at,
        )
        await session.execute(stmt, values)
    # The tier the routing uses is derived from these rows at lookup time
    # (cti.customers.profile.caller_statement), so it is current once they are written.
    return result


def order_out(row: Order) -> OrderOut:
    return OrderOut(
        order_id=row.order_id,
        shop=row.shop,
        customer_id=row.customer_id,
        amount=row.amount,
        currency=row.currency,
        status=row.status,
        items=[
            {"sku": i["sku"], "name": i["name"], "qty": i["qty"], "price": Decimal(i["price"])}
            for i in row.items or []
        ],
        shipping_address=row.shipping_address,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def last_orders(session: AsyncSession, *, customer_id: int, limit: int = 5) -> list[Order]:
    """A customer's newest orders first (``ix_orders_customer_id_created_at``)."""
    stmt = (
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def orders_by_id(
    session: AsyncSession, *, order_id: str, shop: str | None = None, limit: int = 2
) -> list[Order]:
    """Orders with this shop-given id, in ``shop`` or (when None) in any shop."""
    stmt = select(Order).where(Order.order_id == order_id)
    if shop:
        stmt = stmt.where(Order.shop == shop)
    return list((await session.execute(stmt.order_by(Order.id).limit(limit))).scalars())


async def get_order(session: AsyncSession, shop: str, order_id: str) -> Order | None:
    found: Order | None = (
        await session.execute(select(Order).where(Order.shop == shop, Order.order_id == order_id))
    ).scalar_one_or_none()
    return found
