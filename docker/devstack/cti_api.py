"""The service's HTTP API the way its users call it: shops, supervisors, agents.

Used by `make demo` (docker/devstack/demo.py) and the integration tests, so both
push orders, open shops, ask for confirmation calls and log agents in through the
same requests. Every call that does not get the status it expects raises
:class:`ApiError` with the method, path, status and the start of the body.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

#: the shop of the demo and of the routing tests
DEMO_SHOP = "demo-shop"


class ApiError(RuntimeError):
    """The service answered with a status the caller did not expect."""


@dataclass(frozen=True, slots=True)
class Api:
    """``cti serve``'s HTTP API at ``base_url`` (``http://127.0.0.1:8080``)."""

    base_url: str
    timeout: float = 30.0

    def request(
        self, method: str, path: str, token: str, *, headers: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> httpx.Response:  # fmt: skip
        """One request with ``token`` as its bearer; the response whatever its status."""
        return httpx.request(
            method,
            f"{self.base_url}{path}",
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
            timeout=self.timeout,
            **kw,
        )

    def call(
        self, method: str, path: str, token: str, *, expect: Collection[int] = (200, 201),
        **kw: Any,
    ) -> Any:  # fmt: skip
        """:meth:`request`, then the JSON body (None without one); ApiError for another status."""
        r = self.request(method, path, token, **kw)
        if r.status_code not in expect:
            raise ApiError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else None


def order(
    shop: str,
    phone: str,
    name: str,
    *,
    amount: str,
    tier: str | None = None,
    items: list[dict[str, Any]] | None = None,
    status: str = "paid",
    at: datetime | None = None,
) -> dict[str, Any]:
    """The body of ``PUT /api/v1/orders/{order_id}``: ``name``'s order in ``shop``."""
    when = (at or datetime.now(UTC)).isoformat()
    customer: dict[str, Any] = {"phone": phone, "name": name}
    if tier:
        customer["tier"] = tier
    body: dict[str, Any] = {
        "shop": shop,
        "customer": customer,
        "amount": amount,
        "status": status,
        "created_at": when,
        "updated_at": when,
    }
    if items is not None:
        body["items"] = items
    return body


def put_order(api: Api, token: str, order_id: str, body: Mapping[str, Any]) -> None:
    """A shop backend pushes (creates or updates) one order."""
    api.call("PUT", f"/api/v1/orders/{order_id}", token, json=dict(body))


def open_shop(
    api: Api,
    operator_token: str,
    shop: str,
    *,
    webhook_url: str | None = None,
    max_concurrent: int = 2,
    caller_id: str = "4008001234",
    name: str = "旗舰店",
) -> str | None:
    """An operator creates or updates ``shop``, open all day for confirmation calls.

    Returns the webhook signing secret when the shop is created (shown once), else None.
    """
    body: dict[str, Any] = {
        "name": name,
        "window_start": "00:00",
        "window_end": "23:59",
        "max_concurrent": max_concurrent,
        "caller_id": caller_id,
    }
    if webhook_url is not None:
        body["webhook_url"] = webhook_url
    out = api.call("PUT", f"/api/v1/shops/{shop}", operator_token, json=body)
    secret = out.get("secret")
    return None if secret is None else str(secret)


def request_confirmation(
    api: Api,
    shop_token: str,
    order_id: str,
    phone: str,
    *,
    amount: str = "2300.50",
    item_count: int = 3,
    reason: str = "high_amount",
    max_attempts: int = 1,
    key: str | None = None,
) -> str:
    """A shop asks for the confirmation call of its order ``order_id``; returns its id."""
    body = {
        "order_id": order_id,
        "phone": phone,
        "amount": amount,
        "item_count": item_count,
        "reason": reason,
        "max_attempts": max_attempts,
    }
    out = api.call(
        "POST",
        "/api/v1/confirmations",
        shop_token,
        expect=(201,),
        json=body,
        headers={"Idempotency-Key": key or f"key-{order_id}"},
    )
    return str(out["id"])


def put_agent(
    api: Api, token: str, extension: str, name: str, *, skills: list[str], wrapup_s: int | None
) -> dict[str, Any]:
    """A supervisor (``agents:write``) creates or updates an agent."""
    body = {"name": name, "skills": skills, "wrapup_s": wrapup_s}
    out: dict[str, Any] = api.call("PUT", f"/api/v1/agents/{extension}", token, json=body)
    return out


def agent_login(api: Api, token: str, extension: str) -> None:
    """The agent (its own ``agent`` token) or a supervisor joins the agent's queues."""
    api.call("POST", f"/api/v1/agents/{extension}/login", token, expect=(200,))


def agent_logout(api: Api, token: str, extension: str) -> None:
    api.call("POST", f"/api/v1/agents/{extension}/logout", token, expect=(200,))


__all__ = [
    "DEMO_SHOP",
    "Api",
    "ApiError",
    "agent_login",
    "agent_logout",
    "open_shop",
    "order",
    "put_agent",
    "put_order",
    "request_confirmation",
]
