"""The /qa page in Chromium against ``cti serve`` (HTTP only, SQLite, no Asterisk).

A real WAV file sits in a recordings root with its catalog row and the call's record
(timeline: queued, rung, answered, paused, transferred); quality control finds it by
the caller's number in another form, plays it through a signed link to the end, scores
it, and sees the review and the agent's average that counts it. Hostile strings from
the caller's name, the order id and the comment stay text.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import struct
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from cti.calls.models import CallEventRecord, CallRecord
from cti.db.engine import create_engine, session_factory
from cti.recordings.ids import recording_id
from cti.recordings.models import Recording
from tests.serving import LocalServe

LINK_KEY = "qa-page-test-key"
RATE = 8000
SECONDS = 3
T_CALL = datetime(2026, 11, 23, 1, 0, 0, tzinfo=UTC)  # 09:00:00 in Shanghai
T_ANSWER = T_CALL + timedelta(seconds=5)
HOSTILE_NAME = '<script>document.title="pwned"</script>张伟'
HOSTILE_ORDER = "<img src=x onerror=alert(1)>"
HOSTILE_COMMENT = '<b>开场规范</b><script>alert("x")</script>'


def write_wav(path: Path) -> None:
    """A 440 Hz tone, 8 kHz 16-bit mono as Asterisk writes it, silent in the paused second."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = bytearray()
    for i in range(RATE * SECONDS):
        paused = RATE <= i < 2 * RATE
        sample = 0 if paused else int(8000 * math.sin(2 * math.pi * 440 * i / RATE))
        frames += struct.pack("<h", sample)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))


@dataclass
class Planted:
    fresh: str
    """The recording the page finds, plays and reviews."""
    reviewed: str
    """Another of the agent's recordings, reviewed before (80 points)."""


def event(seq: int, kind: str, at: datetime, **data: Any) -> CallEventRecord:
    return CallEventRecord(seq=seq, type=kind, at=at, data=data)


async def plant(database_url: str, root: Path) -> Planted:
    key = LINK_KEY.encode()
    engine = create_engine(database_url)
    ids: list[str] = []
    try:
        async with session_factory(engine)() as s, s.begin():
            for n, linkedid in enumerate(("1763859600.11", "1763859000.7")):
                started = T_CALL - timedelta(minutes=10 * n)
                answer = started + timedelta(seconds=5)
                relative = f"20261123/{linkedid}-{linkedid[:-1]}9.wav"
                write_wav(root / relative)
                data = (root / relative).read_bytes()
                call = CallRecord(
                    linkedid=linkedid,
                    caller_number="13800138000",
                    caller_name=HOSTILE_NAME,
                    dnis="4008001234",
                    queue="hotline",
                    agent="PJSIP/1001",
                    outcome="answered",
                    started_at=started,
                    ended_at=answer + timedelta(seconds=SECONDS),
                    wait_s=5.0,
                    talk_s=float(SECONDS),
                    hangup_cause=16,
                )
                sec = timedelta(seconds=1)
                call.events = [
                    event(
                        0, "call_started", started, caller_number="13800138000",
                        caller_name=HOSTILE_NAME,
                    ),
                    event(1, "queued", started + sec, queue="hotline"),
                    event(2, "agent_ringing", started + 2 * sec, agent="PJSIP/1001"),
                    event(3, "answered", answer, agent="PJSIP/1001", queue="hotline"),
                    event(4, "recording_started", answer, file=relative),
                    event(5, "recording_paused", answer + sec),
                    event(6, "recording_resumed", answer + 2 * sec),
                    event(7, "transferred", answer + 2 * sec, target="1002"),
                    event(8, "ended", answer + SECONDS * sec),
                ]  # fmt: skip
                s.add(call)
                public_id = recording_id(key, linkedid, 1)
                s.add(
                    Recording(
                        public_id=public_id,
                        linkedid=linkedid,
                        segment=1,
                        uniqueid=f"{linkedid[:-1]}9",
                        path=relative,
                        caller_number="+8613800138000",
                        agent="1001",
                        queue="hotline",
                        direction="inbound",
                        order_id=HOSTILE_ORDER if n == 0 else "E20261123001",
                        started_at=answer,
                        duration_s=float(SECONDS),
                        size_bytes=len(data),
                        format="wav",
                        channels=1,
                        sha256=hashlib.sha256(data).hexdigest(),
                        paused_spans=[{"start_s": 1.0, "end_s": 2.0}],
                        status="available",
                        created_at=answer + timedelta(seconds=10),
                    )
                )
                ids.append(public_id)
    finally:
        await engine.dispose()
    return Planted(fresh=ids[0], reviewed=ids[1])


