"""Every request body has a size limit and a deadline (pure ASGI middleware).

A declared ``Content-Length`` over the limit is refused with 413 before a byte
of the body is read; a chunked body is counted as it streams and refused as
soon as it passes the limit. A body that does not arrive in time gets 408. A
response sent before the body was read whole (401 to a client without a token,
413, 408...) closes the connection, so the rest of the body is never read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cti.http.errors import error_body


@dataclass(frozen=True, slots=True)
class BodyLimit:
    max_bytes: int
    timeout: float
    """Seconds from the request's headers to the body's last byte."""


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyTimeout(HTTPException):
    def __init__(self, timeout: float) -> None:
        super().__init__(408, f"the request body did not arrive within {timeout:g} s")


def _declared_length(headers: Headers) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


class BodyLimits:
    def __init__(
        self, app: ASGIApp, *, default: BodyLimit, per_path: Mapping[str, BodyLimit] | None = None
    ) -> None:
        self.app = app
        self.default = default
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        headers = Headers(scope=scope)
        length = _declared_length(headers)
        if length is not None and length > limit.max_bytes:
            await _refuse(scope, receive, send, BodyTooLarge(limit.max_bytes))
            return
        body_done = not (length or "transfer-encoding" in headers)
        received = 0
        response_started = False
        deadline = asyncio.get_running_loop().time() + limit.timeout

        async def limited_receive() -> Message:
            nonlocal body_done, received
            if body_done:  # later calls only wait for a disconnect
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(limit.timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise BodyTooLarge(limit.max_bytes)
                body_done = not message.get("more_body", False)
            return message

        async def closing_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                if not body_done:
                    # Answered before the body was read: do not read the rest.
                    message = {**message, "headers": [*message["headers"], *_CLOSE]}
            await send(message)

        try:
            await self.app(scope, limited_receive, closing_send)
        except (BodyTooLarge, BodyTimeout) as exc:
            if response_started:
                raise
            await _refuse(scope, receive, send, exc)


_CLOSE = [(b"connection", b"close")]


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: HTTPException) -> None:
    response = JSONResponse(
        error_body(exc.status_code, exc.detail), exc.status_code, headers={"Connection": "close"}
    )
    await response(scope, receive, send)
