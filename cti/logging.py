"""Log setup: one line per record; secrets never reach the log; no forged lines.

Every record that reaches our handler, a library's too (uvicorn's access log,
panoramisk's AMI traffic), goes through :class:`RedactSecrets` and
:class:`SafeFormatter`:

* secrets are masked, also when they are percent-encoded (``?%74oken=cti%5F...``);
* control characters (CR, LF, NUL, ESC, DEL, C1, Unicode line separators) in the
  message are escaped (``\\r``, ``\\x1b``...), so a caller id or a URL cannot
  start a line of its own or drive the terminal; a traceback keeps its lines, but
  each is indented under the record that raised it.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

# ``secret: x``, ``password=x``, ``token=x`` (query strings of access logs) ...
_SECRET = re.compile(
    r"(?i)\b(secret|password|authorization|token)(\s*[:=]\s*)(?!bearer\s)([^\s&\"',;]+)"
)
# ... ``Bearer x`` after an Authorization header ...
_BEARER = re.compile(r"(?i)\b(bearer\s+)([^\s&\"',;]+)")
# ... and our bearer tokens wherever they appear (cti_<prefix>_<secret>).
_TOKEN = re.compile(r"(?i)\b(cti_[0-9a-f]{8}_)[A-Za-z0-9_-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t", "\x00": "\\0", "\x1b": "\\e"}


def _mask(text: str) -> str:
    text = _SECRET.sub(r"\1\2***", text)
    text = _BEARER.sub(r"\1***", text)
    return _TOKEN.sub(r"\1***", text)


def redact(message: str) -> str:
    """``message`` with secrets masked, in plain or (repeatedly) percent-encoded form."""
    masked = _mask(message)
    decoded = message
    for _ in range(3):  # %2574oken is %74oken is token
        decoded, previous = unquote(decoded), decoded
        if decoded == previous:
            break
        decoded_masked = _mask(decoded)
        if decoded_masked != decoded:
            # Shown decoded: the encoded form of a secret has no safe part to keep.
            return decoded_masked
    return masked


def escape_controls(text: str, keep_newlines: bool = False) -> str:
    def one(m: re.Match[str]) -> str:
        ch = m.group()
        if keep_newlines and ch == "\n":
            return ch
        return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")

    return _CONTROL.sub(one, text)


class RedactSecrets(logging.Filter):
    """Masks secrets and escapes control characters in every record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = escape_controls(redact(message))
        if safe != message:
            record.msg = safe
            record.args = None
        return True


class SafeFormatter(logging.Formatter):
    """Tracebacks masked and escaped too; each of their lines indented under the record."""

    def formatException(self, ei: Any) -> str:
        text = escape_controls(redact(super().formatException(ei)), keep_newlines=True)
        return "\n".join("    | " + line for line in text.split("\n"))

    def formatStack(self, stack_info: str) -> str:
        text = escape_controls(redact(stack_info), keep_newlines=True)
        return "\n".join("    | " + line for line in text.split("\n"))


QUIET_LOGGERS = {"httpx": logging.WARNING}
"""Libraries whose INFO lines would leak: httpx logs every request's full URL, and a
shop's webhook URL may carry its credentials in the path or the query."""


def quiet_libraries() -> None:
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def setup_logging(level: str) -> None:
    quiet_libraries()
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
