"""Shops' settings and the do-not-call list, for shop backends and operators.

Scope ``calls:originate``. A token bound to a shop reads and changes its own shop
(webhook, window, limits, caller id, secret) and writes its own do-not-call entries;
an operator's token (``--all-shops``) creates and manages every shop and writes the
entries that hold for every shop.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.bounds import ONE_LINE, Offset
from cti.errors import Forbidden, InvalidInput, NotFound
from cti.http.deps import (
    ClockDep,
    ConfirmationSettingsDep,
    PhonesDep,
    SessionDep,
    SessionMakerDep,
    WebhookSettingsDep,
    require_scope,
)
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.orders.imports import ndjson_lines
from cti.shops import rules
from cti.shops.imports import DoNotCallImport, DoNotCallReport
from cti.shops.schemas import (
    DoNotCallIn,
    DoNotCallOut,
    DoNotCallPage,
    SecretOut,
    ShopIn,
    ShopOut,
    ShopWritten,
)
from cti.shops.service import (
    GLOBAL,
    get_shop,
    list_do_not_call,
    put_do_not_call,
    put_shop,
    remove_do_not_call,
    rotate_secret,
    shop_out,
)

router = APIRouter(
    prefix="/api/v1",
    tags=["shops"],
    responses=error_responses(401, 403, 422),
    route_class=AuthFirstRoute,
)

Originator = Annotated[Principal, Depends(require_scope(Scope.CALLS_ORIGINATE))]
ShopId = Annotated[str, Path(min_length=1, max_length=64, pattern=rules.SHOP_ID_RE.pattern)]
Phone = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=ONE_LINE,
        description="in any form, e.g. +8613800138000 or 138 0013 8000",
    ),
]
ShopQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]{0,64}$",
        description='whose entry: a shop, or "" for every shop. A shop\'s own token may '
        "leave it out (its shop); an operator's token leaving it out means every shop.",
    ),
]


def _not_yours(who: Principal, shop: str) -> Forbidden:
    return Forbidden(f"token {who.name!r} is bound to shop {who.shop!r}; not to shop {shop!r}")


@router.put(
    "/shops/{shop}",
    response_model=ShopWritten,
    summary="Create a shop, or change its settings",
    description="Fields left out keep their value (their default on creation: window "
    "09:00-21:00 Asia/Shanghai, 2 calls at once); `null` clears `webhook_url` or "
    "`caller_id`. Creating (201) returns the webhook secret, once; an update (200) never "
    "does. A shop's own token changes its own shop; only an operator's token "
    "(`--all-shops`) creates shops.",
    responses={201: {"model": ShopWritten, "description": "created"}, **error_responses(400, 404)},
)
async def shop_put(
    shop: ShopId,
    body: Annotated[ShopIn, Body()],
    who: Originator,
    clock: ClockDep,
    session: SessionDep,
    webhooks: WebhookSettingsDep,
    response: Response,
) -> ShopWritten:
    if not who.may_act_for_shop(shop):
        raise _not_yours(who, shop)
    now = clock.now()
    async with session.begin():
        written = await put_shop(
            session,
            shop=shop,
            data=body,
            may_create=who.shop is None,
            allow_private_webhooks=webhooks.allow_private,
            now=now,
        )
    response.status_code = 201 if written.created else 200
    return ShopWritten(**shop_out(written.shop, now).model_dump(), secret=written.secret)


@router.get(
    "/shops/{shop}",
    response_model=ShopOut,
    summary="A shop's settings (never its secret)",
    description="A shop's own token finds its own shop only; another is not found.",
    responses=error_responses(404),
)
async def shop_get(shop: ShopId, who: Originator, clock: ClockDep, session: SessionDep) -> ShopOut:
    row = await get_shop(session, shop) if who.may_act_for_shop(shop) else None
    if row is None:
        raise NotFound(f"no shop {shop!r}")
    return shop_out(row, clock.now())


@router.post(
    "/shops/{shop}/secret:rotate",
    response_model=SecretOut,
    summary="A new webhook secret; the old one keeps signing for a grace period",
    description="The new secret is shown once. Until `previous_secret_valid_until` "
    "(`CTI_CONFIRM_SECRET_GRACE_H`, 24 h by default) webhooks carry a signature with each "
    "secret, so the shop can switch without missing one.",
    responses=error_responses(404),
)
async def shop_rotate_secret(
    shop: ShopId,
    who: Originator,
    clock: ClockDep,
    config: ConfirmationSettingsDep,
    session: SessionDep,
) -> SecretOut:
    if not who.may_act_for_shop(shop):
        raise _not_yours(who, shop)
    now = clock.now()
    async with session.begin():
        row, secret = await rotate_secret(
            session, shop=shop, grace=timedelta(hours=config.secret_grace_h), now=now
        )
    return SecretOut(
        shop=row.id,
        secret=secret,
        previous_secret_valid_until=shop_out(row, now).previous_secret_valid_until,
    )


# --- do-not-call ------------------------------------------------------------------------


def _e164(phones: PhonesDep, raw: str) -> str:
    e164 = phones.e164(raw)
    if e164 is None:
        raise InvalidInput(f"invalid phone: {raw[:64]!r} is not a valid phone number")
    return e164


def _entry_shop(who: Principal, shop: str | None) -> str:
    """Whose entry a write is: a shop token's own shop; an operator's, the one named
    (every shop when none is)."""
    if who.shop is None:
        return shop or GLOBAL
    if shop is not None and shop != who.shop:
        raise _not_yours(who, shop or "(every shop)")
    return who.shop


@router.put(
    "/do-not-call/{phone}",
    response_model=DoNotCallOut,
    summary="Put a number on the do-not-call list (again: replaces the reason)",
    description="A shop's token lists the number for its own shop; an operator's token for "
    "every shop (or for the shop named in `?shop=`). The number is never dialled for "
    "confirmation calls of that shop; requests for it end as `do_not_call` at once.",
    responses={201: {"model": DoNotCallOut, "description": "listed"}, **error_responses(400)},
)
async def dnc_put(
    phone: Phone,
    body: Annotated[DoNotCallIn, Body()],
    who: Originator,
    phones: PhonesDep,
    clock: ClockDep,
    session: SessionDep,
    response: Response,
    shop: ShopQuery = None,
) -> DoNotCallOut:
    owner = _entry_shop(who, shop)
    e164 = _e164(phones, phone)
    async with session.begin():
        row, created = await put_do_not_call(
            session, phone=e164, shop=owner, reason=body.reason, now=clock.now()
        )
    response.status_code = 201 if created else 200
    return DoNotCallOut.model_validate(row)


@router.delete(
    "/do-not-call/{phone}",
    status_code=204,
    summary="Take a number off the do-not-call list",
    description="Only the entry of the token's shop (an operator's: the one for every shop, "
    "or `?shop=`'s); another's stays.",
    responses=error_responses(404),
)
async def dnc_delete(
    phone: Phone,
    who: Originator,
    phones: PhonesDep,
    session: SessionDep,
    shop: ShopQuery = None,
) -> Response:
    owner = _entry_shop(who, shop)
    e164 = _e164(phones, phone)
    async with session.begin():
        removed = await remove_do_not_call(session, phone=e164, shop=owner)
    if not removed:
        where = f"shop {owner!r}" if owner else "every shop"
        raise NotFound(f"{e164} is not on the do-not-call list of {where}")
    return Response(status_code=204)


@router.get(
    "/do-not-call",
    response_model=DoNotCallPage,
    summary="Do-not-call entries, newest first",
    description='A shop\'s token sees its own entries and those for every shop (`shop` ""); '
    "an operator's sees all, or one shop's with `?shop=`.",
)
async def dnc_index(
    who: Originator,
    phones: PhonesDep,
    session: SessionDep,
    phone: Annotated[
        str | None, Query(min_length=1, max_length=64, pattern=ONE_LINE, description="any form")
    ] = None,
    shop: ShopQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> DoNotCallPage:
    if who.shop is not None:
        if shop is not None and shop not in (who.shop, GLOBAL):
            raise _not_yours(who, shop)
        shops: list[str] | None = [shop] if shop is not None else [GLOBAL, who.shop]
    else:
        shops = [shop] if shop is not None else None
    e164 = _e164(phones, phone) if phone is not None else None
    rows, total = await list_do_not_call(
        session, phone=e164, shops=shops, limit=limit, offset=offset
    )
    return DoNotCallPage(
        items=[DoNotCallOut.model_validate(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/do-not-call:import",
    response_model=DoNotCallReport,
    summary="Bulk import: one number per line (`number` or `number,reason`, or NDJSON)",
    description="Lines are a number in any form, optionally `,reason`, or a JSON object "
    '`{"phone": ..., "reason": ...}`; blank lines and `#` comments are skipped. Good lines '
    "are stored, bad ones reported with their number and reason. Whose entries they "
    "become: as for `PUT /api/v1/do-not-call/{phone}`.",
)
async def dnc_import(
    request: Request,
    who: Originator,
    sessions: SessionMakerDep,
    phones: PhonesDep,
    clock: ClockDep,
    shop: ShopQuery = None,
) -> DoNotCallReport:
    run = DoNotCallImport(sessions, phones, shop=_entry_shop(who, shop), clock=clock)
    return await run.run(ndjson_lines(request.stream()))
