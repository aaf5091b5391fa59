"""Run a coroutine now, in the caller, until it first has to wait.

Python 3.12 has this as ``asyncio.eager_task_factory``; the service runs on 3.11.
The screen-pop uses it to write a ``ringing`` frame to the agent's WebSocket inside
the AMI read that carried the ``AgentCalled``: uvicorn's WebSocket send only encodes
the frame and writes it to the transport, so it finishes without waiting, and the
frame leaves without queueing behind every callback already on the event loop
(database results, FastAGI requests, the bus's tasks), which is where most of a
pop's time went under load.

If the coroutine does wait, a task finishes it from there, exactly as if it had been
a task from the start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def run_eagerly(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run ``coro`` until it finishes (None) or waits (the task that goes on with it).

    An exception it raises before waiting propagates to the caller.
    """
    try:
        waiting = coro.send(None)
    except StopIteration:
        return None
    except BaseException:
        coro.close()
        raise
    task = asyncio.get_running_loop().create_task(_resume(coro, waiting))
    # Cancelled before its first step, the task never threw into ``coro``: close it so
    # its cleanup runs now (a no-op once it has finished).
    task.add_done_callback(lambda _: coro.close())
    return task


async def _resume(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Go on with ``coro`` the way a task would: wait for what it waits on, then resume
    it (it reads the awaited result or exception itself); a cancellation is thrown in."""
    try:
        while True:
            try:
                if waiting is None:  # a bare yield: asyncio.sleep(0)
                    await asyncio.sleep(0)
                else:
                    await asyncio.wait([waiting])
            except asyncio.CancelledError as cancelled:
                waiting = coro.throw(cancelled)
                continue
            waiting = coro.send(None)
    except StopIteration:
        return
