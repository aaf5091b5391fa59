"""A small FastAGI server on asyncio.

panoramisk's FastAGI spins at 100% CPU when a peer closes mid-headers and
cannot route plain functions, so the protocol is handled here: it is a few
lines of text each way (``agi_*`` headers, then ``COMMAND`` / ``200 result=``).
Every read has a deadline, so a silent or half-closed peer never holds a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

MAX_HEADER_LINES = 200
MAX_LINE = 4096
_RESULT = re.compile(r"^(\d{3})(?:[ -](.*))?$")
_RESULT_VALUE = re.compile(r"result=(-?\d+|\S*)(?:\s+\((.*)\))?")
_SAFE_VALUE = re.compile(r"^[^\r\n\"\\]*$")


class AgiError(Exception):
    pass


class AgiHangup(AgiError):
    """The channel hung up while the script was running."""


@dataclass(frozen=True, slots=True)
class AgiResult:
    code: int
    result: str
    data: str | None
    raw: str


class AgiSession:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: Mapping[str, str],
        command_timeout: float,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.env = env
        self._timeout = command_timeout

    @property
    def script(self) -> str:
        """The path of ``agi_network_script`` without query string, e.g. ``hotline``."""
        return urlsplit("agi://x/" + self.env.get("agi_network_script", "")).path.strip("/")

    @property
    def uniqueid(self) -> str:
        return self.env.get("agi_uniqueid", "")

    async def command(self, line: str, timeout: float | None = None) -> AgiResult:
        """Send one AGI command; ``timeout`` for commands that play or record media."""
        wait = self._timeout if timeout is None else timeout
        if "\n" in line or "\r" in line:
            raise AgiError("AGI command must be one line")
        self._writer.write(line.encode("utf-8") + b"\n")
        await self._writer.drain()
        while True:
            raw = await _read_line(self._reader, wait)
            if raw is None:
                raise AgiHangup("connection closed")
            if raw.startswith("HANGUP"):
                # Sent by Asterisk when the channel hangs up (AGISIGHUP); a reply follows.
                continue
            m = _RESULT.match(raw)
            if not m:
                raise AgiError(f"unexpected AGI reply {raw[:80]!r}")
            code = int(m.group(1))
            if code == 520:
                # Usage text follows until a line "520 End of proper usage."
                while (extra := await _read_line(self._reader, self._timeout)) is not None:
                    if extra.startswith("520"):
                        break
                raise AgiError(f"AGI rejected command {line.split(' ')[0]!r}")
            rest = m.group(2) or ""
            rv = _RESULT_VALUE.search(rest)
            result = rv.group(1) if rv else ""
            data = rv.group(2) if rv else None
            if code == 511:
                raise AgiHangup("channel is dead")
            if code != 200:
                raise AgiError(f"AGI error {code}: {rest[:80]}")
            return AgiResult(code=code, result=result, data=data, raw=raw)

    async def set_variable(self, name: str, value: str) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_()]*", name):
            raise AgiError(f"bad variable name {name!r}")
        if not _SAFE_VALUE.match(value):
            raise AgiError(f"unsafe value for {name}")
        await self.command(f'SET VARIABLE {name} "{value}"')

    async def get_variable(self, name: str) -> str | None:
        """A channel variable or function value, e.g. ``CHANNEL(linkedid)``; None if unset."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_,]*\))?", name):
            raise AgiError(f"bad variable name {name!r}")
        reply = await self.command(f"GET VARIABLE {name}")
        return reply.data if reply.result == "1" else None

    async def verbose(self, message: str, level: int = 3) -> None:
        clean = message.replace('"', "'").replace("\\", "/").replace("\n", " ")
        await self.command(f'VERBOSE "{clean}" {level}')


Handler = Callable[[AgiSession], Awaitable[None]]


async def _read_line(reader: asyncio.StreamReader, timeout: float) -> str | None:
    try:
        async with asyncio.timeout(timeout):
            raw = await reader.readline()
    except TimeoutError:
        raise AgiError("timed out waiting for Asterisk") from None
    except (ValueError, asyncio.LimitOverrunError):
        raise AgiError("line too long") from None
    if not raw:
        return None
    return raw.decode("utf-8", "replace").rstrip("\r\n")


async def read_env(reader: asyncio.StreamReader, timeout: float) -> dict[str, str]:
    env: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        line = await _read_line(reader, timeout)
        if line is None:
            raise AgiError("peer closed before the end of the AGI headers")
        if line == "":
            return env
        key, sep, value = line.partition(":")
        if not sep or not key.startswith("agi_"):
            raise AgiError(f"bad AGI header line {line[:60]!r}")
        env[key.strip()] = value.strip()
    raise AgiError("too many AGI header lines")


class FastAgiServer:
    def __init__(
        self,
        host: str,
        port: int,
        routes: Mapping[str, Handler],
        header_timeout: float = 5.0,
        command_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self._routes = dict(routes)
        self._header_timeout = header_timeout
        self._command_timeout = command_timeout
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.handled = 0
        self.failed = 0

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(
                self._on_connect, self.host, self.port, limit=MAX_LINE
            )
        except OSError as exc:
            raise AgiError(
                f"cannot listen for FastAGI on {self.host}:{self.port}: {exc.strerror}"
            ) from None
        sock = self._server.sockets[0].getsockname()
        self.port = int(sock[1])
        log.info("FastAGI listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            env = await read_env(reader, self._header_timeout)
            session = AgiSession(reader, writer, env, self._command_timeout)
            handler = self._routes.get(session.script)
            if handler is None:
                log.warning("FastAGI: no route for script %r", session.script)
                self.failed += 1
                return
            await handler(session)
            self.handled += 1
        except AgiHangup:
            self.handled += 1
        except AgiError as exc:
            self.failed += 1
            log.warning("FastAGI session failed: %s", exc)
        except Exception:
            self.failed += 1
            log.exception("FastAGI handler crashed")
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
