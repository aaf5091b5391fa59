"""Bounds for numbers and times that come from outside (HTTP, NDJSON imports).

Python's integers and datetimes go further than the database's or than
``datetime`` itself after a time-zone shift (``9999-12-31T23:00:00-12:00`` is
past year 9999 in UTC): such a value must be refused with 422, not reach the
database and come back as a 500.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

#: Our ids are the database's ``INTEGER`` (32-bit on PostgreSQL).
DB_INT_MAX = 2**31 - 1

RowId = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
"""A row id (ticket, customer...)."""

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def in_service_range(value: datetime) -> datetime:
    """``value`` if it lies between 1970 and 2199 (UTC); a naive one is taken as UTC."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    # Aware comparisons subtract offsets as timedeltas: no overflow at year 9999.
    if not EARLIEST <= aware < LATEST:
        raise ValueError("must be between 1970-01-01 and 2199-12-31 (UTC)")
    return value


def optional_in_service_range(value: datetime | None) -> datetime | None:
    return None if value is None else in_service_range(value)


Timestamp = Annotated[AwareDatetime, AfterValidator(in_service_range)]
"""An aware date and time between 1970 and 2199."""
