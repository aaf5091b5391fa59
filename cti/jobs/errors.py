"""How a failure is told: short, plain, without secrets; and the one failure not worth retrying."""

from __future__ import annotations

import re

from cti.jobs.models import ERROR_MAX
from cti.logging import redact

# Database URLs in driver messages carry the password: scheme://user:password@host
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


class InvalidJob(Exception):
    """A handler refuses the job's payload: retrying cannot help, the job goes dead at once."""


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``, masked and cut to fit ``jobs.last_error``.

    SQLAlchemy's own text appends the SQL and its parameters (caller numbers,
    names); the driver's error underneath says what went wrong without them.
    """
    shown: BaseException = exc
    orig = getattr(exc, "orig", None)
    if isinstance(orig, BaseException):
        shown = orig
    lines = str(shown).strip().splitlines()
    first = lines[0].strip() if lines else ""
    text = f"{type(shown).__name__}: {first}" if first else type(shown).__name__
    text = redact(_URL_PASSWORD.sub(r"\1***@", text))
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"
