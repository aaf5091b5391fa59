"""What a WebSocket client may send us, read defensively.

Clients send little: a first message ``{"token": ...}`` and pings. Anything
else (a binary frame, text that is not JSON, JSON nested deeper than that,
a message over :data:`CLIENT_MESSAGE_MAX` characters) is a :class:`BadFrame`
with the close code that says why; the endpoint closes with it and logs one line.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

#: Characters in one client message; tokens are about 60.
CLIENT_MESSAGE_MAX = 4096
#: Nesting of a client message: ``{"token": ...}`` is 1.
MAX_DEPTH = 2

# RFC 6455 close codes.
CLOSE_UNSUPPORTED = 1003
CLOSE_INVALID = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_PROTOCOL = 1002

_SERVER_REFUSED = {
    CLOSE_PROTOCOL: "WebSocket protocol error",
    CLOSE_INVALID: "invalid frame (not UTF-8 text)",
    CLOSE_TOO_BIG: "message larger than the server takes (CTI_HTTP_WS_MAX_MESSAGE_BYTES)",
}


class BadFrame(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def nesting(text: str) -> int:
    """Deepest ``[``/``{`` nesting of a JSON text, without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_client_message(text: str) -> Any:
    if len(text) > CLIENT_MESSAGE_MAX:
        raise BadFrame(CLOSE_TOO_BIG, f"message longer than {CLIENT_MESSAGE_MAX} characters")
    if text.strip() == "ping":
        return "ping"
    if nesting(text) > MAX_DEPTH:
        raise BadFrame(CLOSE_POLICY, "JSON nested too deeply")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise BadFrame(CLOSE_INVALID, "not valid JSON") from None


async def receive_client_message(ws: WebSocket) -> Any:
    """The client's next message, parsed; :class:`WebSocketDisconnect` when it left."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        code = message.get("code", 1000)
        if code in _SERVER_REFUSED:
            # The server's WebSocket layer refused the frame (e.g. over the size limit)
            # and closed the connection itself: the same one log line.
            raise BadFrame(code, _SERVER_REFUSED[code])
        raise WebSocketDisconnect(code, message.get("reason"))
    text = message.get("text")
    if text is None:
        raise BadFrame(CLOSE_UNSUPPORTED, "binary frames are not accepted; send JSON text")
    return parse_client_message(text)


def is_ping(message: Any) -> bool:
    return message == "ping" or (isinstance(message, dict) and message.get("type") == "ping")
