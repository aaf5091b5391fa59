"""The recordings API on SQLite and PostgreSQL: search, detail, playback, links, deletion.

Real WAV files (the stdlib ``wave`` module) are planted in the container's recordings
root and catalogued by inserting their rows, as the catalog job would; calls are
written through the call-record writer, and a live call comes from a recorded trace.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from cti.ami.codec import AmiDecoder
from cti.api import create_http_app
from cti.clock import FixedClock
from cti.container import Container
from cti.jobs.service import enqueue
from cti.recordings.ids import link_signature, recording_id
from cti.recordings.models import Recording, Review
from cti.tracking.events import CallSummary, DomainEvent, DomainEventType, Outcome

TRACES = Path(__file__).resolve().parent.parent / "fixtures" / "traces"
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
CALLER = "+8613800138000"
OTHER_CALLER = "+8613900139000"

Maker = Callable[..., Any]


def wav_bytes(seconds: float, salt: int = 0) -> bytes:
    """8 kHz 16-bit mono, with samples that differ byte by byte (so slices are told apart)."""
    frames = int(seconds * 8000)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes((i * 37 + salt) % 256 for i in range(frames * 2)))
    return buf.getvalue()


@dataclass
class Planted:
    id: str
    linkedid: str
    segment: int
    data: bytes
    path: Path


async def plant(
    container: Container,
    linkedid: str,
    segment: int = 1,
    *,
    agent: str | None = "1001",
    caller: str | None = CALLER,
    queue: str | None = "hotline",
    direction: str = "inbound",
    order_id: str | None = None,
    started_at: datetime = T0,
    seconds: float = 2.0,
    status: str = "available",
) -> Planted:
    """A WAV file in the recordings root and its catalog row."""
    ctx = container.recordings
    data = wav_bytes(seconds, salt=segment + len(linkedid))
    relative = f"cti/{started_at:%Y%m%d}/{linkedid}-{segment}.wav"
    path = ctx.store.local_root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    public_id = recording_id(ctx.key, linkedid, segment)
    async with container.sessions() as s, s.begin():
        s.add(
            Recording(
                public_id=public_id,
                linkedid=linkedid,
                segment=segment,
                uniqueid=f"{linkedid}{segment}",
                path=relative,
                caller_number=caller,
                agent=agent,
                queue=queue,
                direction=direction,
                order_id=order_id,
                started_at=started_at,
                duration_s=seconds,
                size_bytes=len(data),
                format="wav",
                channels=1,
                sha256=hashlib.sha256(data).hexdigest(),
                paused_spans=[{"start_s": 0.5, "end_s": 1.0}],
                status=status,
                created_at=started_at,
            )
        )
    return Planted(public_id, linkedid, segment, data, path)


def answered(linkedid: str, at: datetime, agent: str) -> DomainEvent:
    return DomainEvent(DomainEventType.ANSWERED, linkedid, at.timestamp(), {"agent": agent})


def started(linkedid: str, at: datetime, file: str, channel: str) -> DomainEvent:
    data = {"channel": channel, "uniqueid": "u", "file": file}
    return DomainEvent(DomainEventType.RECORDING_STARTED, linkedid, at.timestamp(), data)


def stored_call(
    container: Container,
    linkedid: str,
    agent: str | None,
    *,
    at: datetime = T0,
    timeline: tuple[DomainEvent, ...] = (),
) -> None:
    base = [
        DomainEvent(DomainEventType.CALL_STARTED, linkedid, at.timestamp(), {}),
        *timeline,
        DomainEvent(DomainEventType.ENDED, linkedid, at.timestamp() + 60, {}),
    ]
    container.writer.submit(
        CallSummary(
            linkedid=linkedid,
            caller_number="13800138000",
            caller_name=None,
            dnis="4008001234",
            queue="hotline",
            outcome=Outcome.ANSWERED,
            agent=agent,
            started_at=at.timestamp(),
            ended_at=at.timestamp() + 60,
            wait_s=3.0,
            talk_s=50.0,
            hangup_cause=16,
            timeline=base,
        )
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def ids_of(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    r = await client.get("/api/v1/recordings", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


# --- search ------------------------------------------------------------------------------


@dataclass
class Catalog:
    a: Planted  # call A, taken by 1001
    b: Planted  # call B, taken by 1002: outbound, an order
    c1: Planted  # call C, answered by 1001, transferred to 1002
    c2: Planted
    d: Planted  # deleted
    e: Planted  # call E, taken by 10010 (its extension contains "1001")


async def catalog(container: Container) -> Catalog:
    hour = timedelta(hours=1)
    stored_call(container, "A.1", "PJSIP/1001")
    stored_call(container, "B.1", "PJSIP/1002", at=T0 + hour)
    stored_call(
        container, "C.1", "PJSIP/1001", at=T0 + 2 * hour,
        timeline=(answered("C.1", T0 + 2 * hour, "PJSIP/1001"),
                  answered("C.1", T0 + 2 * hour + timedelta(seconds=30), "PJSIP/1002")),
    )  # fmt: skip
    stored_call(container, "D.1", "PJSIP/1001", at=T0 + 3 * hour)
    stored_call(container, "E.1", "PJSIP/10010", at=T0 + 4 * hour)
    await container.writer.flush()
    return Catalog(
        a=await plant(container, "A.1", agent="1001", seconds=3.0),
        b=await plant(
            container,
            "B.1",
            agent="PJSIP/1002",
            caller=OTHER_CALLER,
            queue="vip",
            direction="outbound",
            order_id="A-1",
            started_at=T0 + hour,
            seconds=1.0,
        ),
        c1=await plant(container, "C.1", 1, started_at=T0 + 2 * hour, seconds=4.0),
        c2=await plant(
            container, "C.1", 2, agent="1002", started_at=T0 + 2 * hour + timedelta(seconds=30)
        ),
        d=await plant(container, "D.1", started_at=T0 + 3 * hour, status="deleted"),
        e=await plant(container, "E.1", agent="10010", started_at=T0 + 4 * hour),
    )


async def review(container: Container, rec: Planted, corrects: int | None = None) -> int:
    async with container.sessions() as s, s.begin():
        row_id = (
            await s.execute(select(Recording.id).where(Recording.public_id == rec.id))
        ).scalar_one()
        r = Review(
            public_id=f"rev_{rec.id[-8:]}_{corrects or 0}",
            recording_id=row_id,
            sheet="default",
            criteria=[],
            total=80.0,
            comment="",
            reviewer="qa",
            agent="1001",
            queue="hotline",
            corrects_id=corrects,
            created_at=T0,
        )
        s.add(r)
        await s.flush()
        return r.id


async def test_search_filters_pages_and_agent_scope(
    container: Container, client: httpx.AsyncClient, make_token: Maker
) -> None:
    cat = await catalog(container)
    qa = bearer(await make_token("recordings:read"))

    # Newest first; deleted ones only when asked for.
    everything = [cat.e.id, cat.c2.id, cat.c1.id, cat.b.id, cat.a.id]
    assert await ids_of(client, qa) == everything
    page = (await client.get("/api/v1/recordings", headers=qa, params={"limit": 2})).json()
    assert page["total"] == 5 and (page["limit"], page["offset"]) == (2, 0)
    rest = await ids_of(client, qa, offset=2)
    assert [i["id"] for i in page["items"]] + rest == everything
    assert await ids_of(client, qa, status="deleted") == [cat.d.id]

    # The caller in any form a person types it.
    for form in ("138 0013 8000", "13800138000", "+86 138 0013 8000", "008613800138000"):
        got = await ids_of(client, qa, caller=form)
        assert got == [cat.e.id, cat.c2.id, cat.c1.id, cat.a.id], form
    assert await ids_of(client, qa, caller="0086 139 0013 9000") == [cat.b.id]
    assert await ids_of(client, qa, caller="13700000000") == []

    # The agent as an extension matches rows naming its interface too, and nothing else.
    assert await ids_of(client, qa, agent="1002") == [cat.c2.id, cat.b.id]
    assert await ids_of(client, qa, agent="1001") == [cat.c1.id, cat.a.id]
    assert await ids_of(client, qa, queue="vip") == [cat.b.id]
    assert await ids_of(client, qa, direction="outbound") == [cat.b.id]
    inbound = [cat.e.id, cat.c2.id, cat.c1.id, cat.a.id]
    assert await ids_of(client, qa, direction="inbound") == inbound
    assert await ids_of(client, qa, order_id="A-1") == [cat.b.id]
    assert await ids_of(client, qa, min_duration_s=3) == [cat.c1.id, cat.a.id]
    start = (T0 + timedelta(hours=1)).isoformat()
    end = (T0 + timedelta(hours=2, seconds=30)).isoformat()
    assert await ids_of(client, qa, **{"from": start, "to": end}) == [cat.c1.id, cat.b.id]

    # Reviewed: a review, or a corrected one with its correction.
    first = await review(container, cat.a)
    await review(container, cat.a, corrects=first)
    await review(container, cat.c1)
    assert await ids_of(client, qa, reviewed="true") == [cat.c1.id, cat.a.id]
    assert await ids_of(client, qa, reviewed="false") == [cat.e.id, cat.c2.id, cat.b.id]
    items = (await client.get("/api/v1/recordings", headers=qa)).json()["items"]
    assert {i["id"]: i["reviewed"] for i in items}[cat.a.id] is True

    item = next(i for i in items if i["id"] == cat.b.id)
    assert item == {
        "id": cat.b.id,
        "call_id": "B.1",
        "segment": 1,
        "caller_number": OTHER_CALLER,
        "agent": "PJSIP/1002",
        "queue": "vip",
        "direction": "outbound",
        "order_id": "A-1",
        "started_at": "2026-11-23T02:00:00Z",
        "duration_s": 1.0,
        "size_bytes": len(cat.b.data),
        "format": "wav",
        "channels": 1,
        "sha256": hashlib.sha256(cat.b.data).hexdigest(),
        "paused_spans": [{"start_s": 0.5, "end_s": 1.0}],
        "status": "available",
        "reviewed": False,
    }

    # An agent finds the recordings of the calls it took, every segment of them; 1001
    # does not find call E of agent 10010.
    a1001 = bearer(await make_token("agent", agent="1001"))
    a1002 = bearer(await make_token("agent", agent="1002"))
    assert await ids_of(client, a1001) == [cat.c2.id, cat.c1.id, cat.a.id]
    assert await ids_of(client, a1002) == [cat.c2.id, cat.c1.id, cat.b.id]
    r = await client.get("/api/v1/recordings", headers=a1001, params={"limit": 1, "offset": 1})
    assert r.json()["total"] == 3 and [i["id"] for i in r.json()["items"]] == [cat.c1.id]
    assert await ids_of(client, a1002, agent="1002") == [cat.c2.id, cat.b.id]

    for bad in ({"min_duration_s": "-1"}, {"min_duration_s": "nan"}, {"direction": "sideways"},
                {"status": "gone"}, {"from": "2026-11-23T09:00:00"}, {"limit": "0"}):  # fmt: skip
        r = await client.get("/api/v1/recordings", headers=qa, params=bad)
        assert r.status_code == 422, bad


async def test_detail_with_timeline_and_the_calls_recordings(
    container: Container, client: httpx.AsyncClient, make_token: Maker
) -> None:
    cat = await catalog(container)
    qa = bearer(await make_token("recordings:read"))
    r = await client.get(f"/api/v1/recordings/{cat.c2.id}", headers=qa)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert (detail["call_id"], detail["segment"], detail["agent"]) == ("C.1", 2, "1002")
    assert [e["type"] for e in detail["timeline"]] == [
        "call_started", "answered", "answered", "ended"
    ]  # fmt: skip

    # The call lists its recordings in segment order.
    supervisor = bearer(await make_token("stats:read"))
    call = (await client.get("/api/v1/calls/C.1", headers=supervisor)).json()
    assert [(x["id"], x["segment"], x["status"]) for x in call["recordings"]] == [
        (cat.c1.id, 1, "available"),
        (cat.c2.id, 2, "available"),
    ]
    assert call["recordings"][0]["duration_s"] == 4.0
    deleted = (await client.get("/api/v1/calls/D.1", headers=supervisor)).json()
    assert [x["status"] for x in deleted["recordings"]] == ["deleted"]

    # 1002 took call C (after a transfer) but not call A: the same 404 as for no recording.
    a1002 = bearer(await make_token("agent", agent="1002"))
    assert (await client.get(f"/api/v1/recordings/{cat.c1.id}", headers=a1002)).status_code == 200
    theirs = await client.get(f"/api/v1/recordings/{cat.a.id}", headers=a1002)
    unknown = await client.get(f"/api/v1/recordings/rec_{'a' * 26}", headers=a1002)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json()


# --- playback ------------------------------------------------------------------------------


async def test_range_requests_return_exactly_the_bytes_of_the_file(
    container: Container, client: httpx.AsyncClient, make_token: Maker
) -> None:
    rec = await plant(container, "R.1", seconds=20.0)  # 320 kB: several chunks
    stored_call(container, "R.1", "PJSIP/1001")
    await container.writer.flush()
    qa = bearer(await make_token("recordings:read"))
    url = f"/api/v1/recordings/{rec.id}/audio"
    data = rec.path.read_bytes()
    size = len(data)

    whole = await client.get(url, headers=qa)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-length"] == str(size)
    assert whole.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert whole.headers["cache-control"] == "private"
    assert "last-modified" in whole.headers
    with wave.open(io.BytesIO(whole.content)) as w:  # a real WAV, all of it
        assert w.getnframes() == 20 * 8000

    for spec, start, end in (
        ("bytes=0-99", 0, 99),
        ("bytes=100000-", 100000, size - 1),
        ("bytes=-1000", size - 1000, size - 1),
        ("bytes=70000-200000", 70000, 200000),
        (f"bytes={size - 1}-{size + 50}", size - 1, size - 1),
    ):
        r = await client.get(url, headers={**qa, "Range": spec})
        assert r.status_code == 206, spec
        assert r.content == data[start : end + 1], spec
        assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert r.headers["content-length"] == str(end - start + 1)

    for spec in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        r = await client.get(url, headers={**qa, "Range": spec})
        assert r.status_code == 416, spec
        assert r.headers["content-range"] == f"bytes */{size}"
        assert r.json()["error"] == "range_not_satisfiable"

    several = await client.get(url, headers={**qa, "Range": "bytes=0-9,20-29"})
    assert several.status_code == 200 and several.content == data
    stale = await client.get(url, headers={**qa, "Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200 and stale.content == data

    etag = whole.headers["etag"]
    cached = await client.get(url, headers={**qa, "If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == etag
    changed = await client.get(url, headers={**qa, "If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and changed.content == data

    head = await client.head(url, headers={**qa, "Range": "bytes=10-19"})
    assert head.status_code == 206 and head.content == b""
    assert head.headers["content-length"] == "10"
    assert head.headers["content-range"] == f"bytes 10-19/{size}"


@pytest.fixture
async def fixed(container: Container) -> AsyncIterator[tuple[httpx.AsyncClient, FixedClock]]:
    """A client of an app whose clock moves only when the test says."""
    clock = FixedClock(float(int(container.clock.time())))  # a whole second: links expire on one
    app = create_http_app(dataclasses.replace(container.http_services(), clock=clock))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cti.test"
    ) as client:
        yield client, clock


async def test_a_signed_link_plays_until_it_expires_and_only_its_recording(
    container: Container, fixed: tuple[httpx.AsyncClient, FixedClock], make_token: Maker
) -> None:
    client, clock = fixed
    stored_call(container, "L.1", "PJSIP/1001")
    stored_call(container, "L.2", "PJSIP/1002")
    await container.writer.flush()
    mine = await plant(container, "L.1")
    theirs = await plant(container, "L.2", agent="1002")
    a1001 = bearer(await make_token("agent", agent="1001"))
    a1002 = bearer(await make_token("agent", agent="1002"))

    r = await client.post(f"/api/v1/recordings/{mine.id}/link", headers=a1001)
    assert r.status_code == 200, r.text
    link = r.json()
    ttl = container.recordings.settings.link_ttl_s
    expires_at = datetime.fromisoformat(link["expires_at"])
    assert expires_at == datetime.fromtimestamp(int(clock.time()) + ttl, UTC)
    assert "cti_" not in link["url"]  # no token in a URL, ever
    parts = urlsplit(link["url"])
    assert parts.path == f"/api/v1/recordings/{mine.id}/audio"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert set(query) == {"expires", "signature"}

    played = await client.get(link["url"])  # no Authorization header
    assert played.status_code == 200 and played.content == mine.data
    ranged = await client.get(link["url"], headers={"Range": "bytes=0-43"})
    assert ranged.status_code == 206 and ranged.content == mine.data[:44]

    # Its signature opens only its own recording.
    other = f"/api/v1/recordings/{theirs.id}/audio?{parts.query}"
    assert (await client.get(other)).status_code == 401
    forged = {**query, "signature": query["signature"][:-2] + "AA"}
    if forged == query:
        forged["signature"] = query["signature"][:-2] + "BB"
    r = await client.get(parts.path, params=forged)
    assert r.status_code == 401
    later = {**query, "expires": str(int(query["expires"]) + 3600)}  # a longer life, unsigned
    assert (await client.get(parts.path, params=later)).status_code == 401
    for partial in ({"signature": query["signature"]}, {"expires": query["expires"]}, {}):
        assert (await client.get(parts.path, params=partial)).status_code == 401

    # Until it expires, and not a second after.
    clock.advance(ttl)
    assert (await client.get(link["url"])).status_code == 200
    clock.advance(1)
    expired = await client.get(link["url"])
    assert expired.status_code == 401 and "expired" in expired.json()["message"]

    # Agent 1002 can neither play 1001's recording nor get a link for it.
    for r in (
        await client.get(f"/api/v1/recordings/{mine.id}/audio", headers=a1002),
        await client.post(f"/api/v1/recordings/{mine.id}/link", headers=a1002),
    ):
        assert r.status_code == 404 and r.json()["message"] == "no such recording"
    own = await client.post(f"/api/v1/recordings/{theirs.id}/link", headers=a1002)
    assert own.status_code == 200
    key = container.recordings.key
    assert own.json()["url"].endswith(link_signature(key, theirs.id, int(clock.time()) + ttl))


# --- what never returns a file ---------------------------------------------------------------


async def test_traversal_and_guessed_ids_never_return_a_file(
    container: Container, client: httpx.AsyncClient, make_token: Maker
) -> None:
    stored_call(container, "G.1", "PJSIP/1001")
    await container.writer.flush()
    rec = await plant(container, "G.1")
    qa = bearer(await make_token("recordings:read", "recordings:write"))
    root = container.recordings.store.local_root
    secret = root.parent / "secret.txt"
    secret.write_text("root:x:0:0 not for you\n")
    key = container.recordings.key

    guesses = [
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%252e%252e%252fsecret.txt",
        "..",
        "%2Fetc%2Fpasswd",
        "..%5C..%5Csecret.txt",
        f"cti%2F20261123%2F{rec.path.name}",
        rec.path.name,
        "G.1",
        "1",
        rec.id.upper(),
        rec.id + "a",
        rec.id[:-1],
        f"rec_{'a' * 26}",
        recording_id(key, "G.1", 2),  # a well-formed id of a segment that does not exist
        recording_id(b"another key", "G.1", 1),
    ]
    for guess in guesses:
        for suffix in ("/audio", "", "/link"):
            method = "POST" if suffix == "/link" else "GET"
            r = await client.request(method, f"/api/v1/recordings/{guess}{suffix}", headers=qa)
            assert r.status_code == 404, (guess, suffix, r.status_code)
            assert r.headers["content-type"] == "application/json", guess
            assert "root:" not in r.text and rec.data[:44] not in r.content

    # A row whose path was tampered with in the database serves nothing.
    for tampered in ("../../etc/passwd", "/etc/passwd", "../secret.txt", "cti/../../secret.txt"):
        async with container.sessions() as s, s.begin():
            await s.execute(
                update(Recording).where(Recording.public_id == rec.id).values(path=tampered)
            )
        r = await client.get(f"/api/v1/recordings/{rec.id}/audio", headers=qa)
        assert r.status_code == 410, tampered
        assert "root:" not in r.text
    # Nor a link planted below the root that points out of it.
    link = root / "cti" / "20261123" / "link.wav"
    link.symlink_to(secret)
    async with container.sessions() as s, s.begin():
        await s.execute(
            update(Recording)
            .where(Recording.public_id == rec.id)
            .values(path="cti/20261123/link.wav", size_bytes=secret.stat().st_size)
        )
    r = await client.get(f"/api/v1/recordings/{rec.id}/audio", headers=qa)
    assert r.status_code == 410 and "root:" not in r.text
    # Deleting a tampered row removes nothing outside the root.
    async with container.sessions() as s, s.begin():
        await s.execute(
            update(Recording).where(Recording.public_id == rec.id).values(path="../secret.txt")
        )
    assert (await client.delete(f"/api/v1/recordings/{rec.id}", headers=qa)).status_code == 410
    assert secret.read_text().startswith("root:")


# --- being written, gone, deleted ----------------------------------------------------------


def live_call_with_two_recordings(container: Container) -> str:
    """answered.ami up to the agent's answer, plus the agent's own leg recorded: a call in
    progress with two recordings being written. Returns its linkedid."""
    msgs = AmiDecoder().feed((TRACES / "answered.ami").read_bytes())
    connect = next(i for i, m in enumerate(msgs) if m.get("Event") == "AgentConnect")
    agent = msgs[connect]
    leg = {
        "Timestamp": agent["Timestamp"],
        "Channel": agent["DestChannel"],
        "Uniqueid": agent["DestUniqueid"],
        "Linkedid": agent["DestLinkedid"],
    }
    file = f"/var/spool/asterisk/monitor/cti/20261123/{agent['DestUniqueid']}.wav"
    for msg in [
        *msgs[: connect + 1],
        {**leg, "Event": "VarSet", "Variable": "MIXMONITOR_FILENAME", "Value": file},
        {**leg, "Event": "MixMonitorStart"},
    ]:
        container.pipeline.on_ami_event(msg)
    return agent["DestLinkedid"]


async def test_a_recording_being_written_is_409_and_listed_on_its_call(
    container: Container, client: httpx.AsyncClient, make_token: Maker
) -> None:
    linkedid = live_call_with_two_recordings(container)
    key = container.recordings.key
    first, second = recording_id(key, linkedid, 1), recording_id(key, linkedid, 2)
    supervisor = bearer(await make_token("stats:read"))
    call = (await client.get(f"/api/v1/calls/{linkedid}", headers=supervisor)).json()
    assert call["active"] is True
    got = [(x["id"], x["segment"], x["status"], x["agent"]) for x in call["recordings"]]
    assert got == [(first, 1, "recording", None), (second, 2, "recording", "1001")]
    assert call["recordings"][1]["duration_s"] is None

    qa = bearer(await make_token("recordings:read"))
    a1001 = bearer(await make_token("agent", agent="1001"))
    a1002 = bearer(await make_token("agent", agent="1002"))
    for who in (qa, a1001):
        for method, suffix in (("GET", "/audio"), ("HEAD", "/audio"), ("POST", "/link"),
                               ("GET", "")):  # fmt: skip
            r = await client.request(method, f"/api/v1/recordings/{second}{suffix}", headers=who)
            assert r.status_code == 409, (method, suffix)
            assert r.headers["retry-after"].isdigit()
    r = await client.get(f"/api/v1/recordings/{second}/audio", headers=qa)
    assert "still being written" in r.json()["message"]
    # Another agent learns nothing of it.
    r = await client.get(f"/api/v1/recordings/{second}/audio", headers=a1002)
    assert r.status_code == 404

    # After the call: while the catalog job is pending, still 409 and listed.
    stored_call(
        container, "W.1", "PJSIP/1001",
        timeline=(started("W.1", T0, "/var/spool/asterisk/monitor/cti/20261123/W.1.wav",
                          "PJSIP/1001-0000002a"),),
    )  # fmt: skip
    await container.writer.flush()
    pending = recording_id(key, "W.1", 1)
    stored = (await client.get("/api/v1/calls/W.1", headers=supervisor)).json()
    assert stored["recordings"] == []  # no row, no job: nothing to promise
    async with container.sessions() as s, s.begin():
        await enqueue(
            s,
            kind="recording",
            key=f"recording:{pending}",
            payload={"linkedid": "W.1"},
            now=container.clock.now(),
            run_after=container.clock.now() + timedelta(days=1),
        )
    stored = (await client.get("/api/v1/calls/W.1", headers=supervisor)).json()
    assert [(x["id"], x["status"], x["agent"]) for x in stored["recordings"]] == [
        (pending, "recording", "1001")
    ]
    pending_url = f"/api/v1/recordings/{pending}/audio"
    assert (await client.get(pending_url, headers=qa)).status_code == 409
    assert (await client.get(pending_url, headers=a1002)).status_code == 404


async def test_a_missing_file_is_410_and_delete_removes_file_and_marks_row(
    container: Container, client: httpx.AsyncClient, make_token: Maker
) -> None:
    stored_call(container, "M.1", "PJSIP/1001")
    await container.writer.flush()
    gone = await plant(container, "M.1", 1)
    kept = await plant(container, "M.1", 2)
    qa = bearer(await make_token("recordings:read"))
    writer = bearer(await make_token("recordings:write"))

    os.unlink(gone.path)
    for method in ("GET", "HEAD"):
        r = await client.request(method, f"/api/v1/recordings/{gone.id}/audio", headers=qa)
        assert r.status_code == 410, method
    assert (await client.get(f"/api/v1/recordings/{gone.id}/audio", headers=qa)).json()[
        "error"
    ] == "gone"
    # A file that is not the catalogued one (another size) is not served either.
    kept.path.write_bytes(kept.data + b"more")
    assert (await client.get(f"/api/v1/recordings/{kept.id}/audio", headers=qa)).status_code == 410
    kept.path.write_bytes(kept.data)

    url = f"/api/v1/recordings/{kept.id}"
    assert (await client.delete(url, headers=qa)).status_code == 403
    assert (await client.delete(url, headers=writer)).status_code == 204
    assert not kept.path.exists()
    async with container.sessions() as s:
        row = (
            await s.execute(select(Recording).where(Recording.public_id == kept.id))
        ).scalar_one()
    assert row.status == "deleted" and row.deleted_at is not None
    assert (await client.get(f"{url}/audio", headers=qa)).status_code == 410
    assert (await client.post(f"{url}/link", headers=qa)).status_code == 410
    assert kept.id not in await ids_of(client, qa)
    assert kept.id in await ids_of(client, qa, status="deleted")
    assert (await client.delete(url, headers=writer)).status_code == 204  # again: no change
    # A row whose file is already gone is marked deleted too.
    assert (await client.delete(f"/api/v1/recordings/{gone.id}", headers=writer)).status_code == 204
    assert gone.id in await ids_of(client, qa, status="deleted")
    unknown = f"/api/v1/recordings/rec_{'b' * 26}"
    assert (await client.delete(unknown, headers=writer)).status_code == 404
