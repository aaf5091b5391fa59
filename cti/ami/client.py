"""The long-lived AMI client: login, keep-alive, reconnect, resync, actions.

Lifecycle of one connection: TCP connect, ``Login``, then a resync
(``CoreShowChannels``, ``QueueStatus``, ``QueueSummary``) handed to
``on_resync``; events that arrive meanwhile are held and delivered right after
it, in order. A resync Asterisk refuses (still loading its modules after a
restart) is asked again every half second, for up to a minute. A keep-alive
task sends ``Ping`` every ``ami_ping_interval`` seconds; no reply within
``ami_ping_timeout`` while nothing at all was read for that long means the peer
is gone (a half-open socket never reports a close), so the transport is aborted.
A Ping whose answer waits behind a flood of events (hundreds of calls) does not
drop a link that is busy delivering them: only silence does. After any loss the
client reconnects with exponential backoff and jitter between
``ami_reconnect_min`` and ``ami_reconnect_max``.

Actions are never re-sent: if the connection ends before an answer, the
caller gets :class:`AmiConnectionLost` (an ``Originate`` must not dial a
customer twice), and an unanswered action fails with :class:`AmiActionTimeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import random
import secrets
from collections.abc import Callable

from cti.ami.codec import AmiMessage
from cti.ami.protocol import (
    AmiActionError,
    AmiActionTimeout,
    AmiConnectionError,
    AmiConnectionLost,
    AmiError,
    AmiNotConnected,
    AmiProtocol,
    Headers,
    ResponseKind,
    encode_action,
    is_list_end,
    md5_login,
)
from cti.ami.receipt import AmiReceipt
from cti.ami.resync import ResyncSnapshot, collect_snapshot
from cti.settings import Settings

__all__ = ["AmiClient", "ConnectionState"]

log = logging.getLogger(__name__)

RESYNC_RETRY_S = 0.5
RESYNC_PATIENCE_S = 60.0
"""How long a resync refused by Asterisk is asked again (see :meth:`AmiClient._resync`)."""


class ConnectionState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    """TCP is up, logging in."""
    LOGGED_IN = "logged_in"
    DISCONNECTED = "disconnected"
    STOPPED = "stopped"


class _LoginRefused(AmiError):
    pass


class AmiClient:
    """One AMI connection kept alive for the life of the service.

    ``on_event`` is called synchronously on the event loop for every event, in
    the order Asterisk sent them; an exception in it is logged and the link
    stays up. ``on_state`` hears every :class:`ConnectionState` change and
    ``on_resync`` every snapshot taken after a login.

    ``last_error`` says why the client is not logged in, for ``/readyz``
    ("connection refused to 127.0.0.1:5038", "login as 'cti' at ... refused:
    Authentication failed", "connection to ... lost: no reply to Ping within
    5s"); it is None while logged in and never contains the secret.
    """

    def __init__(
        self,
        settings: Settings,
        on_event: Callable[[AmiMessage], None],
        on_state: Callable[[ConnectionState], None] | None = None,
        on_resync: Callable[[ResyncSnapshot], None] | None = None,
        *,
        rng: random.Random | None = None,
        resync_retry_s: float = RESYNC_RETRY_S,
        resync_patience_s: float = RESYNC_PATIENCE_S,
        receipt: AmiReceipt | None = None,
    ) -> None:
        self._settings = settings
        self.receipt = receipt if receipt is not None else AmiReceipt()
        self._resync_retry_s = resync_retry_s
        self._resync_patience_s = resync_patience_s
        self._on_event = on_event
        self._on_state = on_state
        self._on_resync = on_resync
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._id_prefix = f"cti-{secrets.token_hex(4)}"
        self._task: asyncio.Task[None] | None = None
        self._protocol: AmiProtocol | None = None
        self._logged_in = False
        self._synced = False
        self._lost_reason: str | None = None
        self._state = ConnectionState.DISCONNECTED
        self.last_error: str | None = "not started"

    # -- status -------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self._settings.ami_host}:{self._settings.ami_port}"

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def connected(self) -> bool:
        """A TCP connection to Asterisk is open."""
        return self._protocol is not None and not self._protocol.closed

    @property
    def logged_in(self) -> bool:
        """Logged in on the current connection: actions can be sent."""
        return self._logged_in and self.connected

    @property
    def synced(self) -> bool:
        """Logged in, and the resync after the login has run: what the tracker knows of
        calls then includes the calls that began before this connection (after a
        restart, calls placed by the process before). A call the tracker does not know
        of after that is one that is over."""
        return self._synced and self.logged_in

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background; returns at once."""
        if self._task is not None and not self._task.done():
            return
        self.last_error = "connecting"
        self._task = asyncio.create_task(self._run(), name="ami-client")

    async def stop(self) -> None:
        """Close the connection and stop reconnecting; pending actions fail."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(protocol.lost), 1.0)
            if not protocol.lost.done():
                protocol.abort()
        self._logged_in = False
        self.last_error = "client stopped"
        self._set_state(ConnectionState.STOPPED)

    # -- actions ------------------------------------------------------------------

    async def send_action(self, headers: Headers, *, timeout: float | None = None) -> AmiMessage:
        """Send an action answered by one response; return it.

        Raises :class:`ValueError` for bad headers (nothing sent),
        :class:`AmiNotConnected`, :class:`AmiConnectionLost`,
        :class:`AmiActionTimeout`, or :class:`AmiActionError` for
        ``Response: Error``.
        """
        messages = await self._request(headers, ResponseKind.SINGLE, timeout)
        return messages[0]

    async def send_list_action(
        self, headers: Headers, *, timeout: float | None = None
    ) -> list[AmiMessage]:
        """Send a list action (``EventList: start`` ... ``...Complete``); return its events.

        The response and the closing ``...Complete`` event are not included.
        """
        messages = await self._request(headers, ResponseKind.LIST, timeout)
        return [m for m in messages[1:] if not is_list_end(m)]

    async def send_originate(self, headers: Headers, *, timeout: float | None = None) -> AmiMessage:
        """Send an async ``Originate``; return its ``OriginateResponse`` event.

        ``headers`` must carry ``Async: true``. The event's ``Response`` is
        ``Success`` or ``Failure`` (see its ``Reason``); only a refused action
        raises :class:`AmiActionError`.
        """
        if headers.get("Action") != "Originate" or str(headers.get("Async", "")).lower() != "true":
            raise ValueError("send_originate needs Action: Originate with Async: true")
        messages = await self._request(headers, ResponseKind.ORIGINATE, timeout)
        return next(m for m in messages[1:] if m.get("Event") == "OriginateResponse")

    async def _request(
        self, headers: Headers, kind: ResponseKind, timeout: float | None
    ) -> list[AmiMessage]:
        encode_action(headers)  # bad input raises before anything else
        protocol = self._protocol
        if protocol is None or not self.logged_in:
            raise AmiNotConnected(f"AMI not logged in: {self.last_error or 'not connected'}")
        return await self._request_on(protocol, headers, kind, timeout)

    async def _request_on(
        self,
        protocol: AmiProtocol,
        headers: Headers,
        kind: ResponseKind,
        timeout: float | None,
    ) -> list[AmiMessage]:
        action = str(headers["Action"])
        action_id = f"{self._id_prefix}-{next(self._ids)}"
        limit = self._settings.ami_action_timeout if timeout is None else timeout
        future = protocol.send_action(action_id, headers, kind)
        try:
            async with asyncio.timeout(limit):
                messages = await future
        except TimeoutError:
            raise AmiActionTimeout(f"AMI action {action} got no answer within {limit:g}s") from None
        finally:
            protocol.forget(action_id)
        first = messages[0]
        if first.get("Response") in ("Error", "Failure"):
            raise AmiActionError(action, first)
        return messages

    # -- the connection loop --------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                protocol = await self._connect()
                try:
                    await self._login(protocol)
                    attempt = 0
                    await self._serve(protocol)
                finally:
                    self._logged_in = False
                    protocol.abort()
                    self._protocol = None
            except AmiError as exc:
                self.last_error = str(exc)
                log.warning("%s", self.last_error)
            except (OSError, TimeoutError) as exc:
                self.last_error = self._connect_error(exc)
                log.warning("%s", self.last_error)
            except Exception:
                self.last_error = f"internal error talking to {self.address}"
                log.exception("AMI connection loop failed; reconnecting")
            self._set_state(ConnectionState.DISCONNECTED)
            delay = self._backoff(attempt)
            attempt += 1
            log.info("AMI reconnect to %s in %.2fs", self.address, delay)
            await asyncio.sleep(delay)

    async def _connect(self) -> AmiProtocol:
        self._set_state(ConnectionState.CONNECTING)
        self._lost_reason = None
        loop = asyncio.get_running_loop()
        s = self._settings
        async with asyncio.timeout(s.ami_action_timeout):
            _, protocol = await loop.create_connection(
                lambda: AmiProtocol(
                    self._on_event, self._connection_lost, hold=True, receipt=self.receipt
                ),
                s.ami_host,
                s.ami_port,
            )
        self._protocol = protocol
        self._set_state(ConnectionState.CONNECTED)
        return protocol

    async def _login(self, protocol: AmiProtocol) -> None:
        s = self._settings

        async def send(headers: Headers) -> AmiMessage:
            return (await self._request_on(protocol, headers, ResponseKind.SINGLE, None))[0]

        try:
            await md5_login(send, s.ami_username, s.ami_secret)
        except AmiActionError as exc:
            message = exc.response.get("Message") or "refused"
            if exc.action == "Challenge":
                # No clear-text fallback: the secret never goes on the wire.
                raise _LoginRefused(
                    f"{self.address} gave no MD5 challenge for the login ({message})"
                ) from None
            raise _LoginRefused(
                f"login as {s.ami_username!r} at {self.address} refused: {message}"
            ) from None
        except AmiActionTimeout:
            raise _LoginRefused(
                f"no answer to Login from {self.address} within {s.ami_action_timeout:g}s"
            ) from None
        self._logged_in = True
        self._synced = False
        self.last_error = None
        log.info("AMI logged in to %s as %s (%s)", self.address, s.ami_username, protocol.version)
        self._set_state(ConnectionState.LOGGED_IN)

    async def _serve(self, protocol: AmiProtocol) -> None:
        keepalive = asyncio.create_task(self._keepalive(protocol), name="ami-keepalive")
        try:
            await self._resync(protocol)
            self._synced = True
            await asyncio.shield(protocol.lost)
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive
        reason = self._lost_reason or "connection closed"
        raise AmiConnectionLost(f"connection to {self.address} lost: {reason}")

    async def _resync(self, protocol: AmiProtocol) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._resync_patience_s
        while True:
            try:
                snapshot = await collect_snapshot(self)
                break
            except AmiConnectionError:
                return  # held events were released when the connection ended
            except AmiActionError as exc:
                # Right after Asterisk (re)starts, AMI logs us in before every module is
                # loaded: QueueStatus is an "Invalid/unknown command" until app_queue is.
                # Events stay held: the snapshot must come before them.
                if loop.time() + self._resync_retry_s > give_up:
                    log.error("AMI resync failed, live events continue without it: %s", exc)
                    protocol.release_events()
                    return
                log.info("AMI resync refused (%s); asking again", exc)
                await asyncio.sleep(self._resync_retry_s)
            except AmiError as exc:
                log.error("AMI resync failed, live events continue without it: %s", exc)
                protocol.release_events()
                return
        if self._on_resync is not None:
            try:
                self._on_resync(snapshot)
            except Exception:
                log.exception("AMI resync handler failed")
        protocol.release_events()

    async def _keepalive(self, protocol: AmiProtocol) -> None:
        s = self._settings
        while not protocol.closed:
            await asyncio.sleep(s.ami_ping_interval)
            try:
                await self._request_on(
                    protocol, {"Action": "Ping"}, ResponseKind.SINGLE, s.ami_ping_timeout
                )
            except AmiActionTimeout:
                silent = self.receipt.silent_for()
                if silent is not None and silent < s.ami_ping_timeout:
                    # Asterisk answers actions after the events it has queued: under a
                    # flood the Ping's answer is late, but the link is alive.
                    log.debug("AMI %s: Ping unanswered while events flow", self.address)
                    continue
                self._lost_reason = f"no reply to Ping within {s.ami_ping_timeout:g}s"
                log.warning("AMI %s: %s; dropping the connection", self.address, self._lost_reason)
                protocol.abort()
                return
            except AmiConnectionError:
                return
            except AmiActionError as exc:
                log.warning("AMI Ping refused: %s", exc)

    def _connection_lost(self, exc: Exception | None) -> None:
        self._logged_in = False
        if exc is not None and self._lost_reason is None:
            self._lost_reason = str(exc) or type(exc).__name__

    # -- helpers ------------------------------------------------------------------

    def _connect_error(self, exc: BaseException) -> str:
        if isinstance(exc, ConnectionRefusedError):
            return f"connection refused to {self.address}"
        if isinstance(exc, TimeoutError):
            return (
                f"connecting to {self.address} timed out after "
                f"{self._settings.ami_action_timeout:g}s"
            )
        detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return f"cannot connect to {self.address}: {detail}"

    def _backoff(self, attempt: int) -> float:
        low = self._settings.ami_reconnect_min
        high = max(low, self._settings.ami_reconnect_max)
        base = min(high, low * 2 ** min(attempt, 30))
        return self._rng.uniform(max(low, base / 2), base)

    def _set_state(self, state: ConnectionState) -> None:
        if state is self._state:
            return
        self._state = state
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                log.exception("AMI state handler failed")
