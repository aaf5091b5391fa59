"""Bounded types for numbers and times that come from outside (HTTP, NDJSON imports).

Each bound is what the database can store or what a call centre can mean, and each is
declared in the OpenAPI (``minimum``/``maximum``), so an out-of-range value is a 422
with a clear message and never reaches the database, where it would be a 500.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, TypeVar

from annotated_types import Ge, Le
from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

# PostgreSQL INTEGER, the type of every id column.
DB_INT_MAX = 2**31 - 1
# Times a call centre deals in; far from the ends of the calendar, where converting
# between time zones overflows.
FIRST_YEAR, LAST_YEAR = 1970, 2099

# Text from outside carries no control characters: PostgreSQL refuses NUL, and the
# others forge lines in logs and on agents' screens. Long text may hold tabs and line
# breaks. As ``pattern``s they are declared in the OpenAPI too.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

RowId = Annotated[int, Ge(1), Le(DB_INT_MAX)]
"""A database id."""
Offset = Annotated[int, Ge(0), Le(DB_INT_MAX)]
"""How many rows of a listing to skip."""

_BASE32 = frozenset("abcdefghijklmnopqrstuvwxyz234567")


def is_public_id(value: str, prefix: str, length: int = 26) -> bool:
    """``prefix`` and ``length`` lower-case base32 characters: the shape of the public ids
    we hand out (``cfm_…``, ``rec_…``), checked before any lookup."""
    body = value[len(prefix) :]
    return value.startswith(prefix) and len(body) == length and all(c in _BASE32 for c in body)


_EXAMPLE_TIME = "2026-11-23T09:00:00+08:00"

# Without this, pydantic reads a number (or a numeric string) as seconds since 1970.
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_a_number(example: str) -> BeforeValidator:
    def check(value: object) -> object:
        if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
            raise PydanticCustomError(
                "iso_8601",
                "give an ISO 8601 date, not a number, e.g. {example}",
                {"example": example},
            )
        return value

    return BeforeValidator(check)


_Day = TypeVar("_Day", bound=date)


def _sane_year(value: _Day) -> _Day:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise PydanticCustomError(
            "year_out_of_range",
            "the year must be between {first} and {last}",
            {"first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError(
            "timezone_aware", "give a time zone, e.g. {example}", {"example": _EXAMPLE_TIME}
        )
    return value


Timestamp = Annotated[
    datetime, _not_a_number(_EXAMPLE_TIME), AfterValidator(_aware), AfterValidator(_sane_year)
]
"""An ISO 8601 date and time with its time zone, between 1970 and 2099."""
Day = Annotated[date, _not_a_number("2026-10-01"), AfterValidator(_sane_year)]
"""An ISO 8601 date (2026-10-01), between 1970 and 2099."""


def plain_reason(error_type: str, message: str, pattern: object = None) -> str:
    """A validation message in words: a pattern of ours is named, not printed as a regex."""
    if error_type == "string_pattern_mismatch" and pattern in (ONE_LINE, MULTI_LINE):
        return "must not contain control characters"
    return message
