from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cti.http.deps import MetricsDep, ReadinessDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="AMI logged in and database reachable",
    responses={503: {"description": "not ready; `reason` says why"}},
)
async def readyz(readiness: ReadinessDep) -> JSONResponse:
    checks = await readiness.checks()
    ready = all(c["ok"] for c in checks.values())
    reasons = [f"{name}: {c['reason']}" for name, c in checks.items() if not c["ok"]]
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    if reasons:
        body["reason"] = "; ".join(reasons)
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "the Prometheus text format"}},
)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
