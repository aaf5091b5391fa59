"""A small FastAGI server on asyncio.

panoramisk's FastAGI spins at 100% CPU when a peer closes mid-headers and
cannot route plain functions, so the protocol is handled here: it is a few
lines of text each way (``agi_*`` headers, then ``COMMAND`` / ``200 result=``).

Whoever reaches the port is a stranger until proven otherwise:

* only peers from the allowed networks are served (``CTI_AGI_ALLOWED``,
  loopback by default); anyone else is closed at once with one log line;
* at most ``max_connections`` sessions at once; one more is closed at once
  (Asterisk then carries on with the dialplan's defaults);
* the whole request (every ``agi_*`` line) must arrive within
  ``request_timeout`` and the whole session end within ``session_timeout``;
  every read has its own deadline too, so a silent or half-closed peer never
  holds a task;
* every value read (``agi_*`` lines, ``GET VARIABLE`` answers) reaches the
  apps without control characters; what an app does with it (a path, an id)
  it checks itself.

Each refusal and each session's outcome is counted (``cti_agi_*`` metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from cti.settings import LOOPBACK, IpNetwork, Settings
from cti.tracking.values import printable

log = logging.getLogger(__name__)

MAX_HEADER_LINES = 200
MAX_LINE = 4096
_RESULT = re.compile(r"^(\d{3})(?:[ -](.*))?$")
_RESULT_VALUE = re.compile(r"result=(-?\d+|\S*)(?:\s+\((.*)\))?")
_SAFE_VALUE = re.compile(r"^[^\r\n\"\\]*$")
_HEADER_KEY = re.compile(r"^agi_[a-z0-9_]{1,40}$")


class AgiError(Exception):
    pass


class AgiHangup(AgiError):
    """The channel hung up while the script was running."""


class AgiTimeout(AgiError):
    """The peer did not send a line (or its whole request) in time."""


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
        if reply.result != "1" or reply.data is None:
            return None
        return printable(reply.data)

    async def verbose(self, message: str, level: int = 3) -> None:
        clean = message.replace('"', "'").replace("\\", "/").replace("\n", " ")
        await self.command(f'VERBOSE "{clean}" {level}')


Handler = Callable[[AgiSession], Awaitable[None]]


async def _read_line(reader: asyncio.StreamReader, timeout: float) -> str | None:
    try:
        async with asyncio.timeout(timeout):
            raw = await reader.readline()
    except TimeoutError:
        raise AgiTimeout("timed out waiting for Asterisk") from None
    except (ValueError, asyncio.LimitOverrunError):
        raise AgiError("line too long") from None
    if not raw:
        return None
    return raw.decode("utf-8", "replace").rstrip("\r\n")


async def read_env(
    reader: asyncio.StreamReader, timeout: float, line_timeout: float | None = None
) -> dict[str, str]:
    """The ``agi_*`` lines up to the blank line, all within ``timeout`` seconds.

    Values come without control characters (a caller's name is whatever the
    trunk sent).
    """
    env: dict[str, str] = {}
    try:
        async with asyncio.timeout(timeout):
            for _ in range(MAX_HEADER_LINES):
                line = await _read_line(reader, line_timeout or timeout)
                if line is None:
                    raise AgiError("peer closed before the end of the AGI headers")
                if line == "":
                    return env
                key, sep, value = line.partition(":")
                key = key.strip()
                if not sep or not _HEADER_KEY.match(key):
                    raise AgiError(f"bad AGI header line {line[:60]!r}")
                env[key] = printable(value)
    except TimeoutError:
        raise AgiTimeout(f"AGI request not complete within {timeout:g}s") from None
    raise AgiError("too many AGI header lines")


class AgiCounters(Protocol):
    """Where the server counts what it did (:class:`cti.metrics.Metrics`)."""

    def agi_request(self, script: str, outcome: str, seconds: float | None = None) -> None: ...

    def agi_refused(self, reason: str) -> None: ...


class _NoCounters:
    def agi_request(self, script: str, outcome: str, seconds: float | None = None) -> None:
        return None

    def agi_refused(self, reason: str) -> None:
        return None


def peer_address(
    writer: asyncio.StreamWriter,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The peer's IP address; an IPv4-mapped IPv6 address as the IPv4 one."""
    peer = writer.get_extra_info("peername")
    if not isinstance(peer, tuple) or not peer:
        return None
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def exposure_warning(host: str, allowed_configured: bool) -> str | None:
    """What to warn about when listening on ``host``: reachable, yet no allow list given."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback or allowed_configured:
        return None
    return (
        f"FastAGI listens on {host} but CTI_AGI_ALLOWED is not set: only loopback "
        "peers are served; set it to the Asterisk server's address(es)"
    )


class FastAgiServer:
    """Serves the FastAGI apps in ``routes`` (by ``agi_network_script``).

    ``allowed``: the networks peers may come from (default loopback).
    ``counters`` hears every refusal and every session's outcome.
    """

    def __init__(
        self,
        host: str,
        port: int,
        routes: Mapping[str, Handler],
        *,
        allowed: Iterable[IpNetwork] = LOOPBACK,
        allowed_configured: bool = False,
        max_connections: int = 200,
        request_timeout: float = 5.0,
        session_timeout: float = 900.0,
        command_timeout: float = 10.0,
        counters: AgiCounters | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._routes = dict(routes)
        self._allowed = tuple(allowed)
        self._allowed_configured = allowed_configured
        self._max_connections = max_connections
        self._request_timeout = request_timeout
        self._session_timeout = session_timeout
        self._command_timeout = command_timeout
        self._counters: AgiCounters = counters or _NoCounters()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._at_capacity = False
        self.handled = 0
        self.failed = 0
        self.refused = 0
        """Connections closed unheard: a peer not allowed, or one over the cap."""

    @classmethod
    def from_settings(
        cls, settings: Settings, routes: Mapping[str, Handler], counters: AgiCounters | None = None
    ) -> FastAgiServer:
        """The server ``cti serve`` runs: ``CTI_AGI_*`` settings."""
        return cls(
            settings.agi_host,
            settings.agi_port,
            routes,
            allowed=settings.agi_allowed_networks,
            allowed_configured=bool(settings.agi_allowed),
            max_connections=settings.agi_max_connections,
            request_timeout=settings.agi_request_timeout,
            session_timeout=settings.agi_session_timeout,
            counters=counters,
        )

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def sessions(self) -> int:
        """Sessions in progress."""
        return len(self._tasks)

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
        log.info(
            "FastAGI listening on %s:%s for %s",
            self.host,
            self.port,
            ", ".join(str(n) for n in self._allowed),
        )
        warning = exposure_warning(self.host, self._allowed_configured)
        if warning is not None:
            log.warning("%s", warning)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _allows(self, writer: asyncio.StreamWriter) -> bool:
        address = peer_address(writer)
        if address is None:
            return False
        return any(address in network for network in self._allowed)

    def _turn_away(self, writer: asyncio.StreamWriter, reason: str) -> None:
        self.refused += 1
        self._counters.agi_refused(reason)
        # Nothing was read, nothing is owed: drop the socket without lingering.
        writer.transport.abort()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._allows(writer):
            peer = peer_address(writer)
            log.warning("FastAGI: refused connection from %s (not in the allowed networks)", peer)
            self._turn_away(writer, "address")
            return
        if len(self._tasks) >= self._max_connections:
            if not self._at_capacity:
                # One line per episode: a flood must not flood the log too.
                self._at_capacity = True
                log.warning(
                    "FastAGI: %d sessions in progress, the limit; refusing new connections",
                    len(self._tasks),
                )
            self._turn_away(writer, "capacity")
            return
        self._at_capacity = False
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        script = "unknown"
        outcome = "failed"
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._session_timeout):
                env = await read_env(reader, self._request_timeout, self._command_timeout)
                session = AgiSession(reader, writer, env, self._command_timeout)
                handler = self._routes.get(session.script)
                if handler is None:
                    log.warning("FastAGI: no route for script %r", session.script)
                    outcome = "no_route"
                    self.failed += 1
                    return
                script = session.script
                await handler(session)
            outcome = "ok"
            self.handled += 1
        except AgiHangup:
            outcome = "hangup"
            self.handled += 1
        except AgiTimeout as exc:
            outcome = "timeout"
            self.failed += 1
            log.warning("FastAGI session failed: %s", exc)
        except AgiError as exc:
            self.failed += 1
            log.warning("FastAGI session failed: %s", exc)
        except TimeoutError:
            outcome = "timeout"
            self.failed += 1
            log.warning(
                "FastAGI %s session ended after %gs (CTI_AGI_SESSION_TIMEOUT)",
                script,
                self._session_timeout,
            )
        except Exception:
            self.failed += 1
            log.exception("FastAGI handler crashed")
        finally:
            self._counters.agi_request(script, outcome, time.perf_counter() - started)
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
