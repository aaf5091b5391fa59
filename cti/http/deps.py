"""FastAPI dependencies: the service container and bearer-token scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal, authenticate
from cti.http.errors import ApiError

if TYPE_CHECKING:
    from cti.app import Container


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated["Container", Depends(get_container)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    container = get_container(request)
    async with container.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401, "missing bearer token (Authorization: Bearer <token>)", headers=_CHALLENGE
        )
    return token.strip()


async def principal_from_token(request: Request, token: str) -> Principal:
    container = get_container(request)
    async with container.sessions() as session:
        principal = await authenticate(session, token)
    if principal is None:
        raise ApiError(401, "invalid or revoked token", headers=_CHALLENGE)
    return principal


def require_scope(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        principal = await principal_from_token(request, bearer_token(request))
        if not principal.has(scope):
            raise ApiError(403, f"token {principal.name!r} lacks scope {scope.value!r}")
        return principal

    dependency.__name__ = f"require_{scope.name.lower()}"
    return dependency
