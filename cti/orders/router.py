from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.bounds import ONE_LINE
from cti.errors import Forbidden, InvalidInput, NotFound, Unavailable
from cti.http.deps import ClockDep, PhonesDep, SessionDep, SessionMakerDep, require_scope
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.orders.imports import OrderImport, ndjson_lines
from cti.orders.schemas import ORDER_ID_HINT, ORDER_ID_RE, ImportReport, OrderIn, OrderOut
from cti.orders.service import (
    LineError,
    OrderPhones,
    get_order,
    order_out,
    parse_order,
    upsert_orders,
)

router = APIRouter(
    prefix="/api/v1",
    tags=["orders"],
    responses=error_responses(401, 403, 422),
    route_class=AuthFirstRoute,
)

Writer = Annotated[Principal, Depends(require_scope(Scope.ORDERS_WRITE))]
OrderId = Annotated[str, Path(max_length=64, description=ORDER_ID_HINT)]


def _check_order_id(order_id: str) -> None:
    if not ORDER_ID_RE.fullmatch(order_id):
        raise InvalidInput(f"invalid order_id: {ORDER_ID_HINT}")


@router.put(
    "/orders/{order_id}",
    response_model=OrderOut,
    summary="Create or update an order (idempotent; a newer stored copy is kept)",
    responses={201: {"model": OrderOut, "description": "created"}, **error_responses(400, 503)},
)
async def put_order(
    order_id: OrderId,
    body: Annotated[OrderIn, Body()],
    who: Writer,
    phones: PhonesDep,
    clock: ClockDep,
    session: SessionDep,
    response: Response,
) -> OrderOut:
    _check_order_id(order_id)
    if not who.may_act_for_shop(body.shop):
        # Refused before anything is read: whether that shop has the order stays unknown.
        raise Forbidden(
            f"token {who.name!r} is bound to shop {who.shop!r}; "
            f"it may not write orders of shop {body.shop!r}"
        )
    try:
        parsed = parse_order(order_id, body, OrderPhones(phones))
    except LineError as exc:
        raise InvalidInput(f"invalid {exc}") from None
    async with session.begin():
        result = await upsert_orders(session, [parsed], now=clock.now())
    row = await get_order(session, body.shop, order_id)
    if row is None:  # pragma: no cover - just written
        raise Unavailable("order not stored, try again")
    response.status_code = 201 if result.inserted else 200
    if result.stale:
        response.headers["X-Order-Stale"] = "stored copy is newer; kept"
    return order_out(row)


@router.get(
    "/orders/{order_id}",
    response_model=OrderOut,
    summary="One order",
    description="A token bound to a shop finds its own shop's orders only (``shop`` may "
    "be left out); another shop's order is not found.",
    responses=error_responses(404),
)
async def read_order(
    order_id: OrderId,
    who: Writer,
    session: SessionDep,
    shop: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=ONE_LINE,
            description="the order's shop; required unless the token is bound to a shop",
        ),
    ] = None,
) -> OrderOut:
    shop = shop or who.shop
    if shop is None:
        raise InvalidInput("invalid shop: give ?shop=<the order's shop>")
    # Another shop's order does not exist for a shop-bound token (404, as if missing).
    row = await get_order(session, shop, order_id) if who.may_act_for_shop(shop) else None
    if row is None:
        raise NotFound(f"no order {order_id!r} of shop {shop!r}")
    return order_out(row)


@router.post(
    "/orders:import",
    response_model=ImportReport,
    summary="Bulk import: NDJSON body, one order (with its order_id) per line",
    description="Good lines are stored, bad lines are reported with their line number "
    "and reason. The body is read as a stream, so files of any size are fine. With a "
    "token bound to a shop, a line of another shop is refused (reported like a bad line).",
)
async def import_orders(
    request: Request, who: Writer, sessions: SessionMakerDep, phones: PhonesDep, clock: ClockDep
) -> ImportReport:
    run = OrderImport(sessions, phones, clock=clock, shop=who.shop)
    return await run.run(ndjson_lines(request.stream()))
