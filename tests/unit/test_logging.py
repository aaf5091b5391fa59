"""Secrets never reach the log: tokens in access-log query strings, AMI secrets, bearer tokens."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cti.logging import RedactSecrets, setup_logging


def _render(msg: str, *args: object) -> str:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)
    RedactSecrets().filter(record)
    return record.getMessage()


@pytest.mark.parametrize(
    ("msg", "args", "secret"),
    [
        # uvicorn's access-log format, as a WebSocket client passing ?token= produces it
        (
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5", "GET", "/ws/agent?token=cti_0a1b2c3d_Zz9-_x", "1.1", 403),
            "Zz9-_x",
        ),
        (
            '%s - "WebSocket %s" %d',
            ("127.0.0.1:5", "/ws/agent?last_event_id=3&token=abc.def", 101),
            "abc.def",
        ),
        ("Action: Login\r\nUsername: cti\r\nSecret: s3cret-ami\r\n", (), "s3cret-ami"),
        ("retrying with Authorization: Bearer cti_00ff00ff_TOPSECRET", (), "TOPSECRET"),
        ("token %s refused", ("cti_12345678_abcDEF-_9",), "abcDEF-_9"),
    ],
)
def test_secrets_are_masked(msg: str, args: tuple[object, ...], secret: str) -> None:
    line = _render(msg, *args)
    assert secret not in line
    assert "***" in line


def test_ordinary_lines_are_untouched() -> None:
    assert _render("call %s answered by %s", "1795.1", "PJSIP/1001") == (
        "call 1795.1 answered by PJSIP/1001"
    )


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
        env.update(
            CTI_DATA_DIR=str(tmp_path),
            CTI_AMI_ENABLED="false",
            CTI_AGI_ENABLED="false",
            CTI_HTTP_PORT=str(port),
        )
        proc = subprocess.run(
            [sys.executable, "-m", "cti", "serve"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 1
    assert f"cti: cannot listen for HTTP on 127.0.0.1:{port}: Address already in use" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_row8_a_percent_encoded_token_is_masked_too() -> None:
    """Issue 14, row 8: ``?%74oken=cti%5F...`` was logged in full."""
    for path in (
        "/ws/agent?%74oken=cti%5F0a1b2c3d%5FZz9secret",
        "/ws/agent?%2574oken%3Dcti%255F0a1b2c3d%255FZz9secret",  # encoded twice
        "/ws/agent?x=cti%5f0a1b2c3d%5fZz9secret",
    ):
        line = _render('%s - "WebSocket %s" %d', "127.0.0.1:5", path, 403)
        assert "Zz9secret" not in line, line
        assert "***" in line


def test_row8_control_characters_from_outside_cannot_forge_log_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 14, row 8: CR, LF, NUL and terminal escapes in a logged value are escaped."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("INFO")
    try:
        caller_id = "13800138000\r\n2026-11-23 10:00:00 INFO cti.auth: admin logged in\x00\x1b[2J"
        logging.getLogger("cti.test").info("call from %s", caller_id)
        try:
            raise ValueError(f"bad caller id {caller_id}")
        except ValueError:
            logging.getLogger("cti.test").exception("lookup failed for %s", caller_id)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    err = capsys.readouterr().err
    lines = err.splitlines()
    records = [line for line in lines if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", line)]
    assert len(records) == 2, err  # the INFO and the ERROR record, nothing forged
    assert "\x00" not in err and "\x1b" not in err and "\r" not in err
    assert "13800138000\\r\\n2026-11-23 10:00:00 INFO cti.auth" in lines[0]
    # A traceback keeps its lines, each indented under the record: nothing starts a line.
    assert all(not line.startswith("2026-11-23 10:00:00") for line in lines)
