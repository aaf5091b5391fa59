"""Bearer tokens: 401 without or with a wrong token, 403 without the scope, 200 with it."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from cti.auth.models import ApiToken
from cti.auth.tokens import create_token, revoke_token
from cti.container import Container


async def test_missing_token_is_401_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/calls")
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"
    assert "bearer" in r.json()["message"].lower()
    assert r.headers["www-authenticate"] == "Bearer"


async def test_wrong_token_is_401(client: httpx.AsyncClient, make_token) -> None:  # type: ignore[no-untyped-def]
    good = await make_token("stats:read")
    r = await client.get("/api/v1/calls", headers={"Authorization": f"Bearer {good}x"})
    assert r.status_code == 401
    r = await client.get("/api/v1/calls", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


async def test_missing_scope_is_403_naming_it(client: httpx.AsyncClient, make_token) -> None:  # type: ignore[no-untyped-def]
    token = await make_token("orders:write")
    r = await client.get("/api/v1/calls", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert r.json() == {"error": "forbidden", "message": "token 'test' lacks scope 'stats:read'"}


async def test_right_scope_is_200(client: httpx.AsyncClient, make_token) -> None:  # type: ignore[no-untyped-def]
    token = await make_token("stats:read", "orders:write")
    r = await client.get("/api/v1/calls", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.json()["items"] == []


async def test_only_the_hash_is_stored(container: Container, make_token) -> None:  # type: ignore[no-untyped-def]
    token = await make_token("stats:read")
    async with container.sessions() as session:
        rows = (await session.execute(select(ApiToken))).scalars().all()
    assert len(rows) == 1
    stored = [str(v) for v in vars(rows[0]).values()]
    assert all(token not in v for v in stored)
    assert all(token.split("_")[-1] not in v for v in stored)


async def test_revoked_token_is_401(
    client: httpx.AsyncClient,
    container: Container,
    make_token,  # type: ignore[no-untyped-def]
) -> None:
    token = await make_token("stats:read")
    prefix = token.split("_")[1]
    async with container.sessions() as session, session.begin():
        await revoke_token(session, prefix, now=container.clock.now())
    r = await client.get("/api/v1/calls", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


async def test_a_prefix_of_decimal_digits_revokes_by_prefix(container: Container) -> None:
    """A prefix is 8 hex digits, all decimal ones one time in 43: it was taken for an id."""
    async with container.sessions() as session, session.begin():
        issued = await create_token(session, "t", ["stats:read"], now=container.clock.now())
        row = await session.get(ApiToken, issued.id)
        assert row is not None
        row.prefix = "26239462"
    async with container.sessions() as session, session.begin():
        revoked = await revoke_token(session, "26239462", now=container.clock.now())
        assert revoked.id == issued.id and revoked.revoked_at is not None
    async with container.sessions() as session, session.begin():
        assert (await revoke_token(session, str(issued.id), now=container.clock.now())).id == (
            issued.id
        )
