from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from cti.errors import TooManyRequests
from cti.http.deps import BearerCredentials, MetricsDep, ReadinessDep, authenticate_connection
from cti.http.routing import AuthFirstRoute

router = APIRouter(tags=["health"], route_class=AuthFirstRoute)


class ReadyOut(BaseModel):
    status: str
    """``ready`` or ``not ready``."""
    checks: dict[str, Any] | None = None
    """Per part (database, AMI): ok and the reason; only for a caller with a valid token."""
    reason: str | None = None
    """Why not ready; only for a caller with a valid token."""


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="AMI logged in and database reachable",
    description="Anyone may ask; only a caller with a valid token (any scope) is told which "
    "part is not ready and why (the reasons name hosts and ports). A wrong token gets "
    "the short answer too (and counts as a failed login).",
    response_model=ReadyOut,
    response_model_exclude_none=True,
    responses={503: {"model": ReadyOut, "description": "not ready"}},
    # The token is optional here: FastAPI adds the bearer requirement, this the "or none".
    openapi_extra={"security": [{}]},
)
async def readyz(
    request: Request, readiness: ReadinessDep, credentials: BearerCredentials
) -> JSONResponse:
    detailed = False
    if credentials is not None:

        async def verify(token: str) -> bool:
            return await authenticate_connection(request, token) is not None

        # Probes get their answer whatever they send: a wrong token (which still counts
        # as a failed login) or a rate-limited address just gets the short one.
        with contextlib.suppress(TooManyRequests):
            detailed = await readiness.may_see_why(credentials.credentials, verify)
    checks = await readiness.checks()
    ready = all(c["ok"] for c in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not ready"}
    if detailed:
        body["checks"] = checks
        reasons = [f"{name}: {c['reason']}" for name, c in checks.items() if not c["ok"]]
        if reasons:
            body["reason"] = "; ".join(reasons)
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "the Prometheus text format"}},
)
async def metrics(metrics: MetricsDep, readiness: ReadinessDep) -> Response:
    # What /readyz would answer, asked now: an alert on cti_ready sees the database as it is.
    metrics.readiness(await readiness.checks())
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
