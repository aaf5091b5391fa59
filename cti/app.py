"""The composition root: builds every piece from the settings and wires them.

Nothing else in the service reaches for globals; every long-lived task is
started and cancelled here.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cti.acd.decision import RoutingDecision
from cti.acd.service import HotlineRouter
from cti.acd.settings import load_acd_settings
from cti.calls.schemas import CallDetailOut, CallOut
from cti.calls.service import live_detail, live_out, utc
from cti.calls.writer import CallRecordWriter
from cti.customers.service import record_answered
from cti.db.engine import create_engine, ping, session_factory
from cti.db.migrate import upgrade_async
from cti.metrics import Metrics
from cti.screenpop.hub import ScreenPopHub
from cti.screenpop.lookup import PopLookup
from cti.settings import Settings, load_section
from cti.tickets.service import create_callback_ticket
from cti.tracking.events import CallSummary, DomainEvent, DomainEventType, Outcome
from ivr.fastagi import FastAgiServer
from ivr.hotline import hotline_app
from ivr.voicemail import Voicemail, voicemail_app

log = logging.getLogger(__name__)


class AmiLink(Protocol):
    @property
    def logged_in(self) -> bool: ...

    @property
    def last_error(self) -> str | None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Container:
    """Everything the HTTP layer and the adapters need, built once."""

    def __init__(self, settings: Settings) -> None:
        from cti.agents.config import AgentSettings
        from cti.agents.service import AgentService
        from cti.agents.state import AgentStateChanged, AgentStateTracker
        from cti.tracking.tracker import CallTracker

        self.settings = settings
        self.metrics = Metrics()
        self.engine: AsyncEngine = create_engine(settings.effective_database_url)
        self.session_maker: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        self.tracker = CallTracker()
        self.writer = CallRecordWriter(self.session_maker, hooks=[self._remember_last_agent])
        self.ami: AmiLink | None = None
        self.agi: FastAgiServer | None = None
        self.hotline = HotlineRouter(
            self.session_maker, load_acd_settings(), region=settings.default_region
        )
        self.listeners: list[Callable[[DomainEvent], None]] = []
        self.screenpop = ScreenPopHub(
            PopLookup(self.session_maker, self.hotline.policy, settings.default_region)
        )
        self.listeners.append(self.screenpop.on_event)
        agent_settings = load_section(AgentSettings, "CTI_AGENT_")
        self.agent_states = AgentStateTracker(default_wrapup_s=agent_settings.wrapup_s)
        self.agents = AgentService(self.agent_states, lambda: self.ami, agent_settings)
        self.agent_listeners: list[Callable[[AgentStateChanged], None]] = []
        self.agent_listeners.append(self.screenpop.on_agent_state)
        # The last agent is preferred for a returning caller only if free right now.
        self.hotline.availability = self.agent_states
        self.pending_callbacks: deque[Voicemail] = deque()

    def sessions(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self.session_maker()

    async def _remember_last_agent(self, session: AsyncSession, summary: CallSummary) -> None:
        if summary.outcome is Outcome.ANSWERED and summary.agent and summary.caller_number:
            await record_answered(
                session,
                summary.caller_number,
                summary.agent,
                utc(summary.ended_at),
                self.settings.default_region,
            )

    async def on_voicemail(self, message: Voicemail) -> None:
        """Every call sent to voicemail becomes a callback task for the next shift.

        If the database is down the task is kept and written when it is back
        (:meth:`retry_callbacks`): a caller's message is never lost.
        """
        try:
            await self._write_callback(message)
        except Exception as exc:
            log.warning(
                "callback task for %s kept for retry: %s",
                message.caller_number or "withheld",
                type(exc).__name__,
            )
            self.pending_callbacks.append(message)

    async def _write_callback(self, message: Voicemail) -> None:
        reasons = {"closed": "非工作时间", "holiday": "节假日", "busy": "坐席忙"}
        what = "客户语音留言" if message.left_message else "客户未留言，需回电"
        why = reasons.get(message.reason, message.reason)
        note = f"{what}（{why}）；来电人：{message.caller_name or '未知'}"
        async with self.sessions() as session, session.begin():
            await create_callback_ticket(
                session,
                message.caller_number,
                message.recording_path,
                message.linkedid,
                note,
                self.settings.default_region,
            )

    async def retry_callbacks(self) -> None:
        """Write the callback tasks kept while the database was down, oldest first."""
        while self.pending_callbacks:
            message = self.pending_callbacks[0]
            try:
                await self._write_callback(message)
            except Exception:
                return  # still down; the next round tries again
            self.pending_callbacks.popleft()

    async def route(self, env: Mapping[str, str]) -> RoutingDecision:
        """The hotline AGI's question; the answer is also logged on the call's timeline."""
        decision = await self.hotline.decide(env)
        data: dict[str, Any] = {
            "action": decision.action.value,
            "queue": decision.queue,
            "priority": decision.priority,
            "preferred_agent": decision.preferred_agent,
            "reason": decision.reason,
            **{f"note_{k}": v for k, v in decision.notes.items()},
        }
        event = self.tracker.annotate(env.get("agi_uniqueid", ""), DomainEventType.ROUTED, data)
        if event is not None:
            self._publish(event)
        return decision

    def expire_wrapups(self) -> None:
        """Asterisk sends nothing when a wrap-up ends; tell the listeners ourselves."""
        self._publish_agents(self.agent_states.expire(time.time()))

    # --- AMI events in, domain events out -------------------------------------------------

    def on_ami_event(self, message: Mapping[str, str]) -> None:
        self.metrics.ami_events.inc()
        for event in self.tracker.feed(message):
            self._publish(event)
        self._publish_agents(self.agent_states.feed(message))

    def on_resync(self, snapshot: Any) -> None:
        for event in self.tracker.resync(list(snapshot.channels), snapshot.queue_entries):
            self._publish(event)
        self._publish_agents(self.agent_states.resync(list(snapshot.queue_members)))

    def _publish_agents(self, changes: list[Any]) -> None:
        for change in changes:
            for agent_listener in self.agent_listeners:
                try:
                    agent_listener(change)
                except Exception:
                    log.exception("agent state listener failed on %s", change.interface)

    def _publish(self, event: DomainEvent) -> None:
        if event.type is DomainEventType.ENDED:
            summary = event.data.get("summary")
            if isinstance(summary, CallSummary):
                self.writer.submit(summary)
                self.metrics.calls_finished.labels(summary.outcome.value).inc()
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:
                log.exception("domain event listener failed on %s", event.type)
        self.metrics.records_pending.set(self.writer.pending)

    # --- views for the HTTP layer ---------------------------------------------------------

    def live_calls(self) -> list[CallOut]:
        calls = [live_out(c) for c in self.tracker.active_calls()]
        self.metrics.calls_active.set(len(calls))
        return calls

    def live_call(self, linkedid: str) -> CallDetailOut | None:
        for call in self.tracker.active_calls():
            if call.linkedid == linkedid:
                return live_detail(call)
        return None

    async def readiness(self) -> dict[str, dict[str, Any]]:
        checks: dict[str, dict[str, Any]] = {}
        try:
            async with asyncio.timeout(3):
                await ping(self.engine)
            checks["database"] = {"ok": True, "reason": None}
        except Exception as exc:
            checks["database"] = {"ok": False, "reason": f"unreachable: {type(exc).__name__}"}
        if self.settings.ami_enabled:
            if self.ami is not None and self.ami.logged_in:
                checks["ami"] = {"ok": True, "reason": None}
            else:
                reason = (self.ami.last_error if self.ami else None) or "not logged in yet"
                checks["ami"] = {"ok": False, "reason": f"AMI not logged in: {reason}"}
        return checks


async def _every(seconds: float, fn: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            fn()
        except Exception:
            log.exception("periodic task %s failed", getattr(fn, "__name__", fn))


async def _every_async(seconds: float, fn: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await fn()
        except Exception:
            log.exception("periodic task %s failed", getattr(fn, "__name__", fn))


@asynccontextmanager
async def running(settings: Settings, migrate: bool = True) -> AsyncIterator[Container]:
    """Start every enabled part; stop them all, in reverse order, on exit."""
    if migrate:
        await upgrade_async(settings.effective_database_url)
    container = Container(settings)
    container.writer.start()
    try:
        if settings.agi_enabled:
            container.agi = FastAgiServer(
                settings.agi_host,
                settings.agi_port,
                {
                    "hotline": hotline_app(container.route, settings.agi_deadline),
                    "voicemail": voicemail_app(container.on_voicemail),
                },
            )
            await container.agi.start()
        if settings.ami_enabled:
            from cti.ami.client import AmiClient

            client = AmiClient(
                settings, on_event=container.on_ami_event, on_resync=container.on_resync
            )
            container.ami = client
            await client.start()
        tickers = [
            asyncio.create_task(_every(1.0, container.expire_wrapups), name="wrap-up"),
            asyncio.create_task(_every_async(5.0, container.retry_callbacks), name="callbacks"),
        ]
        try:
            yield container
        finally:
            for ticker in tickers:
                ticker.cancel()
            await container.retry_callbacks()
            if container.pending_callbacks:
                log.error(
                    "stopping with %d callback tasks not written (database down)",
                    len(container.pending_callbacks),
                )
    finally:
        if container.ami is not None:
            await container.ami.stop()
        if container.agi is not None:
            await container.agi.stop()
        await container.screenpop.stop()
        await container.writer.stop()
        await container.engine.dispose()


class StartupError(Exception):
    """A part of the service cannot start (e.g. its port is taken); the message says which."""


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen for HTTP on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


async def serve(settings: Settings) -> None:
    """``cti serve``: run until SIGTERM or SIGINT, then shut down cleanly."""
    from cti.http.app import create_http_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Bind the HTTP port first: a port in use is one clear error, before anything starts.
    http_socket = _listen(settings.http_host, settings.http_port) if settings.http_enabled else None
    async with running(settings) as container:
        server: uvicorn.Server | None = None
        server_task: asyncio.Task[None] | None = None
        if http_socket is not None:
            config = uvicorn.Config(
                create_http_app(container),
                host=settings.http_host,
                port=settings.http_port,
                log_level=settings.log_level.lower(),
                lifespan="off",
                # uvicorn's loggers go through our handler, which masks tokens in
                # access-log query strings (WebSocket clients may pass ?token=).
                log_config=None,
            )
            # uvicorn briefly takes SIGTERM/SIGINT while serving and re-raises them when it
            # exits, so our own handlers still see them and stop the other parts.
            server = uvicorn.Server(config)
            server_task = asyncio.create_task(server.serve(sockets=[http_socket]), name="http")
        log.info("cti serve running")
        stop_task = asyncio.create_task(stop.wait())
        waiters: set[asyncio.Task[Any]] = {stop_task}
        if server_task is not None:
            waiters.add(server_task)
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        log.info("cti serve stopping")
        if server is not None and server_task is not None:
            server.should_exit = True
            await server_task
        stop_task.cancel()
