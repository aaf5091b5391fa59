"""The HTTP server (uvicorn) as ``cti serve`` runs it, with limits for slow clients.

uvicorn closes idle keep-alive connections and answers 503 past
``limit_concurrency``, but waits for a request's headers for ever: a client
sending one header line every few seconds holds a connection as long as it
likes. :class:`HeaderDeadlineProtocol` gives every request
``CTI_HTTP_HEADER_TIMEOUT`` seconds, from the moment the connection is ready
for it, to send its request line and headers (at most
:data:`MAX_HEADER_BYTES`); then the connection is closed. Bodies have their own
deadline and size limit (:mod:`cti.http.limits`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cti.settings import Settings

log = logging.getLogger(__name__)

#: Request line and headers together; past it the client gets 431 and is disconnected.
MAX_HEADER_BYTES = 64 * 1024

_TOO_LARGE_BODY = b'{"error": "too_large", "message": "the request line and headers are too large"}'
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TOO_LARGE_BODY)).encode() + b"\r\n\r\n" + _TOO_LARGE_BODY
)


class ServerConfig(uvicorn.Config):
    """uvicorn's config plus the header deadline our protocol reads."""

    def __init__(self, app: Any, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, http=HeaderDeadlineProtocol, **kwargs)
        self.header_timeout = header_timeout


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline and a size limit for request headers."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout: float = getattr(config, "header_timeout", 10.0)
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0

    def _await_headers(self) -> None:
        self._stop_header_timer()
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
            log.info(
                "closed HTTP connection from %s: no complete request headers within %g s",
                client,
                self.header_timeout,
            )
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        waiting = self._header_timer is not None
        super().data_received(data)
        if waiting and self._header_timer is not None:
            # Still no complete headers after this chunk.
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                self._stop_header_timer()
                self.transport.write(_TOO_LARGE)
                self.transport.close()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)


def server_config(app: Any, settings: Settings, **kwargs: Any) -> ServerConfig:
    """The uvicorn config of ``cti serve`` (``kwargs``: e.g. ``log_level``, ``lifespan``)."""
    return ServerConfig(
        app,
        host=settings.http_host,
        port=settings.http_port,
        header_timeout=settings.http_header_timeout,
        timeout_keep_alive=settings.http_keep_alive_timeout,
        limit_concurrency=settings.http_max_connections,
        ws_max_size=settings.http_ws_max_message_bytes,
        ws_per_message_deflate=settings.http_ws_compression,
        **kwargs,
    )
