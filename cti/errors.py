"""The one error type of the domain: a status, a stable code and a message.

Services raise :class:`DomainError` (or one of the subclasses named after what
went wrong); :mod:`cti.http.errors` turns it into JSON in one place, so routers
never catch. The CLI and the AGI apps print or log ``message``.
"""

from __future__ import annotations

from typing import Any, ClassVar

CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    410: "gone",
    413: "too_large",
    416: "range_not_satisfiable",
    422: "invalid_input",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "gateway_timeout",
}


class DomainError(Exception):
    """Something the caller of a service must be told, with the HTTP status it maps to."""

    default_status: ClassVar[int] = 422

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status if status is not None else self.default_status
        self.code = code or CODES.get(self.status, "error")
        self.message = message
        self.details = details
        self.headers = headers


class InvalidInput(DomainError):
    default_status = 422


class NotFound(DomainError):
    default_status = 404


class Conflict(DomainError):
    default_status = 409


class Gone(DomainError):
    """It existed, and is no more (a deleted recording, a file that went missing)."""

    default_status = 410


class Unauthorized(DomainError):
    default_status = 401


class Forbidden(DomainError):
    default_status = 403


class TooManyRequests(DomainError):
    """The caller must wait (``Retry-After``) before trying again."""

    default_status = 429


class Unavailable(DomainError):
    """A part we depend on (Asterisk, the database) cannot do it right now."""

    default_status = 503


class UpstreamFailed(DomainError):
    """A part we depend on answered with a failure."""

    default_status = 502


class UpstreamTimeout(DomainError):
    default_status = 504
