"""Log setup: one line per record; secrets never reach the log."""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"(?i)(secret|password|authorization|token)(\s*[:=]\s*)(\S+)")


class RedactSecrets(logging.Filter):
    """Masks ``secret: …``-style values in case a library logs an AMI Login action."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET.sub(r"\1\2***", message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
