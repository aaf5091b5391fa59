"""Confirmation requests: create (idempotent), read, list and withdraw.

The dialler (the scheduler on the durable jobs) takes the ``queued`` ones whose
``next_attempt_at`` has come; this module only records what the shop asked for.

Idempotency rests on the unique constraint ``(shop, idempotency_key)``: of concurrent
requests with one key, exactly one INSERT wins; the others roll back and answer with
the winner's stored first response (same body) or 409 (another body). That holds on
PostgreSQL and SQLite alike, with no lock of our own.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from cti.bounds import is_public_id
from cti.confirmations.models import Confirmation, ConfirmationStatus
from cti.confirmations.schemas import (
    AttemptOut,
    ConfirmationDetailOut,
    ConfirmationIn,
    ConfirmationOut,
    FactsOut,
    facts_of,
    request_hash,
)
from cti.errors import Conflict, InvalidInput, NotFound
from cti.orders.service import get_order
from cti.shops.service import get_shop, is_blocked

ID_PREFIX = "cfm_"
DO_NOT_CALL_NOTE = "the number is on the do-not-call list: it is never dialled"


def new_public_id() -> str:
    """``cfm_`` and 26 base32 characters (130 random bits)."""
    raw = base64.b32encode(secrets.token_bytes(20)).decode("ascii").lower()
    return ID_PREFIX + raw[:26]


def looks_like_id(value: str) -> bool:
    return is_public_id(value, ID_PREFIX)


def confirmation_out(row: Confirmation) -> ConfirmationOut:
    return ConfirmationOut(**_fields(row))


def confirmation_detail(row: Confirmation) -> ConfirmationDetailOut:
    return ConfirmationDetailOut(
        **_fields(row), attempt_log=[AttemptOut.model_validate(a) for a in row.attempt_rows]
    )


def _fields(row: Confirmation) -> dict[str, Any]:
    status = ConfirmationStatus(row.status)
    return {
        "id": row.public_id,
        "shop": row.shop,
        "order_id": row.order_id,
        "phone": row.phone,
        "facts": FactsOut.model_validate(row.facts),
        "status": status,
        "attempts": row.attempts,
        "max_attempts": row.max_attempts,
        "next_attempt_at": row.next_attempt_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "finished_at": row.finished_at,
        "note": DO_NOT_CALL_NOTE if status is ConfirmationStatus.DO_NOT_CALL else None,
    }


OnCreated = Callable[[AsyncSession, Confirmation, datetime], Awaitable[None]]
"""Called in the transaction that stores a new ``queued`` confirmation (not one on the
do-not-call list): the dialler schedules its first attempt there, so a request is never
stored without its job."""


@dataclass(frozen=True, slots=True)
class Created:
    body: dict[str, Any]
    """The response body (JSON types): the first one, for a repeated request."""
    replayed: bool
    """True: an earlier request with the same key and body made it."""


@dataclass(frozen=True, slots=True)
class NewConfirmation:
    shop: str
    phone: str
    """E.164."""
    data: ConfirmationIn
    idempotency_key: str
    max_attempts: int
    hash: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hash", request_hash(self.shop, self.phone, self.data))


async def _by_key(session: AsyncSession, shop: str, key: str) -> Confirmation | None:
    stmt = select(Confirmation).where(
        Confirmation.shop == shop, Confirmation.idempotency_key == key
    )
    found: Confirmation | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


def _replay(row: Confirmation, want: NewConfirmation) -> Created:
    if row.request_hash != want.hash:
        raise Conflict(
            f"Idempotency-Key {want.idempotency_key!r} was used with another request body "
            f"(confirmation {row.public_id}); use a new key for a new request"
        )
    return Created(dict(row.first_response), replayed=True)


async def create_confirmation(
    sessions: async_sessionmaker[AsyncSession],
    want: NewConfirmation,
    *,
    now: datetime,
    on_created: OnCreated | None = None,
) -> Created:
    """Store the request once per ``(shop, Idempotency-Key)``; owns its transactions.

    The order must be the shop's, pushed before (``PUT /api/v1/orders/{id}``).
    A number on the do-not-call list is accepted and final at once (``do_not_call``).
    ``on_created`` runs once per new request, in the transaction that stores it
    (the first dial job, or the shop's webhook for a request final at once).
    """
    async with sessions() as session:
        async with session.begin():
            found = await _by_key(session, want.shop, want.idempotency_key)
        if found is not None:
            return _replay(found, want)
        try:
            async with session.begin():
                row = await _insert(session, want, now=now)
                if on_created is not None:
                    await on_created(session, row, now)
            return Created(dict(row.first_response), replayed=False)
        except IntegrityError:
            # Another request with this key committed first: answer as it did.
            pass
    async with sessions() as session, session.begin():
        found = await _by_key(session, want.shop, want.idempotency_key)
        if found is None:  # pragma: no cover - the unique key we collided on is there
            raise Conflict("the request collided with another one; try again")
        return _replay(found, want)


async def _insert(session: AsyncSession, want: NewConfirmation, *, now: datetime) -> Confirmation:
    if await get_shop(session, want.shop) is None:
        raise InvalidInput(
            f"invalid shop: no shop {want.shop!r} is set up for confirmation calls "
            f"(an operator adds it: cti shop add {want.shop})"
        )
    order_id = want.data.order_id
    if await get_order(session, want.shop, order_id) is None:
        # The same words whether the order is missing or another shop's: a shop learns
        # nothing of other shops' orders. 422 and wording as for a ticket's order.
        raise InvalidInput(
            f"invalid order_id: no order {order_id!r} of shop {want.shop!r}; "
            f"push the order first (PUT /api/v1/orders/{order_id})"
        )
    blocked = await is_blocked(session, want.phone, want.shop)
    row = Confirmation(
        public_id=new_public_id(),
        shop=want.shop,
        order_id=want.data.order_id,
        phone=want.phone,
        facts=facts_of(want.data),
        status=(ConfirmationStatus.DO_NOT_CALL if blocked else ConfirmationStatus.QUEUED).value,
        attempts=0,
        max_attempts=want.max_attempts,
        next_attempt_at=None if blocked else now,
        idempotency_key=want.idempotency_key,
        request_hash=want.hash,
        created_at=now,
        updated_at=now,
        finished_at=now if blocked else None,
    )
    row.first_response = confirmation_out(row).model_dump(mode="json")
    session.add(row)
    await session.flush()
    return row


async def get_confirmation(
    session: AsyncSession, public_id: str, *, shop: str | None
) -> Confirmation | None:
    """The confirmation with its attempts; ``shop`` set: only if it is that shop's."""
    if not looks_like_id(public_id):
        return None
    stmt = (
        select(Confirmation)
        .where(Confirmation.public_id == public_id)
        .options(selectinload(Confirmation.attempt_rows))
        .execution_options(populate_existing=True)
    )
    if shop is not None:
        stmt = stmt.where(Confirmation.shop == shop)
    found: Confirmation | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


@dataclass(frozen=True, slots=True)
class ConfirmationFilter:
    shop: str | None = None
    status: list[str] = field(default_factory=list)
    order_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_confirmations(
    session: AsyncSession, f: ConfirmationFilter, limit: int, offset: int
) -> tuple[list[Confirmation], int]:
    """Newest first, and how many match."""
    where = []
    if f.shop is not None:
        where.append(Confirmation.shop == f.shop)
    if f.status:
        where.append(Confirmation.status.in_(f.status))
    if f.order_id is not None:
        where.append(Confirmation.order_id == f.order_id)
    if f.since is not None:
        where.append(Confirmation.created_at >= f.since)
    if f.until is not None:
        where.append(Confirmation.created_at < f.until)
    total = await session.scalar(select(func.count()).select_from(Confirmation).where(*where))
    stmt = (
        select(Confirmation)
        .where(*where)
        .order_by(Confirmation.created_at.desc(), Confirmation.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.execute(stmt)).scalars()), int(total or 0)


async def withdraw_confirmation(
    session: AsyncSession, public_id: str, *, shop: str | None, now: datetime
) -> Confirmation:
    """Withdraw one not yet dialled (``queued``, no attempt); again: no change.

    One conditional UPDATE, so a dialler taking it at the same moment and this never
    both win.
    """
    row = await get_confirmation(session, public_id, shop=shop)
    if row is None:
        raise NotFound(f"no confirmation {public_id!r}")
    result = await session.execute(
        update(Confirmation)
        .where(
            Confirmation.id == row.id,
            Confirmation.status == ConfirmationStatus.QUEUED.value,
            Confirmation.attempts == 0,
        )
        .values(
            status=ConfirmationStatus.WITHDRAWN.value,
            next_attempt_at=None,
            finished_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    row = await get_confirmation(session, public_id, shop=shop)
    if row is None:  # pragma: no cover - read just above
        raise NotFound(f"no confirmation {public_id!r}")
    if (
        not (isinstance(result, CursorResult) and result.rowcount)
        and row.status != ConfirmationStatus.WITHDRAWN.value
    ):
        raise Conflict(
            f"confirmation {public_id} cannot be withdrawn: it is {row.status} after "
            f"{row.attempts} attempt(s); only one still queued and never dialled can be"
        )
    return row
