"""Fixtures for tests with a real browser (Chromium via Playwright) against a real stack."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.integration.conftest import cti_env, cti_serve  # noqa: F401 - fixtures

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    need(CHROMIUM.exists() or shutil.which("chromium") is not None, "chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright is not installed (pip install -e '.[dev]')")
        raise
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def shared_asterisk(devstack: Any) -> None:
    """The devstack's Asterisk, up (started by the session fixture if needed)."""


@pytest.fixture
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a test keeps its screenshots: ``$CTI_TEST_ARTIFACTS/<test module>/`` when set
    (CI uploads that folder), else the test's own ``tmp_path``."""
    root = os.environ.get("CTI_TEST_ARTIFACTS")
    folder = Path(root) / request.node.module.__name__.rsplit(".", 1)[-1] if root else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder
