"""Issue 15 on the real stack: recordings of real calls (Asterisk 22 MixMonitor, SIPp speech).

Callers and agents talk without pause (SIPp ``rtp_stream`` loops real speech), so
the audio Asterisk wrote can be measured: its length against the talk time the
call records show, and its loudness where the recording was paused.
"""

from __future__ import annotations

import array
import io
import math
import subprocess
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cti_stack as stack
import httpx
import pytest

from tests.conftest import Devstack
from tests.fixtures.traces.make_traces import Ami, bridged_channel
from tests.integration.conftest import CtiServe

CALLER = "13800138000"


@pytest.fixture
def talking_agents(devstack: Devstack) -> Iterator[None]:
    """Agents 1001 and 1002 with phones that answer and talk; only 1001 in the queue."""
    stack.devstack("reset-queues")
    stack.add_queue_member("1001")
    phones = [stack.start_sipp_agent(ext, "agent_talks.xml") for ext in ("1001", "1002")]
    yield
    for phone in phones:
        stack._stop(phone)
    stack.remove_queue_member("1001")


def _recordings(serve: CtiServe, token: str, **params: Any) -> list[dict[str, Any]]:
    r = serve.get("/api/v1/recordings", token, **params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _call(serve: CtiServe, token: str, caller: str) -> dict[str, Any] | None:
    r = serve.get("/api/v1/calls", token, limit=50)
    assert r.status_code == 200, r.text
    found = [c for c in r.json()["items"] if c["caller_number"] == caller]
    return found[0] if found else None


def _live(serve: CtiServe, token: str, caller: str) -> dict[str, Any] | None:
    r = serve.get("/api/v1/calls", token, limit=1)
    live = [c for c in r.json()["active"] if c["caller_number"] == caller and c["agent"]]
    return live[0] if live else None


def _audio(serve: CtiServe, token: str, rec: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.get(
        f"{serve.base_url}/api/v1/recordings/{rec['id']}/audio",
        headers={"Authorization": f"Bearer {token}", **headers},
        timeout=30,
    )


@dataclass
class Pcm:
    channels: int
    rate: int
    seconds: float
    samples: array.array[int]


def _pcm(body: bytes) -> Pcm:
    with wave.open(io.BytesIO(body)) as w:
        frames = w.getnframes()
        samples = array.array("h", w.readframes(frames))
        return Pcm(w.getnchannels(), w.getframerate(), frames / w.getframerate(), samples)


def _rms(
    samples: array.array[int],
    channels: int,
    channel: int,
    start: float,
    end: float,
    rate: int = 8000,
) -> float:
    part = samples[int(start * rate) * channels : int(end * rate) * channels][channel::channels]
    return math.sqrt(sum(x * x for x in part) / max(1, len(part)))


def test_a_real_call_is_recorded_paused_and_served(
    cti_serve: CtiServe, talking_agents: None
) -> None:
    cti_serve.start()
    reader = cti_serve.token("recordings:read")
    stats = cti_serve.token("stats:read")
    agent = cti_serve.token("agent", agent="1001")
    other_agent = cti_serve.token("agent", agent="1002")

    caller = stack.run_sipp_caller(CALLER, "张伟", scenario="caller_talks.xml", wait=False)
    live = stack.wait_for(lambda: _live(cti_serve, stats, CALLER), timeout=30)
    time.sleep(6)
    # The agent on the call pauses while the caller reads out a card number.
    r = httpx.post(
        f"{cti_serve.base_url}/api/v1/calls/{live['id']}/recording:pause",
        headers={"Authorization": f"Bearer {agent}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["paused"] is True and r.json()["changed"] is True
    # Another agent cannot touch this call's recording.
    r = httpx.post(
        f"{cti_serve.base_url}/api/v1/calls/{live['id']}/recording:resume",
        headers={"Authorization": f"Bearer {other_agent}"},
        timeout=10,
    )
    assert r.status_code == 404, r.text
    time.sleep(6)
    r = httpx.post(
        f"{cti_serve.base_url}/api/v1/calls/{live['id']}/recording:resume",
        headers={"Authorization": f"Bearer {agent}"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["paused"] is False, r.text
    assert caller.wait(90) == 0

    call = stack.wait_for(lambda: _call(cti_serve, stats, CALLER))
    [rec] = stack.wait_for(lambda: _recordings(cti_serve, reader, caller=CALLER), timeout=60)
    assert rec["call_id"] == call["linkedid"] and rec["segment"] == 1
    assert rec["agent"] == "1001"
    assert rec["caller_number"] == "+8613800138000"
    assert rec["direction"] == "inbound" and rec["format"] == "wav"

    # The audio is the conversation: as long as the talk time, within 1 s.
    body = _audio(cti_serve, reader, rec).content
    pcm = _pcm(body)
    samples, measured = pcm.samples, pcm.seconds
    assert abs(measured - call["talk_s"]) <= 1.0, (measured, call["talk_s"])
    assert abs(rec["duration_s"] - measured) < 0.05

    # The paused span is silent in the file, speech is loud around it, and the span
    # is on the recording and on the call's timeline.
    [span] = rec["paused_spans"]
    assert 4.0 < span["end_s"] - span["start_s"] < 8.0, span
    assert _rms(samples, 1, 0, span["start_s"] + 0.5, span["end_s"] - 0.5) < 30
    assert _rms(samples, 1, 0, 1.0, span["start_s"] - 0.5) > 500
    assert _rms(samples, 1, 0, span["end_s"] + 0.5, measured - 0.5) > 500
    detail = cti_serve.get(f"/api/v1/calls/{call['id']}", stats).json()
    types = [e["type"] for e in detail["timeline"]]
    assert types.count("recording_paused") == 1 and types.count("recording_resumed") == 1
    assert [r["id"] for r in detail["recordings"]] == [rec["id"]]

    # Range: exactly the bytes asked for; past the end 416.
    r = _audio(cti_serve, reader, rec, Range="bytes=100-1099")
    assert r.status_code == 206 and r.content == body[100:1100]
    r = _audio(cti_serve, reader, rec, Range=f"bytes={len(body)}-")
    assert r.status_code == 416
    # The agent who took it may play it; another agent cannot even see it.
    assert _audio(cti_serve, agent, rec).status_code == 200
    assert _audio(cti_serve, other_agent, rec).status_code == 404
    # A signed link plays without a token.
    link = httpx.post(
        f"{cti_serve.base_url}/api/v1/recordings/{rec['id']}/link",
        headers={"Authorization": f"Bearer {reader}"},
        timeout=10,
    ).json()
    r = httpx.get(f"{cti_serve.base_url}{link['url']}", timeout=30)
    assert r.status_code == 200 and r.content == body


def test_a_blind_transfer_keeps_every_segment_under_one_call(
    cti_serve: CtiServe, talking_agents: None
) -> None:
    cti_serve.start()
    reader = cti_serve.token("recordings:read")
    stats = cti_serve.token("stats:read")
    number = "13900139000"

    caller = stack.run_sipp_caller(number, "李娜", scenario="caller_talks.xml", wait=False)
    chan = bridged_channel("PJSIP/1001-")
    time.sleep(5)
    ami = Ami()
    try:
        reply = ami.action("BlindTransfer", Channel=chan, Context="cti-agents", Exten="1002")
    finally:
        ami.close()
    assert "Success" in reply, reply
    assert caller.wait(90) == 0

    call = stack.wait_for(lambda: _call(cti_serve, stats, number))
    recs = stack.wait_for(
        lambda: (got := _recordings(cti_serve, reader, caller=number)) and len(got) >= 2 and got,
        timeout=60,
    )
    recs.sort(key=lambda r: r["segment"])
    assert [r["segment"] for r in recs] == [1, 2]
    assert [r["agent"] for r in recs] == ["1001", "1002"]
    assert {r["call_id"] for r in recs} == {call["linkedid"]}
    assert recs[0]["started_at"] < recs[1]["started_at"]
    # Together they hold the whole conversation (each leg from its answer to its end).
    assert 3.0 < recs[0]["duration_s"] < 10.0
    assert recs[1]["duration_s"] > 8.0
    total = sum(r["duration_s"] for r in recs)
    assert total <= call["talk_s"] + 1.0


def test_dual_channel_opus(
    cti_serve: CtiServe, cti_env: dict[str, str], devstack: Devstack, tmp_path: Path
) -> None:
    """Dual-channel legs merged to stereo (left caller, right agent), stored as Opus.

    The caller talks and the agent's phone stays silent, so the sides can be told apart.
    """
    stack.devstack("reset-queues")
    stack.add_queue_member("1001")
    phone = stack.start_sipp_agent("1001", "agent_answer.xml")
    stack.asterisk_cli("dialplan set global CTI_RECORDING_DUAL yes")
    try:
        cti_env["CTI_RECORDINGS_FORMAT"] = "opus"
        cti_serve.start()
        reader = cti_serve.token("recordings:read")
        number = "13700137000"
        assert stack.run_sipp_caller(number, "王芳", scenario="caller_talks.xml").returncode == 0
        [rec] = stack.wait_for(lambda: _recordings(cti_serve, reader, caller=number), timeout=60)
    finally:
        stack.asterisk_cli("dialplan set global CTI_RECORDING_DUAL no")
        stack._stop(phone)
        stack.remove_queue_member("1001")
    assert rec["format"] == "opus" and rec["channels"] == 2
    r = _audio(cti_serve, reader, rec)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("audio/ogg")
    assert r.content[:4] == b"OggS"
    # Far smaller than the two channels as WAV (16 kB per second each).
    assert len(r.content) < rec["duration_s"] * 32000 / 5
    opus, decoded = tmp_path / "rec.opus", tmp_path / "rec.wav"
    opus.write_bytes(r.content)
    subprocess.run(["opusdec", "--quiet", str(opus), str(decoded)], check=True, timeout=60)
    pcm = _pcm(decoded.read_bytes())
    assert pcm.channels == 2
    samples, rate, length = pcm.samples, pcm.rate, pcm.seconds
    assert abs(length - rec["duration_s"]) < 0.5
    assert _rms(samples, 2, 0, 1.0, length - 1.0, rate) > 500  # the caller, on the left
    assert _rms(samples, 2, 1, 1.0, length - 1.0, rate) < 30  # the silent agent, on the right
