"""The AMI wire protocol on one TCP connection, on top of panoramisk's ``AMIProtocol``.

panoramisk 1.4 parses every TCP read on its own (``bytes.decode(..., "ignore")``),
so a UTF-8 character split across two reads is silently lost, and a ``Key:``
with nothing after it is dropped. Its response machinery guesses from the
``Message`` text whether more responses follow, which hangs ``QueueAdd`` and
raises ``KeyError`` on an ``Originate`` without ``Async``; on close it re-queues
unanswered actions and re-sends them on the next connection (an ``Originate``
would dial the customer twice).

This subclass keeps panoramisk's transport handling but replaces all of that:

* bytes go through our incremental :class:`~cti.ami.codec.AmiDecoder`;
* every action states how its answer ends (:class:`ResponseKind`) and is
  matched by its ``ActionID`` only;
* when the connection is lost every pending action fails with
  :class:`AmiConnectionLost`; nothing is ever re-sent;
* events go to one synchronous callback, in the order they arrived; while the
  owner holds them (during resync) they are queued and released in order.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from panoramisk.ami_protocol import AMIProtocol
from pydantic import SecretStr

from cti.ami.codec import AmiDecodeError, AmiDecoder, AmiMessage
from cti.ami.receipt import AmiReceipt

__all__ = [
    "AmiActionError",
    "AmiActionTimeout",
    "AmiConnectionError",
    "AmiConnectionLost",
    "AmiError",
    "AmiNotConnected",
    "AmiProtocol",
    "HeaderValue",
    "Headers",
    "ResponseKind",
    "encode_action",
    "is_list_end",
    "md5_key",
    "md5_login",
]

log = logging.getLogger(__name__)

HeaderValue = str | int | Sequence[str]
"""A header's value; a sequence is sent as the same header repeated (``Variable``)."""
Headers = Mapping[str, HeaderValue]

_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_TERMINATOR_RE = re.compile(rb"\n\r?\n")
# Headers whose value must never reach a log line.
_SECRET_KEYS = frozenset(("secret", "key"))


class AmiError(Exception):
    """Base class of every AMI error raised by this package."""


class AmiConnectionError(AmiError):
    """The action could not be completed because there is no usable connection."""


class AmiNotConnected(AmiConnectionError):
    """The action was not sent: the client is not connected and logged in."""


class AmiConnectionLost(AmiConnectionError):
    """The connection was lost after the action was sent and before it was answered.

    Whether Asterisk carried it out is unknown; it is never re-sent.
    """


class AmiActionTimeout(AmiError, TimeoutError):
    """Asterisk did not answer the action in time."""


class AmiActionError(AmiError):
    """Asterisk answered the action with ``Response: Error`` (or ``Failure``)."""

    def __init__(self, action: str, response: AmiMessage) -> None:
        message = response.get("Message") or response.get("Response") or "error"
        super().__init__(f"AMI action {action} failed: {message}")
        self.action = action
        self.response = response


class ResponseKind(enum.Enum):
    """How the answer to an action ends."""

    SINGLE = "single"
    """One ``Response:`` message."""
    LIST = "list"
    """A ``Response:`` with ``EventList: start``, events, and an ``...Complete`` event."""
    ORIGINATE = "originate"
    """A ``Response:`` then, for an accepted async Originate, an ``OriginateResponse``."""


def encode_action(headers: Headers) -> bytes:
    """Serialise an action, ``Action`` first; refuse anything that could inject headers.

    Raises :class:`ValueError` for a header name outside ``[A-Za-z0-9_-]`` or a
    value containing CR or LF, before anything is written to the socket.
    """
    if "Action" not in headers:
        raise ValueError("an AMI action needs an 'Action' header")
    lines: list[str] = []
    for key in ("Action", *(k for k in headers if k != "Action")):
        if not _KEY_RE.match(key):
            raise ValueError(f"invalid AMI header name {key!r}")
        value = headers[key]
        values = [value] if isinstance(value, str | int) else list(value)
        for item in values:
            text = str(item)
            if "\r" in text or "\n" in text:
                raise ValueError(f"AMI header {key} contains CR or LF")
            lines.append(f"{key}: {text}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")


def md5_key(challenge: str, secret: SecretStr) -> str:
    """The ``Key`` of an ``AuthType: MD5`` login: hex MD5 of the challenge then the secret.

    This is how Asterisk's manager checks it (``manager.c``, ``authenticate``);
    the secret itself never goes on the wire.
    """
    data = (challenge + secret.get_secret_value()).encode("utf-8")
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


