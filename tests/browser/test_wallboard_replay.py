"""The /wallboard in Chromium against the service fed recorded Asterisk traffic (no Asterisk).

The service runs on a loopback port in a thread with its own event loop; the recorded
answered.ami is fed through its pipeline in two parts: up to the caller joining the
queue (the board shows 1 waiting, the wait counting), then the rest (back to 0, agent
1001 in the agents' table). Also checks the page keeps to its CSP (no violation logged).
Screenshot: ``wallboard-replay.png`` in ``$CTI_TEST_ARTIFACTS/test_wallboard_replay/``, or
the test's tmp_path when that is not set.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from cti.api import create_http_app
from cti.app import running
from cti.auth.tokens import create_token
from cti.container import Container
from cti.settings import Settings
from tests.db.conftest import free_port
from tests.db.test_ws import messages

START_TIMEOUT_S = 60.0


@dataclass
class Served:
    base_url: str = ""
    token: str = ""
    container: Container | None = None
    loop: asyncio.AbstractEventLoop | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def feed(self, msgs: list[Mapping[str, str]]) -> None:
        assert self.loop is not None and self.container is not None
        pipeline = self.container.pipeline
        self.loop.call_soon_threadsafe(lambda: [pipeline.on_ami_event(m) for m in msgs])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    out = Served()
    (tmp_path / "recordings").mkdir()
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/cti.sqlite",
        ami_enabled=False,
        agi_enabled=False,
        recordings_root=str(tmp_path / "recordings"),
    )

    async def serve() -> None:
        async with running(settings) as container:
            async with container.sessions() as s, s.begin():
                issued = await create_token(
                    s, "wallboard", ["stats:read", "agents:write"], None, now=container.clock.now()
                )
            port = free_port()
            config = uvicorn.Config(
                create_http_app(container.http_services()),
                host="127.0.0.1",
                port=port,
                lifespan="off",
                log_level="error",
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve())
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
                await asyncio.sleep(0.01)
            out.base_url, out.token = f"http://127.0.0.1:{port}", issued.token
            out.container, out.loop = container, asyncio.get_running_loop()
            out.ready.set()
            await asyncio.to_thread(out.done.wait)
            server.should_exit = True
            await task

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert out.ready.wait(START_TIMEOUT_S), "the service did not start"
    try:
        yield out
    finally:
        out.done.set()
        thread.join(START_TIMEOUT_S)


def test_the_wallboard_follows_a_recorded_call(
    served: Served, browser: Any, artifacts: Path
) -> None:
    msgs = messages("answered.ami")
    cut = next(i for i, m in enumerate(msgs) if m.get("Event") == "QueueCallerJoin") + 1
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )
    page.goto(f"{served.base_url}/wallboard")
    page.fill("#token", served.token)
    page.click("#login-btn")
    page.wait_for_selector("body[data-ws-ready='1']", timeout=10_000)
    hotline = "#queues [data-queue='hotline']"
    assert page.inner_text(f"{hotline} .queue-name") == "队列 hotline"
    assert page.inner_text(f"{hotline} [data-figure='waiting']") == "0"

    served.feed(msgs[:cut])
    page.wait_for_selector(f"{hotline}[data-waiting='1']", timeout=10_000)
    assert page.inner_text(f"{hotline} [data-figure='longest']") != "—"
    # The service-level chart reads the statistics API, which answers (no call today).
    assert "暂不可用" not in page.inner_text(f"{hotline} [data-note='sl']")

    served.feed(msgs[cut:])
    page.wait_for_selector(f"{hotline}[data-waiting='0']", timeout=10_000)
    page.wait_for_selector("#agents tr[data-extension='1001'][data-state='available']")
    assert page.inner_text(f"{hotline} [data-count='available']") == "1"
    assert page.inner_text(f"{hotline} [data-figure='longest']") == "—"
    page.screenshot(path=str(artifacts / "wallboard-replay.png"), full_page=True)
    assert problems == []
