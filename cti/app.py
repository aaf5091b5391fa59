"""Starting and stopping the service: ``cti serve``.

The pieces are built and wired by :class:`cti.container.Container`; this module
starts them in order, owns every long-lived task, and stops them all, in
reverse order, on exit.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn

from cti.api import create_http_app
from cti.confirmations.keys import schedule_forget_keys
from cti.container import Container
from cti.db.migrate import upgrade_async
from cti.http.server import server_config
from cti.jobs.service import count_jobs, oldest_due
from cti.recordings.left_behind import schedule_left_behind
from cti.recordings.retention import schedule_retention
from cti.settings import Settings
from cti.stats.rollups import ensure_built
from cti.webhooks.service import settle_stranded

log = logging.getLogger(__name__)


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


async def _until_built(container: Container) -> None:
    while True:
        try:
            await ensure_built(container.session_maker, container.stats_rules)
            return
        except Exception:
            log.exception("statistics rollups not built; trying again in a minute")
        await asyncio.sleep(60.0)


async def update_job_gauges(container: Container) -> None:
    async with container.sessions() as session:
        counts = await count_jobs(session)
        due = await oldest_due(session, container.clock.now())
    container.job_gauges.update(counts, container.spool.pending(), due)


async def update_recordings_root(container: Container) -> None:
    """The recordings root's gauges (the probe sets them), off the event loop."""
    await asyncio.to_thread(container.recordings_root)


QUEUE_SAMPLE_S = 15.0
"""How often the wallboard's waiting-callers series is sampled (one point a minute kept)."""

RETENTION_START_DELAY_S = 600.0
"""At start the daily jobs (retention, forgetting idempotency keys) wait: catching up
(spooled and catalog jobs) comes first."""


async def submit_retention(container: Container, delay_s: float = 0.0) -> None:
    """Today's retention job; its key makes the hourly submissions one run a day."""
    await schedule_retention(
        container.spool, container.clock, container.recordings.settings, delay_s=delay_s
    )


ALIVE_S = 10.0
"""How often ``<data_dir>/alive`` is touched: the last sign of life a next start reads."""


def alive_marker(settings: Settings) -> Path:
    return settings.data_dir / "alive"


def last_alive(settings: Settings) -> float | None:
    """When the previous run of this service was last known alive (None: never ran)."""
    try:
        return alive_marker(settings).stat().st_mtime
    except FileNotFoundError:
        return None


def touch_alive(settings: Settings) -> None:
    marker = alive_marker(settings)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()


async def submit_left_behind(container: Container, previous: float | None, started: float) -> None:
    """Recordings of calls that ended while the service was not running get their rows."""
    if previous is None:
        return
    await schedule_left_behind(
        container.spool,
        # A call that ended just after the last touch was seen, or its file still written.
        since=previous - 2 * ALIVE_S,
        before=started,
        owner=container.jobs.owner,
    )


async def submit_forget_keys(container: Container, delay_s: float = 0.0) -> None:
    """Today's job forgetting old Idempotency-Keys; its key makes it one run a day."""
    await schedule_forget_keys(container.spool, container.clock, delay_s=delay_s)


async def settle_stranded_webhooks(container: Container) -> None:
    """Give up the webhook deliveries whose worker died during their last attempt."""
    async with container.sessions() as session, session.begin():
        settled = await settle_stranded(session, now=container.clock.now())
    if settled:
        log.warning(
            "%d webhook delivery(ies) marked failed: the service stopped during their "
            "last attempt (cti jobs retry sends them again)",
            settled,
        )


