"""Log setup: one line per record; secrets never reach the log."""

from __future__ import annotations

import logging
import re

# ``secret: x``, ``password=x``, ``token=x`` (query strings of access logs) ...
_SECRET = re.compile(r"(?i)\b(secret|password|authorization|token)(\s*[:=]\s*)([^\s&\"',;]+)")
# ... and our bearer tokens wherever they appear (cti_<prefix>_<secret>).
_TOKEN = re.compile(r"\b(cti_[0-9a-f]{8}_)[A-Za-z0-9_-]+")


def redact(message: str) -> str:
    return _TOKEN.sub(r"\1***", _SECRET.sub(r"\1\2***", message))


class RedactSecrets(logging.Filter):
    """Masks secrets in every record, also those of libraries (AMI Login, uvicorn access)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
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
