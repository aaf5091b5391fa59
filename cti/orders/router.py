from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.http.deps import ContainerDep, SessionDep, require_scope
from cti.http.errors import ApiError
from cti.orders.schemas import ORDER_ID_HINT, ORDER_ID_RE, ImportReport, OrderIn, OrderOut
from cti.orders.service import (
    LineError,
    OrderImport,
    PhoneNormalizer,
    get_order,
    ndjson_lines,
    order_out,
    parse_order,
    upsert_orders,
)

router = APIRouter(prefix="/api/v1", tags=["orders"])

Writer = Annotated[Principal, Depends(require_scope(Scope.ORDERS_WRITE))]
OrderId = Annotated[str, Path(max_length=64, description=ORDER_ID_HINT)]


def _check_order_id(order_id: str) -> None:
    if not ORDER_ID_RE.fullmatch(order_id):
        raise ApiError(422, f"invalid order_id: {ORDER_ID_HINT}")


@router.put(
    "/orders/{order_id}",
    response_model=OrderOut,
    summary="Create or update an order (idempotent; a newer stored copy is kept)",
    responses={201: {"model": OrderOut, "description": "created"}},
)
async def put_order(
    order_id: OrderId,
    body: Annotated[OrderIn, Body()],
    _: Writer,
    container: ContainerDep,
    session: SessionDep,
    response: Response,
) -> OrderOut:
    _check_order_id(order_id)
    try:
        parsed = parse_order(order_id, body, PhoneNormalizer(container.settings.default_region))
    except LineError as exc:
        raise ApiError(422, f"invalid {exc}") from None
    async with session.begin():
        result = await upsert_orders(session, [parsed])
    row = await get_order(session, body.shop, order_id)
    if row is None:  # pragma: no cover - just written
        raise ApiError(503, "order not stored, try again")
    response.status_code = 201 if result.inserted else 200
    if result.stale:
        response.headers["X-Order-Stale"] = "stored copy is newer; kept"
    return order_out(row)


@router.get("/orders/{order_id}", response_model=OrderOut, summary="One order")
async def read_order(
    order_id: OrderId,
    _: Writer,
    session: SessionDep,
    shop: Annotated[str, Query(min_length=1, max_length=64)],
) -> OrderOut:
    row = await get_order(session, shop, order_id)
    if row is None:
        raise ApiError(404, f"no order {order_id!r} of shop {shop!r}")
    return order_out(row)


@router.post(
    "/orders:import",
    response_model=ImportReport,
    summary="Bulk import: NDJSON body, one order (with its order_id) per line",
    description="Good lines are stored, bad lines are reported with their line number "
    "and reason. The body is read as a stream, so files of any size are fine.",
)
async def import_orders(request: Request, _: Writer, container: ContainerDep) -> ImportReport:
    run = OrderImport(container.session_maker, container.settings.default_region)
    return await run.run(ndjson_lines(request.stream()))
