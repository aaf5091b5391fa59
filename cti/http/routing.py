"""API routes decide authentication and scope before they read a body.

FastAPI reads and parses a route's JSON body before it solves the route's
dependencies, so a client without a token could make us buffer and parse
whatever it sends (and learn from a 422 that the route exists). Every API
router is built with :class:`AuthFirstRoute`: the dependencies that carry the
route's security scheme (those that make it declare ``bearerAuth`` in the
OpenAPI: ``require_scope`` and friends) are solved first, on the bare request,
and only then does FastAPI read the body. They run a second time inside FastAPI's
own solving; :func:`cti.http.deps.principal_from_token` remembers the principal
for the request, so that costs nothing.

Then, still before FastAPI parses anything, a URL or JSON body carrying a NUL
character is refused (422): no database stores one, and PostgreSQL would turn it
into a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant, solve_dependencies
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase

from cti.errors import InvalidInput
from cti.http.errors import error_responses


def _carries_security(dependant: Dependant) -> bool:
    if isinstance(dependant.call, SecurityBase):
        return True
    return any(_carries_security(d) for d in dependant.dependencies)


def security_dependant(dependant: Dependant) -> Dependant | None:
    """The route's dependencies that authenticate, alone; None for a public route."""
    auth = [d for d in dependant.dependencies if _carries_security(d)]
    if not auth:
        return None
    return Dependant(dependencies=auth, path=dependant.path)


class AuthFirstRoute(APIRoute):
    """An API route: token and scope first (401/403/429), then the body (413, 408, 422)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # What this class adds to a route's answers is declared in its OpenAPI too.
        added: dict[int | str, dict[str, Any]] = {}
        if _carries_security(get_dependant(path=path, call=endpoint)):
            added.update(error_responses(401, 429))
        if set(kwargs.get("methods") or ()) & {"POST", "PUT", "PATCH"}:
            added.update(error_responses(408, 413))
        kwargs["responses"] = {**added, **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        auth = security_dependant(self.dependant)
        json_body = self.body_field is not None

        async def authenticated_first(request: Request) -> Response:
            if auth is not None:
                solved = await solve_dependencies(
                    request=request,
                    dependant=auth,
                    dependency_overrides_provider=request.scope.get("app"),
                    async_exit_stack=request.scope["fastapi_inner_astack"],
                    embed_body_fields=False,
                )
                if solved.errors:
                    raise RequestValidationError(solved.errors)
            refuse_nul(request.url.path, request.url.query)
            if json_body:
                # Read here, after the token; FastAPI reuses what this request object read.
                refuse_nul((await request.body()).decode("utf-8", "replace"))
            return await handler(request)

        return authenticated_first


def refuse_nul(*texts: str) -> None:
    """No database stores a NUL character in text (PostgreSQL refuses it): 422, not 500."""
    for text in texts:
        if "\x00" in text or "%00" in text or "\\u0000" in text:
            raise InvalidInput("NUL characters are not accepted")
