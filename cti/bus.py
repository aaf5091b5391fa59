"""The in-process event bus: domain events are published once, each domain subscribes.

Subscribers are plain callables registered by their own domain (``cti/<domain>/
subscribers.py``) against an event class. A subscriber may return an awaitable;
the bus runs it as a task it owns. A failing subscriber is isolated: the event
still reaches the others, the failure is logged once with the subscriber's
name and counted in ``cti_subscriber_failures_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")


class FailureCounter(Protocol):
    def __call__(self, subscriber: str) -> None: ...


@dataclass(frozen=True, slots=True)
class _Subscription:
    name: str
    handler: Callable[[Any], object]


class EventBus:
    def __init__(self, on_failure: FailureCounter | None = None) -> None:
        self._subs: defaultdict[type[Any], list[_Subscription]] = defaultdict(list)
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[None]] = set()

    def subscribe(
        self, kind: type[E], handler: Callable[[E], object], *, name: str | None = None
    ) -> None:
        """Call ``handler`` for every published event that is an instance of ``kind``."""
        label = name or str(getattr(handler, "__qualname__", repr(handler)))
        self._subs[kind].append(_Subscription(label, handler))

    def subscribers(self, kind: type[Any]) -> list[str]:
        return [s.name for k, subs in self._subs.items() if issubclass(kind, k) for s in subs]

    def publish(self, event: object) -> None:
        """Hand ``event`` to every subscriber of its class, in registration order."""
        for kind in type(event).__mro__:
            for sub in self._subs.get(kind, ()):
                try:
                    result = sub.handler(event)
                except Exception:
                    self._failed(sub.name, event)
                    continue
                if inspect.isawaitable(result):
                    self._spawn(sub.name, event, result)

    def _spawn(self, name: str, event: object, awaitable: Awaitable[object]) -> None:
        async def run() -> None:
            try:
                await awaitable
            except asyncio.CancelledError:
                raise
            except Exception:
                self._failed(name, event)

        task = asyncio.get_running_loop().create_task(run(), name=f"bus:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _failed(self, name: str, event: object) -> None:
        log.exception("subscriber %s failed on %s", name, type(event).__name__)
        if self._on_failure is not None:
            self._on_failure(name)

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait for the subscribers' tasks started so far."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self, timeout: float = 5.0) -> None:
        """Let running subscriber tasks finish (bounded), then cancel the rest."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.drain()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
