"""/api/v1/agents on SQLite and PostgreSQL, with a fake AMI link that records every action.

The AMI answers (``Unable to add interface: Already there``...) are app_queue's
own texts (apps/app_queue.c, manager_*_queue_member).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cti.agents.config import AgentSettings
from cti.agents.state import AgentStateChanged
from cti.ami.codec import AmiDecoder, AmiMessage
from cti.ami.protocol import (
    AmiActionError,
    AmiActionTimeout,
    AmiConnectionLost,
    Headers,
)
from cti.container import Container

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"


class FakeAmi:
    """Logged in; answers ``Success`` unless ``answers`` says otherwise for an action."""

    def __init__(self) -> None:
        self.logged_in = True
        self.last_error: str | None = None
        self.sent: list[dict[str, str]] = []
        self.answers: dict[str, Callable[[Headers], AmiMessage]] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send_action(self, headers: Headers, *, timeout: float | None = None) -> AmiMessage:
        self.sent.append({k: str(v) for k, v in headers.items()})
        answer = self.answers.get(str(headers["Action"]))
        if answer is not None:
            return answer(headers)
        return AmiMessage([("Response", "Success"), ("Message", "ok")])

    async def send_list_action(
        self, headers: Headers, *, timeout: float | None = None
    ) -> list[AmiMessage]:
        raise AssertionError("not used")

    async def send_originate(self, headers: Headers, *, timeout: float | None = None) -> AmiMessage:
        raise AssertionError("not used")


def refuse(message: str) -> Callable[[Headers], AmiMessage]:
    def answer(headers: Headers) -> AmiMessage:
        raise AmiActionError(
            str(headers["Action"]), AmiMessage([("Response", "Error"), ("Message", message)])
        )

    return answer


def raise_(exc: Exception) -> Callable[[Headers], AmiMessage]:
    def answer(headers: Headers) -> AmiMessage:
        raise exc

    return answer


@pytest.fixture
def ami(container: Container) -> FakeAmi:
    fake = FakeAmi()
    container.ami = fake
    return fake


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def put_agent(
    client: httpx.AsyncClient, token: str, ext: str = "1001", **body: Any
) -> httpx.Response:
    payload = {"name": "张伟", "skills": ["hotline"], **body}
    return await client.put(f"/api/v1/agents/{ext}", json=payload, headers=bearer(token))


@pytest.fixture
async def admin(make_token) -> str:  # type: ignore[no-untyped-def]
    token: str = await make_token("agents:write", "stats:read")
    return token


def trace(name: str) -> list[AmiMessage]:
    decoder = AmiDecoder()
    out = decoder.feed((TRACES / name).read_bytes())
    decoder.finish()
    return out


# -- directory ---------------------------------------------------------------------------


async def test_put_creates_then_updates(
    client: httpx.AsyncClient, admin: str, ami: FakeAmi
) -> None:
    r = await put_agent(client, admin, skills=["hotline", "vip", "hotline"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["extension"] == "1001" and body["name"] == "张伟"
    assert body["interface"] == "PJSIP/1001"
    assert body["skills"] == ["hotline", "vip"]
    assert body["state"] == "logged_out" and body["available"] is False
    assert (body["wrapup_s"], body["effective_wrapup_s"]) == (None, 10)

    r = await put_agent(client, admin, name="张伟 (组长)", skills=["vip"], wrapup_s=30)
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["skills"], r.json()["effective_wrapup_s"]) == (
        "张伟 (组长)",
        ["vip"],
        30,
    )
    assert r.json()["created_at"] == body["created_at"]

    await put_agent(client, admin, ext="1002", name="李娜")
    r = await client.get("/api/v1/agents", headers=bearer(admin))
    assert r.status_code == 200
    assert [a["extension"] for a in r.json()["items"]] == ["1001", "1002"]
    assert r.json()["pause_reasons"] == [
        "lunch",
        "training",
        "after_call_work",
        "meeting",
        "break",
    ]
    assert ami.sent == []


@pytest.mark.parametrize(
    ("ext", "body", "field"),
    [
        ("10a1", {}, None),
        ("1", {}, None),
        ("1001", {"name": ""}, "name"),
        ("1001", {"name": "x\r\nAction: Hangup"}, "name"),
        ("1001", {"skills": ["hot line"]}, "skills.0"),
        ("1001", {"skills": ["hotline\r\nAction: Hangup"]}, "skills.0"),
        ("1001", {"wrapup_s": -1}, "wrapup_s"),
        ("1001", {"wrapup_s": 100000}, "wrapup_s"),
        ("1001", {"penalty": 3}, "penalty"),
    ],
)
async def test_put_refuses_bad_input(
    client: httpx.AsyncClient,
    admin: str,
    ami: FakeAmi,
    ext: str,
    body: dict[str, Any],
    field: str | None,
) -> None:
    r = await put_agent(client, admin, ext=ext, **body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_input"
    if field is not None:
        assert r.json()["details"][0]["field"] == field
    else:
        assert "extension" in r.json()["message"]
    r = await client.get("/api/v1/agents", headers=bearer(admin))
    assert r.json()["items"] == []
    assert ami.sent == []


async def test_unknown_agent_is_404(client: httpx.AsyncClient, admin: str, ami: FakeAmi) -> None:
    for action in ("login", "logout", "unpause"):
        r = await client.post(f"/api/v1/agents/1009/{action}", headers=bearer(admin))
        assert (r.status_code, r.json()["message"]) == (404, "no agent '1009'")
    r = await client.post(
        "/api/v1/agents/1009/pause", json={"reason": "lunch"}, headers=bearer(admin)
    )
    assert r.status_code == 404
    r = await client.get("/api/v1/agents/1009", headers=bearer(admin))
    assert r.status_code == 404
    assert ami.sent == []


# -- scopes ------------------------------------------------------------------------------


async def test_scopes(client: httpx.AsyncClient, admin: str, ami: FakeAmi, make_token) -> None:  # type: ignore[no-untyped-def]
    await put_agent(client, admin)
    await put_agent(client, admin, ext="1002", name="李娜")
    reader = await make_token("stats:read")
    shop = await make_token("orders:write")

    assert (await client.get("/api/v1/agents")).status_code == 401
    r = await client.get("/api/v1/agents", headers=bearer(shop))
    assert (r.status_code, r.json()["message"]) == (
        403,
        "token 'test' lacks scope 'stats:read'",
    )
    assert (await client.get("/api/v1/agents", headers=bearer(reader))).status_code == 200
    r = await put_agent(client, reader, ext="1003")
    assert (r.status_code, r.json()["message"]) == (
        403,
        "token 'test' lacks scope 'agents:write'",
    )
    r = await client.post("/api/v1/agents/1001/login", headers=bearer(reader))
    assert r.status_code == 403
    assert ami.sent == []


async def test_agent_token_acts_for_itself_only(
    client: httpx.AsyncClient,
    admin: str,
    ami: FakeAmi,
    make_token,  # type: ignore[no-untyped-def]
) -> None:
    await put_agent(client, admin)
    await put_agent(client, admin, ext="1002", name="李娜")
    desk = await make_token("agent", agent="1001")
    for action in ("login", "unpause", "logout"):
        r = await client.post(f"/api/v1/agents/1001/{action}", headers=bearer(desk))
        assert r.status_code == 200, r.text
    r = await client.post(
        "/api/v1/agents/1001/pause", json={"reason": "break"}, headers=bearer(desk)
    )
    assert r.status_code == 200
    assert (await client.get("/api/v1/agents/1001", headers=bearer(desk))).status_code == 200
    sent = len(ami.sent)

    for action in ("login", "logout", "unpause"):
        r = await client.post(f"/api/v1/agents/1002/{action}", headers=bearer(desk))
        assert r.status_code == 403
        assert r.json()["message"] == "token 'test' may act for agent 1001 only, not 1002"
    r = await client.post(
        "/api/v1/agents/1002/pause", json={"reason": "break"}, headers=bearer(desk)
    )
    assert r.status_code == 403
    assert (await client.get("/api/v1/agents/1002", headers=bearer(desk))).status_code == 403
    assert (await client.get("/api/v1/agents", headers=bearer(desk))).status_code == 403
    assert (await put_agent(client, desk, name="me")).status_code == 403
    assert len(ami.sent) == sent


# -- the AMI actions ---------------------------------------------------------------------


async def test_login_adds_the_agent_to_each_skill_queue(
    client: httpx.AsyncClient, admin: str, ami: FakeAmi
) -> None:
    await put_agent(client, admin, skills=["hotline", "vip"], wrapup_s=15)
    r = await client.post("/api/v1/agents/1001/login", headers=bearer(admin))
    assert r.status_code == 200, r.text
    assert ami.sent == [
        {
            "Action": "QueueAdd",
            "Queue": queue,
            "Interface": "PJSIP/1001",
            "Penalty": "0",
            "Paused": "false",
            "MemberName": "1001",
            "StateInterface": "PJSIP/1001",
            "Wrapuptime": "15",
        }
        for queue in ("hotline", "vip")
    ]


async def test_login_uses_the_default_wrap_up(
    client: httpx.AsyncClient, admin: str, ami: FakeAmi, container: Container
) -> None:
    container.agents.settings = AgentSettings(wrapup_s=7)
    await put_agent(client, admin)
    await put_agent(client, admin, ext="1002", wrapup_s=0)
    await client.post("/api/v1/agents/1001/login", headers=bearer(admin))
    await client.post("/api/v1/agents/1002/login", headers=bearer(admin))
    assert [(a["Interface"], a["Wrapuptime"]) for a in ami.sent] == [
        ("PJSIP/1001", "7"),
        ("PJSIP/1002", "0"),
    ]


async def test_login_twice_is_fine(client: httpx.AsyncClient, admin: str, ami: FakeAmi) -> None:
    await put_agent(client, admin)
    ami.answers["QueueAdd"] = refuse("Unable to add interface: Already there")
    r = await client.post("/api/v1/agents/1001/login", headers=bearer(admin))
    assert r.status_code == 200, r.text


async def test_login_refused_by_asterisk_is_502_with_its_message(
    client: httpx.AsyncClient, admin: str, ami: FakeAmi
) -> None:
    await put_agent(client, admin, skills=["hotline", "nosuch"])

    def answer(headers: Headers) -> AmiMessage:
        if headers["Queue"] == "nosuch":
            return refuse("Unable to add interface to queue: No such queue")(headers)
        return AmiMessage([("Response", "Success")])

    ami.answers["QueueAdd"] = answer
    r = await client.post("/api/v1/agents/1001/login", headers=bearer(admin))
    assert r.status_code == 502
    assert r.json()["message"] == (
        "Asterisk refused QueueAdd for queue nosuch: Unable to add interface to queue: "
        "No such queue (done before it: hotline)"
    )
    assert r.json()["details"] == {"asterisk": "Unable to add interface to queue: No such queue"}


async def test_login_without_skills_is_409(
    client: httpx.AsyncClient, admin: str, ami: FakeAmi
) -> None:
    await put_agent(client, admin, skills=[])
    r = await client.post("/api/v1/agents/1001/login", headers=bearer(admin))
    assert r.status_code == 409
    assert "no skills" in r.json()["message"]
    assert ami.sent == []


async def test_logout_removes_from_skill_queues(
    client: httpx.AsyncClient, admin: str, ami: FakeAmi
) -> None:
    await put_agent(client, admin, skills=["hotline", "vip"])
    ami.answers["QueueRemove"] = lambda h: (
        refuse("Unable to remove interface: Not there")(h)
        if h["Queue"] == "vip"
        else AmiMessage([("Response", "Success")])
    )
    r = await client.post("/api/v1/agents/1001/logout", headers=bearer(admin))
    assert r.status_code == 200, r.text
    assert ami.sent == [
        {"Action": "QueueRemove", "Queue": "hotline", "Interface": "PJSIP/1001"},
        {"Action": "QueueRemove", "Queue": "vip", "Interface": "PJSIP/1001"},
    ]


async def test_logout_also_leaves_queues_joined_elsewhere(
    client: httpx.AsyncClient, admin: str, ami: FakeAmi, container: Container
) -> None:
    """A member added by hand to a queue outside its skills is removed from it too."""
    await put_agent(client, admin, skills=["vip"])
    for msg in trace("agent_states.ami"):
        container.pipeline.on_ami_event(msg)
        if msg.get("Event") == "QueueMemberAdded":
            break
    await client.post("/api/v1/agents/1001/logout", headers=bearer(admin))
    assert [a["Queue"] for a in ami.sent] == ["hotline", "vip"]


async def test_pause_and_unpause(client: httpx.AsyncClient, admin: str, ami: FakeAmi) -> None:
    await put_agent(client, admin)
    r = await client.post(
        "/api/v1/agents/1001/pause", json={"reason": "lunch"}, headers=bearer(admin)
    )
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/agents/1001/unpause", headers=bearer(admin))
    assert r.status_code == 200, r.text
    assert ami.sent == [
        {"Action": "QueuePause", "Interface": "PJSIP/1001", "Paused": "true", "Reason": "lunch"},
        {"Action": "QueuePause", "Interface": "PJSIP/1001", "Paused": "false"},
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "nap"},
        {"reason": "Lunch"},
        {"reason": ""},
        {"reason": "lunch\r\nAction: Hangup"},
        {},
        {"reason": "lunch", "extra": 1},
        None,
    ],
)
async def test_pause_refuses_bad_reasons_before_sending(
    client: httpx.AsyncClient, admin: str, ami: FakeAmi, body: dict[str, Any] | None
) -> None:
    await put_agent(client, admin)
    r = await client.post("/api/v1/agents/1001/pause", json=body, headers=bearer(admin))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_input"
    assert ami.sent == []


async def test_unknown_reason_names_the_allowed_ones(
    client: httpx.AsyncClient, admin: str, ami: FakeAmi, container: Container
) -> None:
    container.agents.settings = AgentSettings(pause_reasons="lunch,toilet")  # type: ignore[arg-type]
    await put_agent(client, admin)
    r = await client.post(
        "/api/v1/agents/1001/pause", json={"reason": "training"}, headers=bearer(admin)
    )
    assert r.status_code == 422
    assert r.json()["message"] == "invalid reason: 'training' is not one of lunch, toilet"
    r = await client.post(
        "/api/v1/agents/1001/pause", json={"reason": "toilet"}, headers=bearer(admin)
    )
    assert r.status_code == 200
    assert ami.sent[-1]["Reason"] == "toilet"


async def test_pause_when_not_logged_in_is_409(
    client: httpx.AsyncClient, admin: str, ami: FakeAmi
) -> None:
    await put_agent(client, admin)
    ami.answers["QueuePause"] = refuse("Interface not found")
    r = await client.post(
        "/api/v1/agents/1001/pause", json={"reason": "lunch"}, headers=bearer(admin)
    )
    assert r.status_code == 409
    assert r.json()["message"] == (
        "agent 1001 is not logged in to any queue (Asterisk: Interface not found)"
    )


async def test_ami_down_is_503(
    client: httpx.AsyncClient, admin: str, ami: FakeAmi, container: Container
) -> None:
    await put_agent(client, admin)
    ami.logged_in = False
    ami.last_error = "connection refused to 127.0.0.1:5038"
    r = await client.post("/api/v1/agents/1001/login", headers=bearer(admin))
    assert r.status_code == 503
    assert r.json() == {
        "error": "unavailable",
        "message": "not connected to Asterisk (AMI): connection refused to 127.0.0.1:5038; "
        "try again shortly",
    }
    container.ami = None
    r = await client.post("/api/v1/agents/1001/unpause", headers=bearer(admin))
    assert r.status_code == 503
    assert "AMI is disabled" in r.json()["message"]
    assert ami.sent == []


async def test_lost_connection_and_timeout(
    client: httpx.AsyncClient, admin: str, ami: FakeAmi
) -> None:
    await put_agent(client, admin)
    ami.answers["QueuePause"] = raise_(AmiConnectionLost("connection to x lost"))
    r = await client.post("/api/v1/agents/1001/unpause", headers=bearer(admin))
    assert r.status_code == 503
    assert "whether it was done is unknown" in r.json()["message"]
    ami.answers["QueuePause"] = raise_(
        AmiActionTimeout("AMI action QueuePause got no answer within 10s")
    )
    r = await client.post("/api/v1/agents/1001/unpause", headers=bearer(admin))
    assert r.status_code == 504
    assert r.json()["message"] == "AMI action QueuePause got no answer within 10s"


# -- live state --------------------------------------------------------------------------


async def test_list_shows_live_state_from_ami_events(
    client: httpx.AsyncClient, admin: str, container: Container
) -> None:
    await put_agent(client, admin)
    await put_agent(client, admin, ext="1002", name="李娜")
    heard: list[AgentStateChanged] = []
    container.bus.subscribe(AgentStateChanged, heard.append)
    msgs = trace("agent_states.ami")
    pause = next(m for m in msgs if m.get("Event") == "QueueMemberPause")
    for msg in msgs[: msgs.index(pause) + 1]:
        container.pipeline.on_ami_event(msg)
    r = await client.get("/api/v1/agents", headers=bearer(admin))
    one, two = r.json()["items"]
    assert one["state"] == "paused" and one["paused_reason"] == "lunch"
    assert one["available"] is False
    assert one["paused_since"] == one["since"]
    assert one["paused_since"].startswith("2026-11-23T")
    assert [q["queue"] for q in one["queues"]] == ["hotline"]
    assert two["state"] == "logged_out" and two["queues"] == []
    assert [(c.interface, c.state.value) for c in heard] == [
        ("PJSIP/1001", "available"),
        ("PJSIP/1001", "paused"),
    ]
    # ... the rest of the recording: two calls, then a logout
    for msg in msgs[msgs.index(pause) + 1 :]:
        container.pipeline.on_ami_event(msg)
    r = await client.get("/api/v1/agents/1001", headers=bearer(admin))
    assert r.json()["state"] == "logged_out" and r.json()["calls_taken"] == 0
    assert heard[-1].state.value == "logged_out"


async def test_resync_rebuilds_the_state(
    client: httpx.AsyncClient, admin: str, container: Container
) -> None:
    from cti.ami.resync import ResyncSnapshot

    await put_agent(client, admin)
    members = [
        m for m in trace("agent_states.paused.snapshot.ami") if m.get("Event") == "QueueMember"
    ]
    container.pipeline.on_resync(ResyncSnapshot([], [], members, [], []))
    r = await client.get("/api/v1/agents/1001", headers=bearer(admin))
    body = r.json()
    assert (body["state"], body["paused_reason"]) == ("paused", "lunch")
    assert body["queues"][0]["logged_in_since"] is not None
    container.pipeline.on_resync(ResyncSnapshot([], [], [], [], []))
    r = await client.get("/api/v1/agents/1001", headers=bearer(admin))
    assert r.json()["state"] == "logged_out"
