"""Asterisk's side of a FastAGI call, scripted, for the AGI apps' tests (no Asterisk).

:class:`ScriptedChannel` answers the commands the apps send as Asterisk 22 does;
:func:`agi_request` is the request Asterisk opens a call with; :func:`call` plays
one call against a running :class:`~ivr.fastagi.FastAgiServer`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.fastagi import FastAgiServer

WAIT = 10.0
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"


def agi_request(script: str, *, channel: str, uniqueid: str, callerid: str, context: str) -> bytes:
    return (
        "agi_network: yes\n"
        f"agi_network_script: {script}\n"
        f"agi_request: agi://127.0.0.1:4573/{script}\n"
        f"agi_channel: {channel}\n"
        f"agi_uniqueid: {uniqueid}\n"
        f"agi_callerid: {callerid}\n"
        f"agi_context: {context}\n"
        "\n"
    ).encode()


@dataclass
class ScriptedChannel:
    """One answered channel with a person on it, who acts as scripted.

    ``keys``: what the person presses when a ``Read`` has played its prompts and waits
    (None: nothing; ``#`` ends the input empty). ``barge_in``: a key pressed while that
    prompt plays. ``hang_up_during``: the person hangs up while that prompt plays;
    ``hang_up_after``: right after the first command starting so. A dead channel
    answers 511.
    """

    variables: dict[str, str] = field(default_factory=dict)
    keys: list[str | None] = field(default_factory=list)
    barge_in: dict[str, str] = field(default_factory=dict)
    hang_up_during: str | None = None
    hang_up_after: str | None = None
    commands: list[str] = field(default_factory=list)
    played: list[str] = field(default_factory=list)
    waits: list[str] = field(default_factory=list)
    """The timeout of every ``Read`` that played all its prompts and waited."""
    dead: bool = False

    def answer(self, command: str) -> str:
        self.commands.append(command)
        if self.dead:
            return DEAD
        reply = self._reply(command)
        if self.hang_up_after is not None and command.startswith(self.hang_up_after):
            self.dead = True
        return reply

    def _play(self, file: str) -> bool:
        """Play one prompt; False when the person hangs up during it."""
        prompt = file.removeprefix("cti/")
        self.played.append(prompt)
        if prompt == self.hang_up_during:
            self.dead = True
            return False
        return True

    def _read(self, options: str) -> str:
        variable, files, maxdigits, _, attempts, timeout = options.split(",")
        assert (maxdigits, attempts) == ("1", "1")
        self.variables[variable] = ""
        for file in files.split("&"):
            if not self._play(file):
                return "200 result=-1"
            if key := self.barge_in.get(file.removeprefix("cti/")):
                self.variables[variable] = key
                return "200 result=0"
        self.waits.append(timeout)
        key = self.keys.pop(0) if self.keys else None
        self.variables[variable] = "" if key in (None, "#") else str(key)
        return "200 result=0"

    def _reply(self, command: str) -> str:
        verb, _, rest = command.partition(" ")
        if command.startswith("GET VARIABLE "):
            value = self.variables.get(command.removeprefix("GET VARIABLE "))
            return "200 result=0" if value is None else f"200 result=1 ({value})"
        if command.startswith("SET VARIABLE "):
            name, _, value = command.removeprefix("SET VARIABLE ").partition(" ")
            self.variables[name] = value.strip('"')
            return "200 result=1"
        if command.startswith("STREAM FILE "):
            return "200 result=0 endpos=8000" if self._play(rest.split(" ")[1]) else "200 result=-1"
        if command.startswith("EXEC Read "):
            return self._read(command.removeprefix("EXEC Read "))
        if verb == "VERBOSE":
            return "200 result=1"
        return f"510 Invalid or unknown command {verb}"


async def call(server: FastAgiServer, request: bytes, answer: Callable[[str], str]) -> None:
    """One call: ``request``, then ``answer`` to every command until the app hangs up;
    returns once the server has finished the session."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request)
    try:
        async with asyncio.timeout(WAIT):
            while line := await reader.readline():
                writer.write(answer(line.decode().strip()).encode() + b"\n")
                await writer.drain()
    finally:
        writer.close()
    # The server counts the session once its task has finished.
    async with asyncio.timeout(WAIT):
        while server.sessions:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
