"""Per-agent frame feeds for ``WS /ws/agent``.

The tracker's listeners run inside the AMI reader, so :meth:`ScreenPopHub.on_event`
only files work: each agent has a queue of jobs run in order by one task, so a
``ringing`` frame (which waits for a database lookup) is never overtaken by the
``answered`` or ``ended`` frame of the same call, and the AMI path never waits
on the database.

Every frame gets an id from one counter (monotonic for the hub's life, and
started from the wall clock so ids keep growing across restarts). Each agent
keeps its recent frames in a ring buffer (bounded by count and age); a client
that reconnects with ``last_event_id`` gets the frames it missed. Two tabs of
one agent are two subscribers of the same feed. A frame goes only to the feed
of the agent it is about.

A ``ringing`` frame carries the time its ``AgentCalled`` bytes were read from the
AMI socket (``read_at``, given by the AMI adapter); once the frame is on a WebSocket
the hub hears of it (:meth:`Subscriber.sent`) and ``on_pop`` gets the pop's latency,
``cti_screenpop_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from cti.clock import SYSTEM_CLOCK, Clock
from cti.screenpop.eager import run_eagerly
from cti.tracking.events import DomainEvent, DomainEventType
from cti.tracking.model import CallFacts
from cti.tracking.values import extension_of

log = logging.getLogger(__name__)

Payload = dict[str, Any]
Job = Callable[[], Awaitable[Payload | None]]


class AgentStateChange(Protocol):
    """What the hub reads of :class:`cti.agents.state.AgentStateChanged`."""

    @property
    def interface(self) -> str: ...

    @property
    def member_name(self) -> str | None: ...


class Receipt(Protocol):
    """What the hub reads of :class:`cti.ami.receipt.AmiReceipt`."""

    @property
    def read_at(self) -> float | None:
        """When the AMI bytes being handled now were read (None: not in a read)."""
        ...

    def now(self) -> float:
        """The clock ``read_at`` is on."""
        ...


class PopLookup(Protocol):
    async def __call__(self, caller_number: str | None) -> Payload: ...


@dataclass(frozen=True, slots=True)
class Frame:
    id: int
    at: float
    """Monotonic time it was made (for the buffer's age bound)."""
    linkedid: str | None
    type: str
    text: str


class PopText(str):
    """A ``ringing`` frame's text, with when its ``AgentCalled`` bytes were read
    (:attr:`Receipt.read_at`)."""

    read_at: float

    def __new__(cls, text: str, read_at: float) -> PopText:
        self = super().__new__(cls, text)
        self.read_at = read_at
        return self


class Subscriber:
    """One WebSocket connection: a bounded queue of frame texts.

    Once the connection is pumping (:meth:`write_now_with`), a frame pushed while
    nothing waits before it is written at once, in the caller (the AMI read), instead
    of waking the connection's sender on a later turn of the event loop; frames that
    find others waiting go to the queue, so their order is kept.
    """

    def __init__(
        self,
        extension: str,
        max_pending: int = 500,
        on_sent: Callable[[str], None] | None = None,
    ) -> None:
        self.extension = extension
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(max_pending)
        self.dropped = False
        self._on_sent = on_sent
        self._write: Callable[[str], Coroutine[Any, Any, None]] | None = None
        self.sending = False
        """The connection's sender holds a frame it took from the queue."""
        self._in_flight: asyncio.Task[None] | None = None
        """A frame written at once that had to wait (the socket's buffer was full)."""

    def write_now_with(self, write: Callable[[str], Coroutine[Any, Any, None]]) -> None:
        """Write frames that wait behind nothing with ``write`` (the socket's send)."""
        self._write = write

    def sent(self, text: str) -> None:
        """The connection has written ``text`` (a frame from :attr:`queue`) to the client."""
        if self._on_sent is not None:
            self._on_sent(text)

    async def settled(self) -> None:
        """Wait for a frame written at once that is still on its way (order of frames)."""
        while self._in_flight is not None:
            await asyncio.wait([self._in_flight])

    def push(self, text: str) -> None:
        if self.dropped:
            return
        if (
            self._write is not None
            and not self.sending
            and self._in_flight is None
            and self.queue.empty()
        ):
            self._write_now(text)
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            # A client this far behind reconnects and resumes from its last id.
            self.dropped = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.get_nowait()
                self.queue.put_nowait(None)

    def _write_now(self, text: str) -> None:
        assert self._write is not None
        try:
            waiting = run_eagerly(self._write(text))
        except Exception as exc:
            # The socket is going away: its sender hears it and the connection ends.
            log.debug("WebSocket of agent %s: write failed: %s", self.extension, exc)
            self.close()
            return
        if waiting is None:
            self.sent(text)
            return
        self._in_flight = waiting

        def landed(task: asyncio.Task[None]) -> None:
            self._in_flight = None
            if task.cancelled() or task.exception() is not None:
                self.close()
            else:
                self.sent(text)

        waiting.add_done_callback(landed)

    def close(self) -> None:
        self.dropped = True
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


@dataclass(slots=True)
class _Feed:
    extension: str
    buffer: deque[Frame]
    subscribers: set[Subscriber] = field(default_factory=set)
    jobs: asyncio.Queue[tuple[Job, float | None]] = field(default_factory=asyncio.Queue)
    """Work in order, each with the read time of the AMI bytes behind it (or None)."""
    worker: asyncio.Task[None] | None = None
    live: dict[str, list[Frame]] = field(default_factory=dict)
    pending: int = 0
    """Jobs filed and not yet published: while there are any, frames wait their turn."""
    lost_upto: int = 0
    """Id of the newest frame pushed out of the buffer (by count or age)."""
    """Frames of calls still ringing or talking at this agent (for a newly opened tab)."""


@dataclass(slots=True)
class _CallInfo:
    caller_number: str | None
    caller_name: str | None
    rung: set[str] = field(default_factory=set)
    answered_by: str | None = None
    prefetch: asyncio.Task[Payload] | None = None
    prefetched_at: float = 0.0


MAX_PREFETCHING = 50
PREFETCH_MAX_AGE_S = 30.0
"""A lookup started when the call arrived serves the pop if it is at most this old."""


class ScreenPopHub:
    def __init__(
        self,
        lookup: PopLookup | None = None,
        buffer_size: int = 200,
        buffer_age_s: float = 900.0,
        lookup_timeout_s: float = 3.0,
        clock: Clock = SYSTEM_CLOCK,
        call_facts: Callable[[str], CallFacts | None] | None = None,
        receipt: Receipt | None = None,
        on_pop: Callable[[float], None] | None = None,
    ) -> None:
        """``receipt`` says when the AMI bytes being handled were read; ``on_pop`` gets
        the seconds from there to a ``ringing`` frame written to a WebSocket."""
        self.lookup = lookup
        self._receipt = receipt
        self._on_pop = on_pop
        self.buffer_size = buffer_size
        self.buffer_age_s = buffer_age_s
        self.lookup_timeout_s = lookup_timeout_s
        self._clock = clock
        self._call_facts = call_facts
        self._feeds: dict[str, _Feed] = {}
        self._calls: dict[str, _CallInfo] = {}
        self._next_id = int(clock.time() * 1000)
        self._stopped = False
        self._supervisors: set[Subscriber] = set()
        self.frames_sent = 0
        self.lookup_failures = 0
        self._prefetching: set[asyncio.Task[Payload]] = set()

    # --- in: domain events and agent states (called on the AMI path; never awaits) -------

    def on_event(self, event: DomainEvent) -> None:
        kind = event.type
        if self._supervisors and kind in _SUPERVISED:
            self._to_supervisors(
                {
                    "type": "call",
                    "event": kind.value,
                    "call_id": event.linkedid,
                    "at": event.timestamp,
                    "data": {
                        k: v
                        for k, v in event.data.items()
                        if isinstance(v, str | int | float | bool | None)
                    },
                }
            )
        if kind is DomainEventType.CALL_STARTED:
            arriving = self._calls[event.linkedid] = _CallInfo(
                event.data.get("caller_number"), event.data.get("caller_name")
            )
            self._prefetch(arriving)
        elif kind is DomainEventType.AGENT_RINGING:
            self._on_ringing(event)
        elif kind is DomainEventType.ANSWERED:
            self._on_answered(event)
        elif kind is DomainEventType.AGENT_RING_NO_ANSWER:
            ext = extension_of(event.data.get("interface"), event.data.get("member_name"))
            call = self._calls.get(event.linkedid)
            if ext is not None and call is not None and ext in call.rung:
                call.rung.discard(ext)
                self._enqueue_now(ext, _ended(event, "not_answered"))
        elif kind is DomainEventType.ENDED:
            call = self._calls.pop(event.linkedid, None)
            if call is None:
                return
            agents = set(call.rung)
            if call.answered_by:
                agents.add(call.answered_by)
            for ext in sorted(agents):
                self._enqueue_now(ext, _ended(event, "hangup"))

    def on_agent_state(self, change: AgentStateChange) -> None:
        ext = extension_of(change.interface, change.member_name)
        if ext is None:
            return
        payload: Payload = {"type": "agent_state", "extension": ext}
        for name in ("state", "previous", "since", "paused_reason", "queue"):
            value = getattr(change, name, None)
            payload[name] = value.value if isinstance(value, Enum) else value
        if self._supervisors:
            self._to_supervisors(payload)
        self._enqueue_now(ext, payload)

    def to_supervisors(self, payload: Payload) -> None:
        """A frame for every ``WS /ws/supervisor`` (e.g. the queue board's ``queue`` frames)."""
        if self._supervisors:
            self._to_supervisors(payload)

    def _to_supervisors(self, payload: Payload) -> None:
        text = json.dumps(payload, ensure_ascii=False, default=str)
        for sub in list(self._supervisors):
            sub.push(text)

    def _on_ringing(self, event: DomainEvent) -> None:
        data = event.data
        ext = extension_of(data.get("interface"), data.get("member_name"))
        if ext is None:
            return
        call = self._calls.get(event.linkedid)
        if call is None:  # a call we joined late (resync): no caller id known
            call = self._calls[event.linkedid] = _CallInfo(None, None)
        call.rung.add(ext)
        base: Payload = {
            "type": "ringing",
            "call_id": event.linkedid,
            "queue": data.get("queue"),
            "at": event.timestamp,
            "caller": {"number": call.caller_number, "name": call.caller_name},
        }
        facts = self._call_facts(event.linkedid) if self._call_facts is not None else None
        if facts is not None and facts.direction == "outbound":
            # A call we placed: the party is the customer we dialled (known only once the
            # dialplan said so), and the agent sees why the call is theirs.
            if facts.caller_number and facts.caller_number != call.caller_number:
                call.caller_number = facts.caller_number
                call.prefetch = None
                base["caller"] = {"number": call.caller_number, "name": call.caller_name}
            # Click-to-call: the agent's customer rings; else the customer pressed 0 in an
            # order-confirmation call and the agent sees which order.
            base["origin"] = "callback" if data.get("callback") else "confirmation"
            base["order_id"] = facts.order_id
        lookup = self.lookup
        number = call.caller_number
        prefetch = call.prefetch
        read_at = self._receipt.read_at if self._receipt is not None else None
        if (
            prefetch is not None
            and self._clock.monotonic() - call.prefetched_at > PREFETCH_MAX_AGE_S
        ):
            prefetch = None  # the caller waited long: orders or tickets may have changed

        async def job() -> Payload:
            if lookup is None:
                return base
            try:
                async with asyncio.timeout(self.lookup_timeout_s):
                    found = await _prefetched(prefetch)
                    if found is None:
                        found = await lookup(number)
            except Exception as exc:
                # The pop still shows the caller; the page says the lookup failed.
                self.lookup_failures += 1
                log.warning("screen-pop lookup failed for %s: %s", event.linkedid, exc)
                return {**base, "customer": None, "lookup_error": type(exc).__name__}
            return {**base, **found}

        found = _ready(prefetch)
        if lookup is None or found is not None:
            # The caller was looked up as the call arrived: the pop goes out now, in this
            # AMI read, unless frames filed before it still wait (their order is kept).
            self._publish_now(ext, base if found is None else {**base, **found}, read_at)
            return
        self._enqueue(ext, job, read_at)

    def _prefetch(self, call: _CallInfo) -> None:
        """Look the caller up as the call arrives, so the pop is ready when a phone rings."""
        lookup = self.lookup
        if lookup is None or not call.caller_number or self._stopped:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if len(self._prefetching) >= MAX_PREFETCHING:
            return  # a burst of arrivals: look up at ring time instead

        async def bounded(number: str) -> Payload:
            async with asyncio.timeout(self.lookup_timeout_s):
                return await lookup(number)

        task = loop.create_task(bounded(call.caller_number), name="screenpop-prefetch")
        self._prefetching.add(task)
        task.add_done_callback(self._prefetch_done)
        call.prefetch = task
        call.prefetched_at = self._clock.monotonic()

    def _prefetch_done(self, task: asyncio.Task[Payload]) -> None:
        self._prefetching.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("screen-pop prefetch failed: %s", task.exception())

    def _on_answered(self, event: DomainEvent) -> None:
        data = event.data
        ext = extension_of(data.get("agent"), data.get("member_name"))
        call = self._calls.get(event.linkedid)
        if call is not None:
            if ext is not None:
                call.answered_by = ext
            for other in sorted(call.rung - {ext} if ext else call.rung):
                self._enqueue_now(other, _ended(event, "answered_elsewhere"))
            call.rung = {ext} if ext else set()
        if ext is not None:
            self._enqueue_now(
                ext,
                {
                    "type": "answered",
                    "call_id": event.linkedid,
                    "queue": data.get("queue"),
                    "at": event.timestamp,
                    "wait_s": data.get("wait_s"),
                },
            )

    # --- ordered work per agent ----------------------------------------------------------

    def _feed(self, ext: str) -> _Feed:
        feed = self._feeds.get(ext)
        if feed is None:
            feed = self._feeds[ext] = _Feed(ext, deque(maxlen=self.buffer_size))
        return feed

    def _enqueue_now(self, ext: str, payload: Payload) -> None:
        self._publish_now(ext, payload)

    def _publish_now(self, ext: str, payload: Payload, read_at: float | None = None) -> None:
        """Publish at once if nothing waits before it in the agent's feed, else file it."""
        if self._stopped:
            return
        feed = self._feed(ext)
        if feed.pending == 0:
            self._publish(feed, payload, read_at)
            return

        async def job() -> Payload:
            return payload

        self._enqueue(ext, job, read_at)

    def _enqueue(self, ext: str, job: Job, read_at: float | None = None) -> None:
        if self._stopped:
            return
        feed = self._feed(ext)
        feed.pending += 1
        feed.jobs.put_nowait((job, read_at))
        if feed.worker is None or feed.worker.done():
            feed.worker = asyncio.get_running_loop().create_task(
                self._work(feed), name=f"screenpop-{ext}"
            )

    async def _work(self, feed: _Feed) -> None:
        while True:
            job, read_at = await feed.jobs.get()
            try:
                payload = await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("screen-pop job failed for agent %s", feed.extension)
                feed.pending -= 1
                continue
            finally:
                feed.jobs.task_done()
            feed.pending -= 1
            if payload is not None:
                self._publish(feed, payload, read_at)

    async def drain(self) -> None:
        """Wait until every filed job has produced its frame (tests, benchmarks)."""
        for feed in list(self._feeds.values()):
            await feed.jobs.join()

    def _publish(self, feed: _Feed, payload: Payload, read_at: float | None = None) -> Frame:
        now = self._clock.monotonic()
        self._next_id += 1
        frame_id = self._next_id
        text = json.dumps({"id": frame_id, **payload}, ensure_ascii=False, default=str)
        call_id = payload.get("call_id")
        frame = Frame(frame_id, now, call_id, payload["type"], text)
        if len(feed.buffer) == feed.buffer.maxlen:
            feed.lost_upto = feed.buffer[0].id
        feed.buffer.append(frame)
        while feed.buffer and now - feed.buffer[0].at > self.buffer_age_s:
            feed.lost_upto = feed.buffer.popleft().id
        if call_id is not None:
            if frame.type == "ended":
                feed.live.pop(call_id, None)
            elif frame.type in ("ringing", "answered"):
                feed.live.setdefault(call_id, []).append(frame)
        live = text if read_at is None else PopText(text, read_at)
        for sub in list(feed.subscribers):
            sub.push(live)
        self.frames_sent += len(feed.subscribers)
        return frame

    def _sent(self, text: str) -> None:
        # Only frames pushed live carry the stamp; a backlog replayed to a new tab does not.
        if self._on_pop is not None and self._receipt is not None and isinstance(text, PopText):
            self._on_pop(self._receipt.now() - text.read_at)

    # --- out: subscriptions ---------------------------------------------------------------

    @property
    def last_id(self) -> int:
        return self._next_id

    def subscribe(
        self, ext: str, last_event_id: int | None = None
    ) -> tuple[Subscriber, list[str], bool]:
        """A new subscriber, the frames to send first, and whether some were lost.

        With ``last_event_id`` the frames after it still buffered (not older than
        the age bound); without it, the frames of calls in progress at this agent.
        Registration and the backlog are taken together (no await in between), so
        no frame falls between them.
        """
        feed = self._feed(ext)
        sub = Subscriber(ext, on_sent=self._sent)
        now = self._clock.monotonic()
        if last_event_id is None or last_event_id > self._next_id:
            # No id, or one from a previous run: the calls in progress at this agent.
            backlog = [f.text for frames in feed.live.values() for f in frames]
            gap = last_event_id is not None
        else:
            backlog = [
                f.text
                for f in feed.buffer
                if f.id > last_event_id and now - f.at <= self.buffer_age_s
            ]
            gap = last_event_id < feed.lost_upto
        feed.subscribers.add(sub)
        return sub, backlog, gap

    def subscribe_supervisor(self) -> Subscriber:
        sub = Subscriber("", max_pending=5000)
        self._supervisors.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._supervisors.discard(sub)
        feed = self._feeds.get(sub.extension)
        if feed is not None:
            feed.subscribers.discard(sub)

    def subscribers(self, ext: str) -> int:
        feed = self._feeds.get(ext)
        return len(feed.subscribers) if feed else 0

    def feeds(self) -> Mapping[str, int]:
        return {ext: len(f.subscribers) for ext, f in self._feeds.items()}

    async def stop(self) -> None:
        self._stopped = True
        for pending in list(self._prefetching):
            pending.cancel()
        tasks = [f.worker for f in self._feeds.values() if f.worker is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for feed in self._feeds.values():
            for sub in list(feed.subscribers):
                sub.close()
        for sub in list(self._supervisors):
            sub.close()


_SUPERVISED = frozenset(
    {
        DomainEventType.CALL_STARTED,
        DomainEventType.QUEUED,
        DomainEventType.AGENT_RINGING,
        DomainEventType.ANSWERED,
        DomainEventType.ABANDONED,
        DomainEventType.QUEUE_TIMEOUT,
        DomainEventType.TRANSFERRED,
        DomainEventType.ENDED,
    }
)


def _ready(task: asyncio.Task[Payload] | None) -> Payload | None:
    """The result of a lookup started on arrival if it is already there and worked."""
    if task is None or not task.done() or task.cancelled() or task.exception() is not None:
        return None
    return task.result()


async def _prefetched(task: asyncio.Task[Payload] | None) -> Payload | None:
    """The result of a lookup started on arrival (shared by every agent rung), if it worked."""
    if task is None:
        return None
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # we are being cancelled, not just the prefetch
        return None
    except Exception:
        return None  # the pop looks up again and reports a failure itself


def _ended(event: DomainEvent, reason: str) -> Payload:
    payload: Payload = {
        "type": "ended",
        "call_id": event.linkedid,
        "reason": reason,
        "at": event.timestamp,
    }
    if event.type is DomainEventType.ENDED:
        summary = event.data.get("summary")
        payload["outcome"] = event.data.get("outcome")
        payload["talk_s"] = getattr(summary, "talk_s", None)
    return payload
