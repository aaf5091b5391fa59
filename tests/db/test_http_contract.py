"""One error contract and a complete OpenAPI: what a shop's developer codes against."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from cti.api import create_http_app
from cti.container import Container
from cti.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
    Unavailable,
    UpstreamFailed,
    UpstreamTimeout,
)
from cti.events import Voicemail


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    ]


def test_every_api_route_declares_bearer_auth_and_its_error_statuses(
    container: Container,
) -> None:
    spec = create_http_app(container.http_services()).openapi()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    api = [op for op in _operations(spec) if op[1].startswith("/api/")]
    assert len(api) >= 25
    for method, path, op in api:
        assert op.get("security") == [{"bearerAuth": []}], f"{method} {path}: no bearer scheme"
        declared = set(op["responses"])
        wanted = {"401", "403"}
        if op.get("parameters") or op.get("requestBody"):
            wanted.add("422")
        assert wanted <= declared, f"{method} {path} declares {sorted(declared)}"
        for status in declared:
            if int(status) < 400 or (status == "503" and path == "/readyz"):
                continue  # successes (200, 206 of a Range, 304...) have their own bodies
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, f"{method} {path} {status}"


def test_routes_that_talk_to_asterisk_declare_its_failures(container: Container) -> None:
    spec = create_http_app(container.http_services()).openapi()
    for action in ("login", "logout", "pause", "unpause"):
        op = spec["paths"][f"/api/v1/agents/{{extension}}/{action}"]["post"]
        assert {"404", "409", "502", "503", "504"} <= set(op["responses"]), action


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidInput("bad phone"), 422, "invalid_input"),
        (NotFound("no order 'A1'"), 404, "not_found"),
        (Conflict("already there"), 409, "conflict"),
        (Unauthorized("no token", headers={"WWW-Authenticate": "Bearer"}), 401, "unauthorized"),
        (Forbidden("lacks scope"), 403, "forbidden"),
        (Unavailable("Asterisk is not connected"), 503, "unavailable"),
        (UpstreamFailed("Asterisk said no"), 502, "bad_gateway"),
        (UpstreamTimeout("no answer"), 504, "gateway_timeout"),
        (DomainError("custom", status=409, code="duplicate_key"), 409, "duplicate_key"),
    ],
)
async def test_a_domain_error_becomes_json_in_one_place(
    container: Container, error: DomainError, status: int, code: str
) -> None:
    app = create_http_app(container.http_services())
    probe = APIRouter()

    @probe.get("/probe")
    async def raise_it() -> None:
        raise error

    app.include_router(probe)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cti.test"
    ) as client:
        r = await client.get("/probe")
    assert r.status_code == status
    assert r.json() == {"error": code, "message": error.message}
    if error.headers:
        assert r.headers["www-authenticate"] == "Bearer"


async def test_a_service_error_reaches_the_client_without_a_router_catching_it(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    token = await make_token("tickets:write")
    r = await client.post(
        "/api/v1/tickets",
        json={"type": "question", "title": "退货", "order_id": "NO-SUCH-ORDER"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_input"
    assert "NO-SUCH-ORDER" in r.json()["message"]


async def test_a_failing_subscriber_shows_in_metrics(
    container: Container, client: httpx.AsyncClient
) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("bug")

    container.bus.subscribe(Voicemail, broken, name="tickets.broken_probe")
    await container.bus.deliver(
        Voicemail("1.1", None, None, None, None, "closed", None, left_message=False)
    )
    body = (await client.get("/metrics")).text
    assert 'cti_subscriber_failures_total{subscriber="tickets.broken_probe"} 1.0' in body
