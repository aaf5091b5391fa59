"""Bulk import of orders from NDJSON (``POST /api/v1/orders:import``, ``cti orders import``).

Unlike the service functions, the import owns its transactions: one per batch
of :data:`BATCH_SIZE` lines, so the good lines of a file are kept when a batch
is refused (it is then retried line by line and only the bad line is lost).
:class:`LineImport` does that for the do-not-call import too.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Generic, Protocol, TypeVar

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.clock import SYSTEM_CLOCK, Clock
from cti.customers.phones import PhoneNormalizer
from cti.orders.schemas import ImportReport, RejectedLine
from cti.orders.service import (
    MAX_LINE_BYTES,
    LineError,
    OrderPhones,
    ParsedOrder,
    parse_line,
    upsert_orders,
)

log = logging.getLogger(__name__)

# Reasons a client reads: plain words, never the database's SQL.
_REFUSED = "not stored: the database refused a value of this order"
_NOT_WRITTEN = "not stored: the database could not be written; try again (see the service log)"

#: Lines per transaction.
BATCH_SIZE = 1000
#: Rejected lines reported back in full; the count is always exact.
MAX_REPORTED_REJECTS = 1000


def not_stored_reason(exc: Exception) -> str:
    """Why the database refused a valid line, in plain words (never its SQL)."""
    if isinstance(exc, DataError | OverflowError):
        return "not stored: a value is out of range for the database"
    if isinstance(exc, IntegrityError):
        return "not stored: it conflicts with data already stored"
    return "not stored: the database refused it"


async def ndjson_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[int, bytes | None]]:
    """Split a byte stream into ``(line number, line)``; line numbers start at 1.

    A line longer than :data:`MAX_LINE_BYTES` comes out as ``None`` (memory
    stays bounded whatever the client sends).
    """
    buf = bytearray()
    lineno = 0
    overlong = False
    async for chunk in chunks:
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            piece = chunk[start:] if nl < 0 else chunk[start:nl]
            if not overlong:
                buf += piece
                if len(buf) > MAX_LINE_BYTES:
                    overlong = True
                    buf.clear()
            if nl < 0:
                break
            lineno += 1
            yield lineno, (None if overlong else bytes(buf))
            buf.clear()
            overlong = False
            start = nl + 1
    if buf or overlong:
        lineno += 1
        yield lineno, (None if overlong else bytes(buf))


class Report(Protocol):
    """What a :class:`LineImport` counts (the API's report of an import)."""

    imported: int
    rejected: int
    rejected_lines: list[RejectedLine]
    rejected_lines_truncated: bool


T = TypeVar("T")
R = TypeVar("R", bound=Report)


class LineImport(ABC, Generic[T, R]):
    """Streams numbered lines into the database, batch by batch, keeping good rows.

    A subclass reads a line (:meth:`feed`, which hands a good one to :meth:`add`) and
    writes a batch (:meth:`write`, in the batch's transaction). A batch the database
    refuses is retried line by line, so one bad row costs its own line only.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], report: R, batch_size: int
    ) -> None:
        self.sessions = sessions
        self.report = report
        self.batch_size = batch_size
        self._batch: list[tuple[int, T]] = []

    @abstractmethod
    async def feed(self, lineno: int, raw: bytes | None) -> None:
        """Read line ``lineno`` (None: longer than allowed); :meth:`add` it or reject it."""

    @abstractmethod
    async def write(self, session: AsyncSession, items: list[T]) -> int:
        """Store ``items`` in the batch's transaction; how many count as imported."""

    @abstractmethod
    def not_stored(self, lineno: int, exc: Exception) -> None:
        """The database refused line ``lineno`` alone: reject it (and log why)."""

    def written(self, imported: int, lines: int) -> None:
        """After a batch of ``lines`` lines is committed, ``imported`` of them counting."""
        self.report.imported += imported

    def reject(self, lineno: int, reason: str) -> None:
        self.report.rejected += 1
        if len(self.report.rejected_lines) < MAX_REPORTED_REJECTS:
            self.report.rejected_lines.append(RejectedLine(line=lineno, reason=reason))
        else:
            self.report.rejected_lines_truncated = True

    async def add(self, lineno: int, item: T) -> None:
        self._batch.append((lineno, item))
        if len(self._batch) >= self.batch_size:
            await self.flush()

    async def flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        try:
            async with self.sessions() as session, session.begin():
                imported = await self.write(session, [item for _, item in batch])
        except Exception as exc:
            if len(batch) == 1:
                self.not_stored(batch[0][0], exc)
            else:
                for one in batch:
                    self._batch = [one]
                    await self.flush()
            return
        self.written(imported, len(batch))

    async def run(self, lines: AsyncIterable[tuple[int, bytes | None]]) -> R:
        async for lineno, raw in lines:
            await self.feed(lineno, raw)
        await self.flush()
        self.report.rejected_lines.sort(key=lambda r: r.line)
        return self.report


class OrderImport(LineImport[ParsedOrder, ImportReport]):
    """Orders, one NDJSON object a line."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        phones: PhoneNormalizer,
        batch_size: int = BATCH_SIZE,
        on_progress: Callable[[ImportReport], None] | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        shop: str | None = None,
    ) -> None:
        """``shop``: take only that shop's orders (a shop-bound token); None: any shop's."""
        super().__init__(sessions, ImportReport(), batch_size)
        self.shop = shop
        self.clock = clock
        self.phones = OrderPhones(phones)
        self.on_progress = on_progress

    async def feed(self, lineno: int, raw: bytes | str | None) -> None:
        if raw is None:
            self.report.lines += 1
            self.reject(lineno, f"line longer than {MAX_LINE_BYTES} bytes")
            return
        if not raw.strip():
            return
        self.report.lines += 1
        try:
            parsed = parse_line(raw, self.phones)
        except LineError as exc:
            self.reject(lineno, str(exc))
            return
        if self.shop is not None and parsed.order.shop != self.shop:
            self.reject(lineno, f"shop {parsed.order.shop!r} is not this token's shop")
            return
        await self.add(lineno, parsed)

    async def write(self, session: AsyncSession, items: list[ParsedOrder]) -> int:
        result = await upsert_orders(session, items, now=self.clock.now())
        # Lines superseded by a later line of the same batch count as imported,
        # as they would had they been written one by one.
        return len(items) - result.stale

    def written(self, imported: int, lines: int) -> None:
        super().written(imported, lines)
        self.report.skipped_stale += lines - imported
        if self.on_progress is not None:
            self.on_progress(self.report)

    def not_stored(self, lineno: int, exc: Exception) -> None:
        refused = isinstance(exc, DataError | IntegrityError)
        self.reject(lineno, _REFUSED if refused else _NOT_WRITTEN)
        # The driver's first line, without SQLAlchemy's statement and parameters.
        cause = getattr(exc, "orig", None) or exc
        log.warning(
            "order import: line %d not stored: %s: %s",
            lineno,
            type(cause).__name__,
            str(cause).partition("\n")[0][:200],
        )
