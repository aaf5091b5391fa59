"""A confirmation's webhook deliveries, with every attempt: what the shop was sent, and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlalchemy import select

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.confirmations.models import PUBLIC_ID_MAX, Confirmation
from cti.errors import NotFound
from cti.http.deps import SessionDep, require_scope
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.webhooks.schemas import WebhookDeliveryList, delivery_out
from cti.webhooks.service import deliveries_of

router = APIRouter(
    prefix="/api/v1",
    tags=["webhooks"],
    responses=error_responses(401, 403, 422),
    route_class=AuthFirstRoute,
)

Originator = Annotated[Principal, Depends(require_scope(Scope.CALLS_ORIGINATE))]
ConfirmationId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=PUBLIC_ID_MAX,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the confirmation's id, as `POST /api/v1/confirmations` gave it",
    ),
]


@router.get(
    "/confirmations/{confirmation_id}/deliveries",
    response_model=WebhookDeliveryList,
    summary="The webhook deliveries of one confirmation, each with every attempt",
    description="At least once: a delivery is retried with backoff until the shop answers "
    "2xx, and every attempt is listed. A token bound to a shop finds its own shop's "
    "confirmations only; another shop's is not found.",
    responses=error_responses(404),
)
async def confirmation_deliveries(
    confirmation_id: ConfirmationId, who: Originator, session: SessionDep
) -> WebhookDeliveryList:
    found = (
        await session.execute(
            select(Confirmation.id, Confirmation.shop).where(
                Confirmation.public_id == confirmation_id
            )
        )
    ).first()
    # Another shop's confirmation does not exist for a shop-bound token (404, as if missing).
    if found is None or not who.may_act_for_shop(found.shop):
        raise NotFound(f"no confirmation {confirmation_id!r}")
    rows = await deliveries_of(session, confirmation_id=found.id)
    return WebhookDeliveryList(items=[delivery_out(r) for r in rows])
