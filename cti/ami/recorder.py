"""Record the raw AMI byte stream to a file, for replay and tests.

After login every byte Asterisk sends is written exactly as received (no
decoding, no re-encoding, same splits irrelevant), flushed as it goes, so the
file stays useful if the recorder is killed. Nothing is sent after ``Login``,
so the trace holds only what Asterisk chose to send: events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from cti.ami.codec import AmiMessage
from cti.ami.protocol import (
    AmiActionTimeout,
    AmiConnectionLost,
    AmiProtocol,
    Headers,
    ResponseKind,
    md5_login,
)
from cti.settings import Settings

__all__ = ["record_trace"]

log = logging.getLogger(__name__)

LOGIN_ID = "record-trace-login"


def _ignore(_: AmiMessage) -> None:
    return None


async def _wait(stop: asyncio.Event) -> None:
    await stop.wait()


async def record_trace(settings: Settings, out: Path, stop: asyncio.Event) -> int:
    """Log in and append every byte received after the login response to ``out``.

    Runs until ``stop`` is set and returns the number of bytes written.
    Raises :class:`OSError` if Asterisk cannot be reached,
    :class:`~cti.ami.protocol.AmiActionError` if the login is refused and
    :class:`~cti.ami.protocol.AmiConnectionLost` if Asterisk closes the
    connection before ``stop`` (what was received is kept in ``out``).
    """
    written = 0
    address = f"{settings.ami_host}:{settings.ami_port}"
    loop = asyncio.get_running_loop()
    with out.open("wb") as fh:

        def tap(data: bytes) -> None:
            nonlocal written
            fh.write(data)
            fh.flush()
            written += len(data)

        async with asyncio.timeout(settings.ami_action_timeout):
            _, protocol = await loop.create_connection(
                lambda: AmiProtocol(_ignore, tap=tap, tap_after=LOGIN_ID),
                settings.ami_host,
                settings.ami_port,
            )

        async def send(headers: Headers) -> AmiMessage:
            action_id = LOGIN_ID if headers["Action"] == "Login" else "record-trace-challenge"
            answer = protocol.send_action(action_id, headers, ResponseKind.SINGLE)
            try:
                async with asyncio.timeout(settings.ami_action_timeout):
                    return (await answer)[0]
            except TimeoutError:
                raise AmiActionTimeout(f"no answer to {headers['Action']} from {address}") from None

        stop_wait = asyncio.create_task(_wait(stop))
        try:
            await md5_login(send, settings.ami_username, settings.ami_secret)
            log.info("recording AMI stream from %s to %s", address, out)
            await asyncio.wait({stop_wait, protocol.lost}, return_when=asyncio.FIRST_COMPLETED)
            if not stop.is_set():
                raise AmiConnectionLost(
                    f"AMI connection to {address} closed while recording "
                    f"({written} bytes written to {out})"
                )
        finally:
            stop_wait.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stop_wait
            protocol.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await asyncio.shield(protocol.lost)
    return written
