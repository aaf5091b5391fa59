"""``/readyz``: is the database reachable, are we logged in to AMI (when on), and is the
recordings root usable (there, writable, with room left)?"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from cti.db.engine import ping


class AmiLink(Protocol):
    @property
    def logged_in(self) -> bool: ...

    @property
    def last_error(self) -> str | None: ...


class Probe(Protocol):
    @property
    def ok(self) -> bool: ...

    @property
    def reason(self) -> str | None: ...


class Readiness:
    def __init__(
        self,
        engine: AsyncEngine,
        ami_enabled: bool,
        ami: Callable[[], AmiLink | None],
        recordings_root: Callable[[], Probe] | None = None,
    ) -> None:
        self._engine = engine
        self._ami_enabled = ami_enabled
        self._ami = ami
        self._recordings_root = recordings_root

    async def checks(self) -> dict[str, dict[str, Any]]:
        checks: dict[str, dict[str, Any]] = {}
        try:
            async with asyncio.timeout(3):
                await ping(self._engine)
            checks["database"] = {"ok": True, "reason": None}
        except Exception as exc:
            checks["database"] = {"ok": False, "reason": f"unreachable: {type(exc).__name__}"}
        if self._ami_enabled:
            link = self._ami()
            if link is not None and link.logged_in:
                checks["ami"] = {"ok": True, "reason": None}
            else:
                reason = (link.last_error if link else None) or "not logged in yet"
                checks["ami"] = {"ok": False, "reason": f"AMI not logged in: {reason}"}
        if self._recordings_root is not None:
            checks["recordings"] = await self._probe(self._recordings_root)
        return checks

    @staticmethod
    async def _probe(probe: Callable[[], Probe]) -> dict[str, Any]:
        # A file system probe runs in a thread: a hung network mount answers "not ready".
        try:
            async with asyncio.timeout(3):
                result = await asyncio.to_thread(probe)
        except TimeoutError:
            return {"ok": False, "reason": "recordings root did not answer within 3 s"}
        return {"ok": result.ok, "reason": result.reason}
