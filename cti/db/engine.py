"""Async engine and session factory, built once by the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

T = TypeVar("T")


DEFAULT_POOL_SIZE = 10


def create_engine(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> AsyncEngine:
    """The service's engine: transactions, connections pinged before use.

    ``pool_size`` connections are kept open (``CTI_DB_POOL_SIZE``); as many again may
    be opened for a burst and are closed after it.
    """
    return _engine(url, {"pool_pre_ping": True, "pool_size": pool_size, "max_overflow": pool_size})


def create_lookup_engine(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> AsyncEngine:
    """An engine for reads on a latency budget (the AGI's caller lookup): one round trip.

    Every statement stands on its own (autocommit): no BEGIN and ROLLBACK around a
    lookup. No ping before use either (asyncpg's runs BEGIN, ``;``, ROLLBACK): a
    connection that died with the server fails its query, which invalidates the
    pool, and the reader asks once more on a fresh one (:func:`retry_if_disconnected`).
    Only for sessions that read: a write there would commit at once.

    Sized like the service's pool (``CTI_DB_POOL_SIZE``): a burst of calls must not
    open and close a connection per lookup (each costs a TLS attempt and a backend
    start, more than the lookup itself).
    """
    return _engine(
        url, {"isolation_level": "AUTOCOMMIT", "pool_size": pool_size, "max_overflow": pool_size}
    )


def _engine(url: str, kwargs: dict[str, Any]) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {**kwargs, "connect_args": {"timeout": 30}}
        for pooled in ("pool_pre_ping", "pool_size", "max_overflow"):
            kwargs.pop(pooled, None)
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets the API read while the call-record writer writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def retry_if_disconnected(read: Callable[[], Awaitable[T]]) -> T:
    """``await read()``, once more if it failed on a connection that had died.

    For readers on a :func:`create_lookup_engine` pool, which hands out connections
    without pinging them: after a database restart the first read meets a dead
    connection, the pool drops its connections, and the second read opens a new one.
    """
    try:
        return await read()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return await read()


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with factory() as session, session.begin():
        yield session
