"""Shops (webhook, secret, calling window, limits) and the do-not-call list.

Keyword-only functions on the caller's session; they flush, the caller commits.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.db.batch import dialect_insert
from cti.errors import InvalidInput, NotFound
from cti.shops import rules
from cti.shops.models import DoNotCall, Shop
from cti.shops.schemas import ShopIn, ShopOut

SECRET_PREFIX = "whsec_"
GLOBAL = ""
"""The ``shop`` of a do-not-call entry that holds for every shop."""


def _rowcount(result: object) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0


def new_secret() -> str:
    """A webhook signing secret: 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ShopWrite:
    shop: Shop
    created: bool
    secret: str | None
    """The new shop's secret (only when ``created``): shown once."""


async def get_shop(session: AsyncSession, shop: str) -> Shop | None:
    return await session.get(Shop, shop)


async def list_shops(session: AsyncSession) -> list[Shop]:
    return list((await session.execute(select(Shop).order_by(Shop.id))).scalars())


async def put_shop(
    session: AsyncSession,
    *,
    shop: str,
    data: ShopIn,
    may_create: bool,
    allow_private_webhooks: bool,
    now: datetime,
) -> ShopWrite:
    """Create the shop (with a new secret) or change the fields ``data`` sets.

    ``may_create`` False (a shop's own token): a shop that does not exist is 404.
    ``allow_private_webhooks`` False: a webhook URL whose host is a loopback, private,
    link-local, multicast or unspecified IP is refused (``CTI_WEBHOOKS_ALLOW_PRIVATE``).
    """
    if not rules.SHOP_ID_RE.fullmatch(shop):
        raise InvalidInput(f"invalid shop: {rules.SHOP_ID_HINT}")
    if data.webhook_url:
        try:
            rules.webhook_host(data.webhook_url, allow_private=allow_private_webhooks)
        except ValueError as exc:
            raise InvalidInput(f"invalid webhook_url: {exc}") from None
    row = await get_shop(session, shop)
    created = False
    secret: str | None = None
    if row is None:
        if not may_create:
            raise NotFound(
                f"no shop {shop!r}: an operator creates it (cti shop add {shop}, or PUT "
                "with a token for every shop)"
            )
        try:
            rules.window(data.window_start, data.window_end)
        except ValueError as exc:
            raise InvalidInput(f"invalid window: {exc}") from None
        secret = new_secret()
        # Two first PUTs at once: one inserts, the other finds the row and updates it.
        values = {
            "id": shop,
            "name": data.name,
            "webhook_url": data.webhook_url,
            "secret": secret,
            "window_start": data.window_start,
            "window_end": data.window_end,
            "timezone": data.timezone,
            "max_concurrent": data.max_concurrent,
            "caller_id": data.caller_id,
            "created_at": now,
            "updated_at": now,
        }
        insert = (
            dialect_insert(session, Shop.__table__)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        created = _rowcount(await session.execute(insert)) == 1
        row = await get_shop(session, shop)
        if row is None:  # pragma: no cover - just inserted
            raise NotFound(f"no shop {shop!r}")
        if created:
            await session.refresh(row)
            return ShopWrite(row, True, secret)
        secret = None
    changes = data.model_dump(include=data.model_fields_set)
    try:
        rules.window(
            changes.get("window_start", row.window_start),
            changes.get("window_end", row.window_end),
        )
    except ValueError as exc:
        raise InvalidInput(f"invalid window: {exc}") from None
    for field, value in changes.items():
        setattr(row, field, value)
    row.updated_at = now
    await session.flush()
    return ShopWrite(row, created, secret)


async def rotate_secret(
    session: AsyncSession, *, shop: str, grace: timedelta, now: datetime
) -> tuple[Shop, str]:
    """A new secret; the current one stays valid for ``grace`` (two during a change).

    Rotating again within the grace period drops the oldest secret.
    """
    row = await get_shop(session, shop)
    if row is None:
        raise NotFound(f"no shop {shop!r}")
    secret = new_secret()
    row.previous_secret, row.previous_until = row.secret, now + grace
    row.secret = secret
    row.updated_at = now
    await session.flush()
    return row, secret


def signing_secrets(shop: Shop, now: datetime) -> list[str]:
    """The secrets a webhook of ``shop`` is signed with now: the current one first, then
    the one before the last rotation while its grace period lasts."""
    found = [shop.secret]
    if shop.previous_secret and shop.previous_until is not None and now < shop.previous_until:
        found.append(shop.previous_secret)
    return found


def shop_out(row: Shop, now: datetime) -> ShopOut:
    valid = row.previous_until if row.previous_until and now < row.previous_until else None
    return ShopOut(
        shop=row.id,
        name=row.name,
        webhook_url=row.webhook_url,
        window_start=row.window_start,
        window_end=row.window_end,
        timezone=row.timezone,
        max_concurrent=row.max_concurrent,
        caller_id=row.caller_id,
        previous_secret_valid_until=valid,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# --- do-not-call ------------------------------------------------------------------------


async def is_blocked(session: AsyncSession, phone: str, shop: str) -> bool:
    """Whether ``phone`` (E.164) must not be dialled for ``shop``: listed for every shop
    or for that one. The dialler asks before every attempt."""
    stmt = (
        select(DoNotCall.id)
        .where(DoNotCall.phone == phone, DoNotCall.shop.in_((GLOBAL, shop)))
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def put_do_not_call(
    session: AsyncSession, *, phone: str, shop: str, reason: str, now: datetime
) -> tuple[DoNotCall, bool]:
    """List ``phone`` (E.164) for ``shop`` ("" for every shop); listing again replaces the
    reason. Returns the entry and whether it is new."""
    before = await _entry(session, phone, shop)
    await put_do_not_call_many(session, [(phone, reason)], shop=shop, now=now)
    row = await _entry(session, phone, shop)
    if row is None:  # pragma: no cover - just written
        raise NotFound(f"{phone} is not on the do-not-call list")
    return row, before is None


async def put_do_not_call_many(
    session: AsyncSession, entries: Sequence[tuple[str, str]], *, shop: str, now: datetime
) -> None:
    """Upsert ``(phone, reason)`` pairs for one shop (the last reason of a phone wins)."""
    latest = dict(entries)
    if not latest:
        return
    stmt = dialect_insert(session, DoNotCall.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["phone", "shop"], set_={"reason": stmt.excluded.reason}
    )
    await session.execute(
        stmt,
        [
            {"phone": phone, "shop": shop, "reason": reason, "created_at": now}
            for phone, reason in latest.items()
        ],
    )
    await session.flush()


async def _entry(session: AsyncSession, phone: str, shop: str) -> DoNotCall | None:
    stmt = select(DoNotCall).where(DoNotCall.phone == phone, DoNotCall.shop == shop)
    found: DoNotCall | None = (
        await session.execute(stmt.execution_options(populate_existing=True))
    ).scalar_one_or_none()
    return found


async def remove_do_not_call(session: AsyncSession, *, phone: str, shop: str) -> bool:
    result = await session.execute(
        delete(DoNotCall).where(DoNotCall.phone == phone, DoNotCall.shop == shop)
    )
    return _rowcount(result) > 0


async def list_do_not_call(
    session: AsyncSession,
    *,
    phone: str | None,
    shops: Sequence[str] | None,
    limit: int,
    offset: int,
) -> tuple[list[DoNotCall], int]:
    """Entries, newest first; ``shops`` None: every shop's."""
    where = []
    if phone is not None:
        where.append(DoNotCall.phone == phone)
    if shops is not None:
        where.append(or_(*(DoNotCall.shop == s for s in shops)))
    total = await session.scalar(select(func.count()).select_from(DoNotCall).where(*where))
    stmt = (
        select(DoNotCall)
        .where(*where)
        .order_by(DoNotCall.created_at.desc(), DoNotCall.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.execute(stmt)).scalars()), int(total or 0)