@asynccontextmanager
async def running(settings: Settings, migrate: bool = True) -> AsyncIterator[Container]:
    """Start every enabled part; stop them all, in reverse order, on exit."""
    if migrate:
        await upgrade_async(settings.effective_database_url)
    previous = last_alive(settings)
    container = Container(settings)
    started = container.clock.time()
    touch_alive(settings)
    container.writer.start()
    container.agent_state_writer.start()
    container.rollup_flusher.start()
    # Jobs run before the AGI listens: a spooled voicemail from the last run is written first.
    container.jobs.start()
    agi_started = ami_started = False
    try:
        if container.agi is not None:
            await container.agi.start()
            agi_started = True
        if container.ami is not None:
            await container.ami.start()
            ami_started = True
        starting: dict[str, Callable[[], Awaitable[None]]] = {
            "recordings root check": lambda: update_recordings_root(container),
            "left-behind recordings job": lambda: submit_left_behind(container, previous, started),
            "retention job": lambda: submit_retention(container, RETENTION_START_DELAY_S),
            "idempotency keys job": lambda: submit_forget_keys(container, RETENTION_START_DELAY_S),
        }
        for what, first in starting.items():
            try:
                await first()
            except Exception:
                log.exception("%s at start failed; its ticker tries again", what)
        tickers = [
            asyncio.create_task(_every(1.0, container.pipeline.expire_wrapups), name="wrap-up"),
            asyncio.create_task(_every(ALIVE_S, lambda: touch_alive(settings)), name="alive"),
            # Several samples a minute, the last one kept: no minute missed by timer drift.
            asyncio.create_task(
                _every(QUEUE_SAMPLE_S, container.queue_board.sample), name="queue-samples"
            ),
            asyncio.create_task(
                _every_async(15.0, lambda: update_job_gauges(container)), name="job-gauges"
            ),
            asyncio.create_task(
                _every_async(15.0, lambda: update_recordings_root(container)),
                name="recordings-root",
            ),
            asyncio.create_task(
                _every_async(3600.0, lambda: submit_retention(container)), name="retention"
            ),
            asyncio.create_task(
                _every_async(3600.0, lambda: submit_forget_keys(container)),
                name="idempotency-keys",
            ),
            asyncio.create_task(
                _every_async(60.0, lambda: settle_stranded_webhooks(container)),
                name="stranded-webhooks",
            ),
            # Statistics read raw rows until the rollups are built (a new database, new
            # thresholds): built in the background, retried until the database answers.
            asyncio.create_task(_until_built(container), name="stats-rollups"),
        ]
        try:
            yield container
        finally:
            for ticker in tickers:
                ticker.cancel()
            await asyncio.gather(*tickers, return_exceptions=True)
    finally:
        await container.click_to_call.close()
        if ami_started and container.ami is not None:
            await container.ami.stop()
        if agi_started and container.agi is not None:
            await container.agi.stop()
        await container.bus.stop()
        await container.jobs.stop()
        if container.spool.pending():
            log.warning(
                "stopping with %d jobs spooled on disk (database down); "
                "they are written at the next start",
                container.spool.pending(),
            )
        container.queue_board.stop()
        await container.screenpop.stop()
        await container.writer.stop()
        await container.agent_state_writer.stop()
        # Marks of the last batches stay for the next start (or the next statistics read).
        await container.rollup_flusher.stop()
        await container.engine.dispose()
        await container.lookup_engine.dispose()


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


FULL_PASSES_AFTER = 100
"""Collections of the middle generation before a full one (CPython's default: 10)."""


def settle_heap() -> None:
    """Keep the garbage collector's full passes rare and short.

    A full pass walks every tracked object and stops the event loop meanwhile: under
    the 200-call capacity step they came every 7 s and took 80-100 ms each (start-up's
    ~180k objects, then the desktops' ~100k coroutines, frames and buffers), about 1 %
    of the time, so about 1 % of the screen-pops waited for one. What start-up built
    (modules, the app, the container) lives as long as the process: after collecting
    start-up's garbage it is frozen out of every pass, and a full pass is considered
    after 100 collections of the middle generation instead of 10. Reference counting
    still frees almost everything at once; only cyclic garbage waits longer.
    """
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_PASSES_AFTER)


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The loop ``cti serve`` runs on (``CTI_EVENT_LOOP``): ``uvloop`` or ``asyncio``."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


async def serve(settings: Settings) -> None:
    """``cti serve``: run until SIGTERM or SIGINT, then shut down cleanly."""
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
            config = server_config(
                create_http_app(container.http_services()),
                settings,
                log_level=settings.log_level.lower(),
                lifespan="off",
                # uvicorn's loggers go through our handler, which masks secrets and
                # escapes control characters in every line.
                log_config=None,
            )
            # uvicorn briefly takes SIGTERM/SIGINT while serving and re-raises them when it
            # exits, so our own handlers still see them and stop the other parts.
            server = uvicorn.Server(config)
            server_task = asyncio.create_task(server.serve(sockets=[http_socket]), name="http")
        settle_heap()
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
