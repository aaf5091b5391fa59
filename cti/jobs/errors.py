"""How a failure is told: short, plain, without secrets; and the one failure not worth retrying."""

from __future__ import annotations

import re

from cti.jobs.models import ERROR_MAX
from cti.logging import redact

# Database URLs in driver messages carry the password: scheme://user:password@host
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


class InvalidJob(Exception):
    """A handler refuses the job's payload: retrying cannot help, the job goes dead at once."""


class RetryLater(Exception):
    """Not a failure: the job's work cannot be done yet (a file still being written).

    The runner rolls the attempt back, puts the job back in the queue due in
    ``after_s`` seconds and keeps the message as its ``last_error``, without
    counting an attempt or growing the backoff. A handler that raises this must
    bound its own patience (e.g. give up with an ordinary error after a deadline
    in its payload), or the job waits forever.
    """

    def __init__(self, reason: str, after_s: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_s = max(0.0, after_s)


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