async def md5_login(
    send: Callable[[Headers], Awaitable[AmiMessage]], username: str, secret: SecretStr
) -> AmiMessage:
    """Log in with the MD5 challenge (``Challenge``, then ``Login`` with ``Key``).

    ``send`` sends one action and returns its response. Returns the ``Login``
    response; raises :class:`AmiActionError` if Asterisk answers the challenge
    without one or refuses either action (if ``send`` does not raise itself).
    There is no fallback to a clear-text ``Secret``.
    """
    answer = await send({"Action": "Challenge", "AuthType": "MD5"})
    challenge = answer.get("Challenge")
    if answer.get("Response") != "Success" or not challenge:
        raise AmiActionError("Challenge", answer)
    response = await send(
        {
            "Action": "Login",
            "AuthType": "MD5",
            "Username": username,
            "Key": md5_key(challenge, secret),
            "Events": "on",
        }
    )
    if response.get("Response") != "Success":
        raise AmiActionError("Login", response)
    return response


def redacted(headers: Headers) -> dict[str, HeaderValue]:
    """The headers with secrets masked, for log lines."""
    return {k: ("******" if k.lower() in _SECRET_KEYS else v) for k, v in headers.items()}


@dataclass(eq=False)
class _Pending:
    action: str
    kind: ResponseKind
    future: asyncio.Future[list[AmiMessage]]
    response: AmiMessage | None = None
    events: list[AmiMessage] = field(default_factory=list)
    finished: bool = False  # the list's Complete event or the OriginateResponse was seen

    def add(self, message: AmiMessage) -> bool:
        """Take one message with our ActionID; return True once the answer is complete.

        The answer is the ``Response:`` message plus, for lists and async
        Originate, the events carrying our ActionID, in whatever order they
        come (an ``OriginateResponse`` could in principle overtake the
        acknowledgement; note it has a ``Response`` header too).
        """
        if not message.is_event and self.response is None:
            self.response = message
        else:
            self.events.append(message)
            if self.kind is ResponseKind.LIST:
                self.finished = self.finished or is_list_end(message)
            elif self.kind is ResponseKind.ORIGINATE:
                self.finished = self.finished or message.get("Event") == "OriginateResponse"
        if self.response is None:
            return False
        if self.kind is ResponseKind.SINGLE:
            return True
        if self.response.get("Response") not in ("Success", "Follows"):
            return True  # refused: no list, no OriginateResponse will follow
        if self.kind is ResponseKind.LIST and is_list_end(self.response):
            return True  # an empty list answered in one message
        return self.finished

    def result(self) -> list[AmiMessage]:
        """The response first, then the events in arrival order."""
        assert self.response is not None
        return [self.response, *self.events]


def is_list_end(message: AmiMessage) -> bool:
    """True for the message that closes a list answer (``EventList: Complete``)."""
    if (message.get("EventList") or "").lower() == "complete":
        return True
    return message.is_event and (message.get("Event") or "").endswith("Complete")


class AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """One AMI connection.

    ``on_event`` receives every event that is not part of an action's answer,
    synchronously and in arrival order (unless held, see :meth:`hold_events`).
    ``on_lost`` is called once when the connection ends, after every pending
    action has failed. ``tap`` (optional) receives every byte received after
    the response whose ``ActionID`` is ``tap_after`` (the answer to ``Login``),
    exactly as read.
    With ``hold`` events are held from the first byte (see :meth:`hold_events`).
    ``receipt`` (optional) is stamped with the time of every read before it is decoded
    (see :class:`cti.ami.receipt.AmiReceipt`).
    """

    def __init__(
        self,
        on_event: Callable[[AmiMessage], None],
        on_lost: Callable[[Exception | None], None] | None = None,
        tap: Callable[[bytes], None] | None = None,
        *,
        tap_after: str = "",
        hold: bool = False,
        receipt: AmiReceipt | None = None,
    ) -> None:
        super().__init__()
        self._receipt = receipt
        self._on_event = on_event
        self._on_lost = on_lost
        self._tap = tap
        self._tap_after = tap_after
        self._tap_started = False
        self._prelogin = bytearray()
        self._decoder = AmiDecoder()
        self._pending: dict[str, _Pending] = {}
        self._held: deque[AmiMessage] | None = deque() if hold else None
        self.closed = True
        self.transport: asyncio.Transport | None = None
        self.version: str | None = None
        loop = asyncio.get_running_loop()
        self.banner_received: asyncio.Future[str] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()

    # -- panoramisk overrides ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # panoramisk's own state; unused here but kept consistent for its methods.
        self.factory = None
        self.log = log
        self.closed = False

    def send(self, data: object, as_list: bool = False) -> asyncio.Future[object]:
        raise NotImplementedError("use AmiProtocol.send_action; panoramisk's send() can hang")

    def data_received(self, data: bytes) -> None:
        receipt = self._receipt
        if receipt is None:
            self._received(data)
            return
        receipt.reading()
        try:
            self._received(data)
        finally:
            receipt.done()

    def _received(self, data: bytes) -> None:
        if self._tap is not None:
            self._feed_tap(data)
        try:
            messages = self._decoder.feed(data)
        except AmiDecodeError as exc:
            # The decoder skips the damaged message and goes on; losing one
            # message beats a reconnect loop on a peer that keeps sending it.
            log.error("AMI stream damaged, one message skipped: %s", exc)
            messages = exc.messages
        if self.version is None and self._decoder.banner is not None:
            self.version = self._decoder.banner.partition("/")[2].strip()
            if not self.banner_received.done():
                self.banner_received.set_result(self._decoder.banner)
        for message in messages:
            self._dispatch(message)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost.done():
            return
        self.closed = True
        pending, self._pending = self._pending, {}
        for action_id, item in pending.items():
            if not item.future.done():
                item.future.set_exception(
                    AmiConnectionLost(
                        f"AMI connection lost before {item.action} (ActionID {action_id}) "
                        "was answered; its outcome is unknown and it was not re-sent"
                    )
                )
        self.release_events()
        if not self.banner_received.done():
            self.banner_received.set_exception(
                AmiConnectionLost("AMI connection closed before the banner")
            )
        if not self.lost.done():
            self.lost.set_result(None)
        if self._on_lost is not None:
            self._on_lost(exc)

    def close(self) -> None:
        """Close the socket; pending actions fail once the transport reports the loss."""
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the socket without flushing (dead peer); pending actions then fail."""
        if self.transport is not None:
            self.transport.abort()

    # -- actions -------------------------------------------------------------------

    def send_action(
        self, action_id: str, headers: Headers, kind: ResponseKind
    ) -> asyncio.Future[list[AmiMessage]]:
        """Write one action and return a future of its answer's messages.

        The future fails with :class:`AmiConnectionLost` if the connection
        ends first; the caller owns timeouts (see :meth:`forget`).
        """
        payload = encode_action({**headers, "ActionID": action_id})
        if self.closed or self.transport is None or self.transport.is_closing():
            raise AmiNotConnected("AMI connection is closed")
        future: asyncio.Future[list[AmiMessage]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(str(headers["Action"]), kind, future)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("AMI send %s", redacted({**headers, "ActionID": action_id}))
        self.transport.write(payload)
        return future

    def forget(self, action_id: str) -> None:
        """Stop waiting for an action (timed out); a late answer is then dropped."""
        self._pending.pop(action_id, None)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    # -- events ----------------------------------------------------------------------

    def hold_events(self) -> None:
        """Queue events instead of delivering them, until :meth:`release_events`."""
        if self._held is None:
            self._held = deque()

    def release_events(self) -> None:
        """Deliver the held events in order, then resume live delivery."""
        held = self._held
        while held:
            self._deliver(held.popleft())
        self._held = None

    # -- internals -------------------------------------------------------------------

    def _feed_tap(self, data: bytes) -> None:
        assert self._tap is not None
        if self._tap_started:
            self._tap(data)
            return
        self._prelogin += data
        # The tap starts right after the Login answer (tap_after is its ActionID).
        # Decode a private copy so the offsets are those of this stream.
        probe = AmiDecoder()
        try:
            messages = probe.feed(bytes(self._prelogin))
        except AmiDecodeError as exc:
            messages = exc.messages
        for message in messages:
            if message.is_response and message.get("ActionID") == self._tap_after:
                match = _TERMINATOR_RE.search(self._prelogin, message.offset)
                assert match is not None  # the decoder only yields terminated messages
                rest = bytes(self._prelogin[match.end() :])
                self._tap_started = True
                self._prelogin = bytearray()
                if rest:
                    self._tap(rest)
                return

    def _dispatch(self, message: AmiMessage) -> None:
        action_id = message.get("ActionID")
        if action_id is not None:
            item = self._pending.get(action_id)
            if item is not None:
                if item.add(message):
                    del self._pending[action_id]
                    if not item.future.done():
                        item.future.set_result(item.result())
                return
        if not message.is_event:
            # A response nobody waits for (timed out action): nothing to do.
            log.debug("AMI response without a waiting action dropped: %r", message)
            return
        if self._held is not None:
            self._held.append(message)
        else:
            self._deliver(message)

    def _deliver(self, message: AmiMessage) -> None:
        try:
            self._on_event(message)
        except Exception:
            # One bad event must never drop the link (panoramisk lets it escape
            # data_received, and asyncio then closes the transport).
            log.exception("AMI event handler failed on %s", message.get("Event"))
