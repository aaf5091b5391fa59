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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cti.customers.models import Customer, CustomerPhone
from cti.customers.phones import PhoneNormalizer
from cti.errors import InvalidInput
from cti.orders.models import Order
from cti.orders.schemas import OrderIn, OrderLine, OrderOut

#: Longest NDJSON line accepted (a big order with 500 items fits).
MAX_LINE_BYTES = 256 * 1024
# Keeps every statement well under SQLite's and asyncpg's bound-parameter limits.
_IN_CHUNK = 900


class LineError(InvalidInput):
    """A line or order that cannot be imported; the message says why."""


@dataclass(frozen=True, slots=True)
class ParsedOrder:
    order_id: str
    order: OrderIn
    e164: str


@dataclass(slots=True)
class _CustomerDetails:
    raw: str
    name: str = ""
    tier: str | None = None


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
        msg = err.get("msg", "invalid")
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


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database {dialect!r}")


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _items(order: OrderIn) -> list[dict[str, Any]]:
    # Prices as strings: exact in JSON, unlike floats.
    return [
        {"sku": i.sku, "name": i.name, "qty": i.qty, "price": str(i.price)} for i in order.items
    ]


def _address(order: OrderIn) -> Any:
    # Round-trips through JSON so only JSON types reach the column.
    value = order.shipping_address
    return json.loads(json.dumps(value, ensure_ascii=False, default=str)) if value else None


async def _customers_by_phone(
    session: AsyncSession, e164s: Sequence[str]
) -> dict[str, tuple[int, str, str | None]]:
    found: dict[str, tuple[int, str, str | None]] = {}
    for chunk in _chunks(e164s):
        rows = await session.execute(
            select(CustomerPhone.e164, Customer.id, Customer.name, Customer.tier)
            .join(Customer, Customer.id == CustomerPhone.customer_id)
            .where(CustomerPhone.e164.in_(chunk))
        )
        for e164, cid, name, tier in rows:
            found[e164] = (cid, name, tier)
    return found


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
    # counts (a later line naming the customer, or a superseded one, still does).
    details: dict[str, _CustomerDetails] = {}
    for p in batch:
        c = p.order.customer
        d = details.get(p.e164)
        if d is None:
            details[p.e164] = d = _CustomerDetails(raw=c.phone)
        if c.name:
            d.name = c.name
        if c.tier is not None:
            d.tier = c.tier.value
    known = await _customers_by_phone(session, list(details))
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
                _insert(session, Customer.__table__).returning(
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
            _insert(session, CustomerPhone.__table__).on_conflict_do_nothing(
                index_elements=["e164"]
            ),
            phone_rows,
        )
        # A concurrent import may have won a phone: read the final owners back.
        known.update(await _customers_by_phone(session, missing))
    changes = []
    for e, d in details.items():
        cid, name, tier = known[e]
        # As cti.customers.service.upsert_customer: a given name or tier replaces the old.
        want_name = d.name or name
        want_tier = d.tier if d.tier is not None else tier
        if want_name != name or want_tier != tier:
            changes.append({"id": cid, "name": want_name, "tier": want_tier, "updated_at": now})
    if changes:
        await session.execute(update(Customer), changes)

    # 2. orders: what is stored, to count inserts/updates/stale and move customers.
    stored: dict[tuple[str, str], tuple[datetime, int]] = {}
    ids_wanted = sorted({p.order_id for p in orders})
    for chunk in _chunks(ids_wanted):
        rows = await session.execute(
            select(Order.shop, Order.order_id, Order.updated_at, Order.customer_id).where(
                Order.order_id.in_(chunk)
            )
        )
        for shop, oid, upd, cid in rows:
            stored[(shop, oid)] = (upd, cid)
    values = []
    for key, p in latest.items():
        cid = known[p.e164][0]
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
        stmt = _insert(session, Order.__table__)
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


async def get_order(session: AsyncSession, shop: str, order_id: str) -> Order | None:
    found: Order | None = (
        await session.execute(select(Order).where(Order.shop == shop, Order.order_id == order_id))
    ).scalar_one_or_none()
    return found
