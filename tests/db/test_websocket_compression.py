"""WebSocket compression is the operator's choice (``CTI_HTTP_WS_COMPRESSION``).

Off by default: a browser offers permessage-deflate on every desktop socket, and the
service would zlib every frame to every desktop on its event loop. Frames arrive the
same either way.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import connect

from cti.container import Container
from tests.db.conftest import serve


async def hello(base: str, token: str) -> tuple[str | None, dict[str, Any]]:
    """Connect as a browser does (offering permessage-deflate); the extensions the
    server agreed to and the first frame."""
    async with connect(f"{base}/ws/agent", compression="deflate") as ws:
        await ws.send(json.dumps({"token": token}))
        first = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert ws.response is not None
        return ws.response.headers.get("Sec-WebSocket-Extensions"), first


async def test_desktop_sockets_are_not_compressed_unless_the_operator_asks(
    container: Container, make_token: Any
) -> None:
    assert container.settings.http_ws_compression is False  # the default
    token = await make_token("agent", agent="1001")
    async with serve(container) as base:
        extensions, first = await hello(base, token)
    assert extensions is None
    assert first["type"] == "hello" and first["extension"] == "1001"
    async with serve(container, http_ws_compression=True) as base:
        extensions, first = await hello(base, token)
    assert extensions is not None and "permessage-deflate" in extensions
    assert first["type"] == "hello" and first["extension"] == "1001"
