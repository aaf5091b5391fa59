"""Every error leaves the API as JSON: ``{"error": <code>, "message": <text>}``.

This is the one place a :class:`cti.errors.DomainError` becomes an HTTP
response; routers never catch.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from cti.bounds import plain_reason
from cti.errors import CODES, DomainError


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: str
    message: str
    details: Any = None


_DESCRIPTIONS = {
    400: "the body is not JSON text (e.g. not UTF-8)",
    401: "no token, or an invalid or revoked one",
    403: "the token lacks the scope, or may act for another agent only",
    404: "not found",
    405: "the path exists, but not with this method",
    408: "the request body did not arrive in time",
    409: "conflicts with the current state",
    410: "it existed, and is no more",
    413: "the body is too large",
    416: "the Range selects no byte of the file (Content-Range: bytes */size)",
    422: "invalid input",
    429: "too many wrong tokens from this address; wait for Retry-After seconds",
    502: "Asterisk refused the action",
    503: "a part the service depends on is unavailable; try again",
    504: "Asterisk did not answer in time",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error statuses a route can return."""
    return {
        status: {"model": ErrorOut, "description": _DESCRIPTIONS.get(status, CODES[status])}
        for status in statuses
    }


def error_body(
    status: int, message: str, details: Any = None, code: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code or CODES.get(status, "error"), "message": message}
    if details is not None:
        body["details"] = details
    return body


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status, exc.message, exc.details, exc.code),
            exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        return JSONResponse(
            error_body(exc.status_code, message), exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": plain_reason(
                    err.get("type", ""), err.get("msg", ""), (err.get("ctx") or {}).get("pattern")
                ),
            }
            for err in exc.errors()
        ]
        first = details[0] if details else {"field": "", "message": "invalid input"}
        message = f"invalid {first['field'] or 'input'}: {first['message']}"
        return JSONResponse(error_body(422, message, details), 422)
