"""Order-confirmation calls a shop backend asks for (scope ``calls:originate``).

A shop's own token acts for its shop only: another shop's confirmation is not found.
An operator's token (``--all-shops``) names the shop in the body and sees every shop's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query
from fastapi.responses import JSONResponse

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.bounds import Offset, Timestamp
from cti.confirmations.models import IDEMPOTENCY_KEY_MAX, ConfirmationStatus
from cti.confirmations.results import request_stored
from cti.confirmations.schemas import (
    IDEMPOTENCY_KEY_RE,
    ConfirmationDetailOut,
    ConfirmationIn,
    ConfirmationOut,
    ConfirmationPage,
)
from cti.confirmations.service import (
    ConfirmationFilter,
    NewConfirmation,
    confirmation_detail,
    confirmation_out,
    create_confirmation,
    get_confirmation,
    list_confirmations,
    withdraw_confirmation,
)
from cti.errors import Forbidden, InvalidInput, NotFound
from cti.http.deps import (
    ClockDep,
    ConfirmationSettingsDep,
    PhonesDep,
    SessionDep,
    SessionMakerDep,
    require_scope,
)
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.orders.schemas import ORDER_ID_RE
from cti.shops.rules import SHOP_ID_RE

router = APIRouter(
    prefix="/api/v1/confirmations",
    tags=["confirmations"],
    responses=error_responses(401, 403, 422),
    route_class=AuthFirstRoute,
)

Originator = Annotated[Principal, Depends(require_scope(Scope.CALLS_ORIGINATE))]
ConfirmationId = Annotated[
    str, Path(max_length=40, description="a confirmation's opaque id (`cfm_...`)")
]


@router.post(
    "",
    response_model=ConfirmationOut,
    status_code=201,
    summary="Ask for an order-confirmation call",
    description="Idempotent by `Idempotency-Key` (per shop): the same key with the same "
    "request answers the first response again (201, header `Idempotent-Replayed: true`); "
    "with another request, 409. New requests are `queued` and dialled within the shop's "
    "calling window. A number on the do-not-call list is accepted and final at once "
    "(`do_not_call`, never dialled; `note` says so). The order must be the shop's own, "
    "pushed first (`PUT /api/v1/orders/{order_id}`); otherwise 422, nothing queued.",
    responses=error_responses(400, 409),
)
async def confirmation_create(
    body: Annotated[ConfirmationIn, Body()],
    who: Originator,
    idempotency_key: Annotated[
        str,
        Header(
            min_length=1,
            max_length=IDEMPOTENCY_KEY_MAX,
            pattern=IDEMPOTENCY_KEY_RE,
            description="a key the shop chooses per request (e.g. a UUID), printable ASCII",
        ),
    ],
    phones: PhonesDep,
    clock: ClockDep,
    config: ConfirmationSettingsDep,
    sessions: SessionMakerDep,
) -> JSONResponse:
    if who.shop is not None:
        if body.shop is not None and body.shop != who.shop:
            raise Forbidden(
                f"token {who.name!r} is bound to shop {who.shop!r}; "
                f"it may not ask for calls of shop {body.shop!r}"
            )
        shop = who.shop
    elif body.shop is None:
        raise InvalidInput("invalid shop: a token for every shop must name the order's shop")
    else:
        shop = body.shop
    e164 = phones.e164(body.phone)
    if e164 is None:
        raise InvalidInput(f"invalid phone: {body.phone[:64]!r} is not a valid phone number")
    want = NewConfirmation(
        shop=shop,
        phone=e164,
        data=body,
        idempotency_key=idempotency_key,
        max_attempts=body.max_attempts or config.default_max_attempts,
    )
    created = await create_confirmation(sessions, want, now=clock.now(), on_created=request_stored)
    headers = {"Idempotent-Replayed": "true"} if created.replayed else None
    return JSONResponse(created.body, status_code=201, headers=headers)


@router.get(
    "",
    response_model=ConfirmationPage,
    summary="Confirmation requests, newest first, with filters",
    description="A shop's token lists its own shop's; an operator's every shop's (or "
    "`?shop=`'s). `from`/`to`: when they were asked for.",
)
async def confirmation_index(
    who: Originator,
    session: SessionDep,
    status: Annotated[list[ConfirmationStatus] | None, Query()] = None,
    order_id: Annotated[str | None, Query(max_length=64, pattern=ORDER_ID_RE.pattern)] = None,
    shop: Annotated[str | None, Query(max_length=64, pattern=SHOP_ID_RE.pattern)] = None,
    since: Annotated[
        Timestamp | None, Query(alias="from", description="asked for at or after")
    ] = None,
    until: Annotated[Timestamp | None, Query(alias="to", description="asked for before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> ConfirmationPage:
    if who.shop is not None and shop is not None and shop != who.shop:
        raise Forbidden(f"token {who.name!r} is bound to shop {who.shop!r}; not to {shop!r}")
    f = ConfirmationFilter(
        shop=who.shop or shop,
        status=[s.value for s in status or []],
        order_id=order_id,
        since=since,
        until=until,
    )
    rows, total = await list_confirmations(session, f, limit, offset)
    return ConfirmationPage(
        items=[confirmation_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/{confirmation_id}",
    response_model=ConfirmationDetailOut,
    summary="One confirmation with every attempt",
    responses=error_responses(404),
)
async def confirmation_get(
    confirmation_id: ConfirmationId, who: Originator, session: SessionDep
) -> ConfirmationDetailOut:
    row = await get_confirmation(session, confirmation_id, shop=who.shop)
    if row is None:
        raise NotFound(f"no confirmation {confirmation_id!r}")
    return confirmation_detail(row)


@router.delete(
    "/{confirmation_id}",
    response_model=ConfirmationDetailOut,
    summary="Withdraw a confirmation not yet dialled",
    description="Only while it is `queued` and was never dialled; it becomes `withdrawn` "
    "(again: 200, no change). Once dialling began, 409.",
    responses=error_responses(404, 409),
)
async def confirmation_withdraw(
    confirmation_id: ConfirmationId, who: Originator, clock: ClockDep, session: SessionDep
) -> ConfirmationDetailOut:
    async with session.begin():
        row = await withdraw_confirmation(session, confirmation_id, shop=who.shop, now=clock.now())
        out = confirmation_detail(row)
    return out
