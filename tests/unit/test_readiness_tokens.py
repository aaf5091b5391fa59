"""Who sees why ``/readyz`` is not ready while the token table cannot answer."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from cti.errors import TooManyRequests
from cti.readiness import TRUSTED_FOR_S, Readiness


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def valid(token: str) -> bool:
    return token == "cti_ops"


async def database_down(token: str) -> bool:
    raise ConnectionRefusedError(111, "Connection refused")


async def rate_limited(token: str) -> bool:
    raise TooManyRequests("too many wrong tokens from this address")


@pytest.fixture
def readiness_and_clock() -> tuple[Readiness, Clock]:
    clock = Clock()
    engine: Any = create_async_engine("sqlite+aiosqlite://")
    return Readiness(engine, False, lambda: None, monotonic=clock), clock


async def test_a_token_seen_valid_still_sees_why_while_the_database_is_down(
    readiness_and_clock: tuple[Readiness, Clock],
) -> None:
    readiness, clock = readiness_and_clock
    assert await readiness.may_see_why("cti_ops", valid)
    clock.now += TRUSTED_FOR_S - 1
    assert await readiness.may_see_why("cti_ops", database_down)
    # Never seen valid: nothing is told, the database being down or not.
    assert not await readiness.may_see_why("cti_other", database_down)
    assert not await readiness.may_see_why("cti_other", valid)


async def test_trust_ends_with_time_and_with_a_no_from_the_database(
    readiness_and_clock: tuple[Readiness, Clock],
) -> None:
    readiness, clock = readiness_and_clock
    assert await readiness.may_see_why("cti_ops", valid)
    clock.now += TRUSTED_FOR_S
    assert not await readiness.may_see_why("cti_ops", database_down)

    assert await readiness.may_see_why("cti_ops", valid)

    async def revoked(token: str) -> bool:
        return False

    assert not await readiness.may_see_why("cti_ops", revoked)
    assert not await readiness.may_see_why("cti_ops", database_down)


async def test_a_rate_limited_caller_is_not_taken_for_a_database_outage(
    readiness_and_clock: tuple[Readiness, Clock],
) -> None:
    readiness, _ = readiness_and_clock
    assert await readiness.may_see_why("cti_ops", valid)
    with pytest.raises(TooManyRequests):
        await readiness.may_see_why("cti_ops", rate_limited)
