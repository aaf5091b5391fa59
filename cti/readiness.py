"""``/readyz``: is the database reachable, are we logged in to AMI (when on), and is the
recordings root usable (there, writable, with room left)?

Only a caller with a valid token is told why not (the reasons name hosts and ports).
Tokens live in the database: when it is what is down, a token this process saw valid
on ``/readyz`` within :data:`TRUSTED_FOR_S` is still told why (see :meth:`Readiness.may_see_why`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from cti.db.engine import ping
from cti.errors import DomainError

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 3.0
"""Each check, and a token's check, answers within this or counts as failed."""
TRUSTED_FOR_S = 600.0
"""How long a token seen valid on ``/readyz`` is still told why while tokens cannot be checked."""
TRUSTED_MAX = 64


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
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._ami_enabled = ami_enabled
        self._ami = ami
        self._recordings_root = recordings_root
        self._monotonic = monotonic
        self._trusted: OrderedDict[str, float] = OrderedDict()
        """sha256 of a token seen valid -> until when (monotonic) it is trusted."""

    async def may_see_why(self, token: str, verify: Callable[[str], Awaitable[bool]]) -> bool:
        """Whether the holder of ``token`` may see the reasons: ``verify`` (the token
        table) says it is valid; or it cannot answer (the database is down, which the
        reasons are then about) and the token was seen valid lately."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._monotonic()
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                valid = await verify(token)
        except DomainError:
            raise  # an answer about the caller (e.g. too many wrong tokens), not the database
        except Exception as exc:
            log.warning("readyz: token not checked (%s)", type(exc).__name__)
            until = self._trusted.get(key)
            return until is not None and now < until
        self._trusted.pop(key, None)
        if valid:
            self._trusted[key] = now + TRUSTED_FOR_S
            while len(self._trusted) > TRUSTED_MAX:
                self._trusted.popitem(last=False)
        return valid

    async def checks(self) -> dict[str, dict[str, Any]]:
        checks: dict[str, dict[str, Any]] = {}
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
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
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                result = await asyncio.to_thread(probe)
        except TimeoutError:
            return {"ok": False, "reason": "recordings root did not answer within 3 s"}
        return {"ok": result.ok, "reason": result.reason}
