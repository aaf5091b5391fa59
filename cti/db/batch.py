"""Helpers for batched writes that work the same on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

IN_CHUNK = 900
"""Values per ``IN (...)``: keeps every statement under SQLite's and asyncpg's parameter limits."""


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """The database's own INSERT, for ``on_conflict_do_*`` and ``returning``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database {dialect!r}")


def is_sqlite(session: AsyncSession) -> bool:
    """Whether ``session`` talks to SQLite (else PostgreSQL, see :func:`dialect_insert`)."""
    return bool(session.get_bind().dialect.name == "sqlite")


def chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]
