"""Bulk import of do-not-call numbers (``POST /api/v1/do-not-call:import``, ``cti dnc import``).

One number per line, in any form the phone normaliser reads, optionally followed by a
comma and a reason (``138 0013 8000,asked not to be called``), or a JSON object
``{"phone": ..., "reason": ...}``. Blank lines and lines starting with ``#`` are
skipped. Bad lines are reported by number, the good ones are kept, one transaction
per batch.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.clock import SYSTEM_CLOCK, Clock
from cti.customers.phones import PhoneNormalizer
from cti.orders.imports import LineImport, not_stored_reason
from cti.orders.schemas import RejectedLine
from cti.orders.service import describe
from cti.shops.schemas import Reason
from cti.shops.service import put_do_not_call_many

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
MAX_LINE_CHARS = 1000


class DoNotCallReport(BaseModel):
    lines: int = 0
    """Lines with a number read (blank lines and comments not counted)."""
    imported: int = 0
    rejected: int = 0
    rejected_lines: list[RejectedLine] = Field(default_factory=list)
    rejected_lines_truncated: bool = False


class _JsonLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str
    reason: Reason = ""


class _Reason(BaseModel):
    reason: Reason = ""


class LineRefused(ValueError):
    pass


def parse_line(raw: str, phones: PhoneNormalizer) -> tuple[str, str] | None:
    """``(E.164, reason)`` of one line, None for a blank or comment line."""
    text = raw.strip().lstrip("\ufeff")
    if not text or text.startswith("#"):
        return None
    if len(text) > MAX_LINE_CHARS:
        raise LineRefused(f"line longer than {MAX_LINE_CHARS} characters")
    try:
        if text.startswith("{"):
            line = _JsonLine.model_validate_json(text)
            number, reason = line.phone, line.reason
        else:
            number, _, rest = text.partition(",")
            reason = _Reason(reason=rest).reason
    except ValidationError as exc:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            raise LineRefused("not valid JSON") from None
        raise LineRefused(describe(exc)) from None
    e164 = phones.e164(number.strip())
    if e164 is None:
        raise LineRefused(f"{number.strip()[:64]!r} is not a valid phone number")
    return e164, reason


class DoNotCallImport(LineImport[tuple[str, str], DoNotCallReport]):
    """Do-not-call numbers, one a line."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        phones: PhoneNormalizer,
        *,
        shop: str,
        clock: Clock = SYSTEM_CLOCK,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        """``shop``: whose entries the lines become ("" for every shop)."""
        super().__init__(sessions, DoNotCallReport(), batch_size)
        self.phones = phones
        self.shop = shop
        self.clock = clock

    async def feed(self, lineno: int, raw: bytes | None) -> None:
        if raw is None:
            self.report.lines += 1
            self.reject(lineno, "line too long")
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.report.lines += 1
            self.reject(lineno, "not UTF-8 text")
            return
        try:
            entry = parse_line(text, self.phones)
        except LineRefused as exc:
            self.report.lines += 1
            self.reject(lineno, str(exc))
            return
        if entry is None:
            return
        self.report.lines += 1
        await self.add(lineno, entry)

    async def write(self, session: AsyncSession, items: list[tuple[str, str]]) -> int:
        await put_do_not_call_many(session, items, shop=self.shop, now=self.clock.now())
        return len(items)

    def not_stored(self, lineno: int, exc: Exception) -> None:
        self.reject(lineno, not_stored_reason(exc))
        cause = getattr(exc, "orig", None) or exc
        log.warning(
            "do-not-call import: line %d not stored: %s",
            lineno,
            type(cause).__name__,
        )