def watch(page: Any) -> list[str]:
    """Script errors, CSP violations and dialogs (an injected alert) the page shows."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"error: {exc}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))

    def on_console(msg: Any) -> None:
        if msg.location.get("url", "").endswith("/favicon.ico"):
            return
        if msg.type == "error" or "Content Security Policy" in msg.text:
            problems.append(f"console: {msg.text} ({msg.location.get('url')})")

    page.on("console", on_console)
    return problems


def test_qa_finds_plays_scores_and_sees_the_agents_average(browser: Any, tmp_path: Path) -> None:
    root = tmp_path / "monitor"
    root.mkdir()
    env = {"CTI_RECORDINGS_ROOT": str(root), "CTI_RECORDINGS_LINK_KEY": LINK_KEY}
    with LocalServe(tmp_path / "data", **env) as serve:
        url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'cti.sqlite3'}"
        # Playwright's sync API runs a loop in this thread: the planting gets its own.
        with ThreadPoolExecutor(1) as pool:
            planted = pool.submit(asyncio.run, plant(url, root)).result()
        token = serve.token("recordings:read", "recordings:write")
        scores = {"greeting": 8, "knowledge": 8, "resolution": 8, "attitude": 8, "closing": 8}
        before = httpx.post(
            f"{serve.base_url}/api/v1/recordings/{planted.reviewed}/reviews",
            json={"sheet": "hotline", "scores": scores},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert before.status_code == 201, before.text

        page = browser.new_page()
        problems = watch(page)
        audio_urls: list[str] = []
        page.on("request", lambda r: audio_urls.append(r.url) if "/audio" in r.url else None)
        page.goto(f"{serve.base_url}/qa")
        page.fill("#token", token)
        page.click("#login-btn")
        page.wait_for_selector("body[data-logged-in='1'][data-searches='1']", timeout=10_000)
        # Logged in, the page lists the newest recordings: both.
        assert page.locator("#results tbody tr").count() == 2

        # The caller's number in another form; only recordings nobody reviewed yet.
        page.fill("#f-caller", "138-0013-8000")
        page.select_option("#f-reviewed", "false")
        page.fill("#f-since", "2026-11-23T08:00")
        page.fill("#f-until", "2026-11-23T10:00")
        page.click("#search-btn")
        page.wait_for_selector("body[data-searches='2']", timeout=10_000)
        row = f"#results tbody tr[data-id='{planted.fresh}']"
        assert page.locator("#results tbody tr").count() == 1
        assert "未质检" in page.inner_text(row)

        page.click(f"{row} button.open")
        page.wait_for_selector("body[data-audio='ready']", timeout=10_000)
        assert page.inner_text("#d-started") == "2026/11/23 09:00:05"
        timeline = page.inner_text("#timeline")
        for label, at in (
            ("排队", "09:00:01"),
            ("振铃", "09:00:02"),
            ("接听", "09:00:05"),
            ("录音暂停", "09:00:06"),
            ("转接", "09:00:07"),
        ):
            assert label in timeline and at in timeline, (label, timeline)
        assert "00:01 – 00:02" in page.inner_text("#paused-spans")
        # Hostile strings are shown as they are, as text.
        assert page.inner_text("#d-caller-name") == HOSTILE_NAME
        assert page.inner_text("#d-order") == HOSTILE_ORDER
        assert page.locator("#detail img, #detail script").count() == 0

        # Seek to the start of the talk and play to the end of the file.
        page.click("#timeline li[data-kind='talk'] button.seek")
        page.wait_for_selector("body[data-audio-ended='1']", timeout=30_000)
        assert audio_urls and all("signature=" in u and "cti_" not in u for u in audio_urls)
        assert token not in "".join(audio_urls)

        for key, value in {**scores, "greeting": 10, "knowledge": 10, "resolution": 10,
                           "attitude": 10, "closing": 10}.items():  # fmt: skip
            page.fill(f"#score-{key}", str(value))
        assert page.inner_text("#total-preview") == "100.0 分"
        page.fill("#comment", HOSTILE_COMMENT)
        page.click("#review-submit")
        page.wait_for_selector("body[data-review-saved]", timeout=10_000)
        saved = page.get_attribute("body", "data-review-saved")
        item = page.locator(f"#reviews li[data-review-id='{saved}']")
        assert "100.0 分" in item.inner_text()
        assert HOSTILE_COMMENT in item.inner_text()
        assert page.locator("#reviews b, #reviews script").count() == 0
        # 80 before and 100 now, both recordings of agent 1001 in the period.
        assert (
            page.inner_text("#agent-average") == "坐席 1001（查询时段内）平均 90.0 分，共 2 条评分"
        )
        assert "已质检" in page.inner_text(row)
        page.screenshot(path=str(tmp_path / "qa-page.png"), full_page=True)
        assert page.title() == "录音质检 · 呼叫中心"
        assert not problems, problems
