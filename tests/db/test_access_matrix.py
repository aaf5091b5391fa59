"""Route × kind of token → status: the access matrix, generated from the app's route table.

:data:`RULES` holds one rule for every route the app serves (``iter_route_contexts`` over
``create_http_app(...).routes``): which scopes reach it, which scopes see everyone's data
there, and concrete requests on seeded data (orders of two shops, tickets and callbacks
of agents 1001 and 1002, calls they took from a recorded trace). For every request and
every kind of token (none, wrong, revoked, each scope alone, shop A and shop B, agent
1001 and 1002) :func:`expected` derives the status from the rule, and the test checks
them all. A route without a rule fails :func:`test_every_route_has_a_rule`; README's
"Who may do what" lists the same routes.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from sqlalchemy import delete
from starlette.routing import Mount, Route
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from cti.api import create_http_app
from cti.auth.scopes import ALL_SCOPES, Scope
from cti.auth.tokens import create_token, revoke_token
from cti.confirmations.models import Confirmation, ConfirmationStatus
from cti.container import Container
from cti.recordings.models import Recording
from cti.tickets.schemas import TicketIn, TicketType
from cti.tickets.service import create_callback_ticket, create_ticket
from cti.webhooks.service import enqueue_event
from tests.db.test_calls import expected as ground_truth
from tests.db.test_calls import feed_trace
from tests.db.test_recordings_api import plant

README = Path(__file__).resolve().parents[2] / "README.md"

# --- kinds of token ---------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    name: str
    scopes: frozenset[str] = frozenset()
    agent: str | None = None
    shop: str | None = None
    valid: bool = True
    """False: no token, a wrong one, or a revoked one (which carries every scope)."""


KINDS = (
    Kind("none", valid=False),
    Kind("wrong", valid=False),
    Kind("revoked", frozenset(ALL_SCOPES), agent="1001", valid=False),
    *(Kind(s.value, frozenset({s.value})) for s in Scope if s is not Scope.AGENT),
    Kind("agent 1001", frozenset({"agent"}), agent="1001"),
    Kind("agent 1002", frozenset({"agent"}), agent="1002"),
    # A shop backend's token: the shop scopes, bound to its shop.
    Kind("shop-a", frozenset({"orders:write", "calls:originate"}), shop="shop-a"),
    Kind("shop-b", frozenset({"orders:write", "calls:originate"}), shop="shop-b"),
)

# --- rules ------------------------------------------------------------------------------

Check = Callable[[Kind, httpx.Response, dict[str, Any]], None]


@dataclass(frozen=True)
class Case:
    """One request. ``path`` is formatted with the seeded ids (``{t1001}``...)."""

    path: str
    ok: frozenset[int]
    """The status for a token that may do it."""
    owner: str | None = None
    """Whose object it is: a shop (``shop-a``) or an agent's extension (``1001``)."""
    not_yours: int = 404
    """The status for a token bound to another shop or agent."""
    json: Any = None
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    check: Check | None = None
    before: str | None = None
    """A seeded helper run before every request of this case (e.g. re-create what it deletes)."""


@dataclass(frozen=True)
class Rule:
    scopes: frozenset[str] | None
    """Any one of these reaches the route; None: public (no token needed)."""
    cases: tuple[Case, ...]
    sees_all: frozenset[str] = frozenset()
    """Scopes that see every agent's data here; an ``agent`` token sees its own only."""


def ok(*statuses: int) -> frozenset[int]:
    return frozenset(statuses)


def scopes(*names: str) -> frozenset[str]:
    assert set(names) <= ALL_SCOPES, names
    return frozenset(names)


def public(path: str, status: int = 200) -> Rule:
    return Rule(None, (Case(path, ok(status)),))


def _own_items(kind: Kind, r: httpx.Response, ids: dict[str, Any]) -> None:
    items = r.json()["items"]
    if kind.agent is not None:
        # An agent sees its own tickets and nothing of anyone else's.
        assert items and {t["assignee"] for t in items} == {kind.agent}, items
        other = "1002" if kind.agent == "1001" else "1001"
        assert ids[f"cb{other}_number"] not in r.text and ids["cbnone_number"] not in r.text
    else:
        assert {t["assignee"] for t in items} >= {"1001", "1002"}, items


def _callbacks(kind: Kind, r: httpx.Response, ids: dict[str, Any]) -> None:
    _own_items(kind, r, ids)
    if kind.agent is None:
        assert len(r.json()["items"]) == 3


def _import(kind: Kind, r: httpx.Response, ids: dict[str, Any]) -> None:
    report = r.json()
    if kind.shop not in (None, "shop-a"):
        assert (report["imported"], report["rejected"]) == (0, 1), report
    else:
        assert (report["imported"], report["rejected"]) == (1, 0), report


def _deliveries(kind: Kind, r: httpx.Response, ids: dict[str, Any]) -> None:
    [item] = r.json()["items"]
    assert item["event_id"] == ids[f"ev_{item['payload']['data']['shop']}"]


def _dnc_import(kind: Kind, r: httpx.Response, ids: dict[str, Any]) -> None:
    assert (r.json()["imported"], r.json()["rejected"]) == (1, 0), r.json()


def _own_confirmations(kind: Kind, r: httpx.Response, ids: dict[str, Any]) -> None:
    shops = {c["shop"] for c in r.json()["items"]}
    if kind.shop is not None:
        assert shops == {kind.shop}, shops
    else:
        assert shops >= {"shop-a", "shop-b"}, shops


def _own_desk(kind: Kind, r: httpx.Response, ids: dict[str, Any]) -> None:
    assert r.json()["extension"] == kind.agent


def _own_recordings(kind: Kind, r: httpx.Response, ids: dict[str, Any]) -> None:
    found = {item["id"] for item in r.json()["items"]}
    if kind.agent is not None:
        other = "1002" if kind.agent == "1001" else "1001"
        assert ids[f"r{kind.agent}"] in found and ids[f"r{other}"] not in found, found
    else:
        assert {ids["r1001"], ids["r1002"]} <= found, found


def _plays(owner: str) -> Check:
    def check(kind: Kind, r: httpx.Response, ids: dict[str, Any]) -> None:
        assert r.content == ids[f"wav{owner}"]
        assert r.headers["content-type"] == "audio/wav"

    return check


def _reviews(owner: str) -> Check:
    def check(kind: Kind, r: httpx.Response, ids: dict[str, Any]) -> None:
        # The POST case above reviewed 1001's recording (as "matrix"), never 1002's.
        items = r.json()["items"]
        assert {i["recording_id"] for i in items} == ({ids["r1001"]} if owner == "1001" else set())
        assert all(i["reviewer"] == "matrix" for i in items), items

    return check


def _ws_hello(kind: Kind, frame: Any, ids: dict[str, Any]) -> None:
    assert frame["type"] == "hello" and frame["extension"] == kind.agent


ORDER = {
    "shop": "shop-a",
    "customer": {"phone": "13800138000", "name": "张伟"},
    "amount": "100.00",
    "status": "paid",
    "created_at": "2026-11-20T10:00:00+08:00",
    "updated_at": "2026-11-20T10:00:00+08:00",
}
CONFIRMATION = {
    "shop": "shop-a",
    "order_id": "A-1",
    "phone": "13800138000",
    "amount": "2300.50",
    "item_count": 3,
    "reason": "high_amount",
}
ORIGINATE = scopes("calls:originate")
DESK = scopes("tickets:write", "agent")
SUPERVISOR_OR_SELF = scopes("agents:write", "agent")
NOTE = {"disposition": "resolved", "note": "matrix"}
REVIEW = {
    "sheet": "hotline",
    "scores": {"greeting": 9, "knowledge": 8, "resolution": 10, "attitude": 9, "closing": 8},
    "comment": "matrix",
}
QA = scopes("recordings:read", "recordings:write")
PLAYERS = scopes("recordings:read", "agent")
"""Who finds and plays recordings: QA all of them, an agent those of the calls it took."""


def recording_rule(suffix: str, check: Callable[[str], Check | None] = lambda _: None) -> Rule:
    return Rule(
        PLAYERS,
        tuple(
            Case(f"/api/v1/recordings/{{r{ext}}}{suffix}", ok(200), ext, check=check(ext))
            for ext in ("1001", "1002")
        ),
        sees_all=scopes("recordings:read"),
    )


RULES: dict[str, Rule] = {
    # Public: the same answer whoever asks.
    "GET /healthz": public("/healthz"),
    "GET /readyz": public("/readyz"),
    "GET /metrics": public("/metrics"),
    "GET /openapi.json": public("/openapi.json"),
    "HEAD /openapi.json": public("/openapi.json"),
    "GET /docs": public("/docs"),
    "HEAD /docs": public("/docs"),
    "GET /agent": public("/agent"),
    "GET /qa": public("/qa"),
    "GET /wallboard": public("/wallboard"),
    "MOUNT /static/{path}": public("/static/agent.js"),
    # Orders: a shop-bound token has its own shop's orders only.
    "PUT /api/v1/orders/{order_id}": Rule(
        scopes("orders:write"),
        (
            Case("/api/v1/orders/A-1", ok(200, 201), "shop-a", 403, json=ORDER),
            Case(
                "/api/v1/orders/B-1", ok(200, 201), "shop-b", 403, json={**ORDER, "shop": "shop-b"}
            ),
        ),
    ),
    "GET /api/v1/orders/{order_id}": Rule(
        scopes("orders:write"),
        (
            Case("/api/v1/orders/A-1?shop=shop-a", ok(200), "shop-a"),
            Case("/api/v1/orders/B-1?shop=shop-b", ok(200), "shop-b"),
        ),
    ),
    "POST /api/v1/orders:import": Rule(
        scopes("orders:write"),
        (
            Case(
                "/api/v1/orders:import",
                ok(200),
                "shop-a",
                200,  # a report; the other shop's line is in it as refused
                content=json.dumps({**ORDER, "order_id": "A-2"}),
                check=_import,
            ),
        ),
    ),
    # Webhooks: a shop's token sees the deliveries of its own confirmations only.
    "GET /api/v1/confirmations/{confirmation_id}/deliveries": Rule(
        scopes("calls:originate"),
        (
            Case("/api/v1/confirmations/cf_a/deliveries", ok(200), "shop-a", check=_deliveries),
            Case("/api/v1/confirmations/cf_b/deliveries", ok(200), "shop-b", check=_deliveries),
        ),
    ),
    # Shops and their confirmation calls: a shop's token has its own shop only; an
    # operator's (unbound calls:originate) every shop.
    "PUT /api/v1/shops/{shop}": Rule(
        ORIGINATE,
        (
            Case("/api/v1/shops/shop-a", ok(200), "shop-a", 403, json={"max_concurrent": 2}),
            Case("/api/v1/shops/shop-b", ok(200), "shop-b", 403, json={"max_concurrent": 2}),
        ),
    ),
    "GET /api/v1/shops/{shop}": Rule(
        ORIGINATE,
        (
            Case("/api/v1/shops/shop-a", ok(200), "shop-a"),
            Case("/api/v1/shops/shop-b", ok(200), "shop-b"),
        ),
    ),
    "POST /api/v1/shops/{shop}/secret:rotate": Rule(
        ORIGINATE,
        (
            Case("/api/v1/shops/shop-a/secret:rotate", ok(200), "shop-a", 403),
            Case("/api/v1/shops/shop-b/secret:rotate", ok(200), "shop-b", 403),
        ),
    ),
    # Do-not-call: each token writes its own shop's entries (an operator's: every shop's).
    "PUT /api/v1/do-not-call/{phone}": Rule(
        ORIGINATE,
        (Case("/api/v1/do-not-call/13700000009", ok(200, 201), json={"reason": "matrix"}),),
    ),
    "DELETE /api/v1/do-not-call/{phone}": Rule(
        ORIGINATE, (Case("/api/v1/do-not-call/13700000008", ok(204), before="dnc"),)
    ),
    "GET /api/v1/do-not-call": Rule(ORIGINATE, (Case("/api/v1/do-not-call", ok(200)),)),
    "POST /api/v1/do-not-call:import": Rule(
        ORIGINATE,
        (Case("/api/v1/do-not-call:import", ok(200), content="13700000007\n", check=_dnc_import),),
    ),
    "POST /api/v1/confirmations": Rule(
        ORIGINATE,
        (
            Case(
                "/api/v1/confirmations",
                ok(201),
                "shop-a",
                403,
                json=CONFIRMATION,
                headers={"Idempotency-Key": "matrix"},
            ),
        ),
    ),
    "GET /api/v1/confirmations": Rule(
        ORIGINATE, (Case("/api/v1/confirmations", ok(200), check=_own_confirmations),)
    ),
    "GET /api/v1/confirmations/{confirmation_id}": Rule(
        ORIGINATE,
        (
            Case("/api/v1/confirmations/{cfm_shop-a}", ok(200), "shop-a"),
            Case("/api/v1/confirmations/{cfm_shop-b}", ok(200), "shop-b"),
        ),
    ),
    "DELETE /api/v1/confirmations/{confirmation_id}": Rule(
        ORIGINATE,
        (
            Case("/api/v1/confirmations/{cfmdel_shop-a}", ok(200), "shop-a"),
            Case("/api/v1/confirmations/{cfmdel_shop-b}", ok(200), "shop-b"),
        ),
    ),
    # Supervisors: figures, calls, agents, holidays.
    "GET /api/v1/calls": Rule(scopes("stats:read"), (Case("/api/v1/calls", ok(200)),)),
    "GET /api/v1/calls/{call_id}": Rule(
        scopes("stats:read"), (Case("/api/v1/calls/{c1001}", ok(200)),)
    ),
    "GET /api/v1/agents": Rule(scopes("stats:read"), (Case("/api/v1/agents", ok(200)),)),
    "GET /api/v1/queues/{name}/stats": Rule(
        scopes("stats:read"),
        (
            Case(
                "/api/v1/queues/hotline/stats?from=2026-11-23T00:00:00%2B08:00"
                "&to=2026-11-24T00:00:00%2B08:00",
                ok(200),
            ),
        ),
    ),
    # No calls stored on the seeded day: measured, then refused as nothing to size.
    "GET /api/v1/queues/{name}/staffing": Rule(
        scopes("stats:read"),
        (
            Case(
                "/api/v1/queues/hotline/staffing?from=2026-11-20T00:00:00%2B08:00"
                "&to=2026-11-21T00:00:00%2B08:00",
                ok(422),
            ),
        ),
    ),
    # Live queue figures: the configured hotline queue is known before any call.
    "GET /api/v1/queues": Rule(scopes("stats:read"), (Case("/api/v1/queues", ok(200)),)),
    "GET /api/v1/queues/{name}": Rule(
        scopes("stats:read"), (Case("/api/v1/queues/hotline", ok(200)),)
    ),
    "GET /api/v1/agents/{extension}": Rule(
        scopes("stats:read", "agent"),
        (
            Case("/api/v1/agents/1001", ok(200), "1001", 403),
            Case("/api/v1/agents/1002", ok(200), "1002", 403),
        ),
        sees_all=scopes("stats:read"),
    ),
    "PUT /api/v1/agents/{extension}": Rule(
        scopes("agents:write"),
        (Case("/api/v1/agents/1003", ok(200, 201), json={"name": "坐席 1003"}),),
    ),
    # 503: allowed through, then Asterisk is not there (this test runs without AMI).
    **{
        f"POST /api/v1/agents/{{extension}}/{action}": Rule(
            SUPERVISOR_OR_SELF,
            (
                Case(f"/api/v1/agents/1001/{action}", ok(503), "1001", 403, json=body),
                Case(f"/api/v1/agents/1002/{action}", ok(503), "1002", 403, json=body),
            ),
            sees_all=scopes("agents:write"),
        )
        for action, body in (
            ("login", None),
            ("logout", None),
            ("pause", {"reason": "lunch"}),
            ("unpause", None),
        )
    },
    "GET /api/v1/hotlines/{hotline}/holidays": Rule(
        scopes("stats:read"), (Case("/api/v1/hotlines/hotline/holidays", ok(200)),)
    ),
    "GET /api/v1/hotlines/{hotline}/holidays/{day}": Rule(
        scopes("stats:read"), (Case("/api/v1/hotlines/hotline/holidays/2026-10-01", ok(200)),)
    ),
    "PUT /api/v1/hotlines/{hotline}/holidays/{day}": Rule(
        scopes("agents:write"),
        (
            Case(
                "/api/v1/hotlines/hotline/holidays/2026-10-01",
                ok(200, 201),
                json={"kind": "holiday"},
            ),
        ),
    ),
    "DELETE /api/v1/hotlines/{hotline}/holidays/{day}": Rule(
        scopes("agents:write"),
        (Case("/api/v1/hotlines/hotline/holidays/2026-10-02", ok(204), before="holiday"),),
    ),
    # The desk: tickets and calls' notes; an agent token has its own only.
    "POST /api/v1/tickets": Rule(
        DESK, (Case("/api/v1/tickets", ok(201), json={"type": "question", "title": "matrix"}),)
    ),
    "GET /api/v1/tickets": Rule(
        DESK,
        (Case("/api/v1/tickets?limit=500", ok(200), check=_own_items),),
        sees_all=scopes("tickets:write"),
    ),
    "GET /api/v1/tickets/callbacks": Rule(
        DESK,
        (Case("/api/v1/tickets/callbacks", ok(200), check=_callbacks),),
        sees_all=scopes("tickets:write"),
    ),
    "GET /api/v1/tickets/{ticket_id}": Rule(
        DESK,
        (
            Case("/api/v1/tickets/{t1001}", ok(200), "1001"),
            Case("/api/v1/tickets/{t1002}", ok(200), "1002"),
        ),
        sees_all=scopes("tickets:write"),
    ),
    "PATCH /api/v1/tickets/{ticket_id}": Rule(
        DESK,
        (
            Case("/api/v1/tickets/{t1001}", ok(200), "1001", json={"description": "checked"}),
            Case("/api/v1/tickets/{t1002}", ok(200), "1002", json={"description": "checked"}),
        ),
        sees_all=scopes("tickets:write"),
    ),
    "POST /api/v1/tickets/{ticket_id}/comments": Rule(
        DESK,
        (
            Case("/api/v1/tickets/{t1001}/comments", ok(201), "1001", json={"body": "x"}),
            Case("/api/v1/tickets/{t1002}/comments", ok(201), "1002", json={"body": "x"}),
        ),
        sees_all=scopes("tickets:write"),
    ),
    # A note is the agent's own record of a call it took: no scope writes another's.
    "PUT /api/v1/calls/{linkedid}/note": Rule(
        scopes("agent"),
        (
            Case("/api/v1/calls/{c1001}/note", ok(200), "1001", json=NOTE),
            Case("/api/v1/calls/{c1002}/note", ok(200), "1002", json=NOTE),
        ),
    ),
    "GET /api/v1/calls/{linkedid}/notes": Rule(
        DESK,
        (
            Case("/api/v1/calls/{c1001}/notes", ok(200), "1001"),
            Case("/api/v1/calls/{c1002}/notes", ok(200), "1002"),
        ),
        sees_all=scopes("tickets:write"),
    ),
    # Recordings: an agent token reaches those of the calls it took; another's is 404.
    "GET /api/v1/recordings": Rule(
        PLAYERS,
        (Case("/api/v1/recordings", ok(200), check=_own_recordings),),
        sees_all=scopes("recordings:read"),
    ),
    "GET /api/v1/recordings/{recording_id}": recording_rule(""),
    "POST /api/v1/recordings/{recording_id}/link": recording_rule("/link"),
    # Also a signed link instead of a token (tests/db/test_recordings_api.py): neither is 401.
    "GET /api/v1/recordings/{recording_id}/audio": recording_rule("/audio", _plays),
    "HEAD /api/v1/recordings/{recording_id}/audio": recording_rule("/audio"),
    "DELETE /api/v1/recordings/{recording_id}": Rule(
        scopes("recordings:write"),
        (Case("/api/v1/recordings/{rdel}", ok(204), before="recording"),),
    ),
    "GET /api/v1/desk/stats": Rule(
        scopes("agent"), (Case("/api/v1/desk/stats", ok(200), check=_own_desk),)
    ),
    # Quality review: recordings:write scores, recordings:read reads; an agent token reads
    # the reviews of its own calls' recordings.
    "GET /api/v1/qa/scoresheets": Rule(QA, (Case("/api/v1/qa/scoresheets", ok(200)),)),
    "POST /api/v1/recordings/{recording_id}/reviews": Rule(
        scopes("recordings:write"),
        (Case("/api/v1/recordings/{r1001}/reviews", ok(201), json=REVIEW),),
    ),
    "GET /api/v1/recordings/{recording_id}/reviews": recording_rule("/reviews", _reviews),
    "GET /api/v1/qa/averages": Rule(
        scopes("recordings:read"), (Case("/api/v1/qa/averages?by=agent", ok(200)),)
    ),
    # WebSockets: 101 = the hello or snapshot frame; 401/403 = close codes 4401/4403.
    "WS /ws/agent": Rule(scopes("agent"), (Case("/ws/agent", ok(101), check=_ws_hello),)),
    "WS /ws/supervisor": Rule(scopes("stats:read"), (Case("/ws/supervisor", ok(101)),)),
    # Click-to-call, agents only: checked, then refused here because no Asterisk is connected.
    "POST /api/v1/calls": Rule(
        scopes("agent"),
        (Case("/api/v1/calls", ok(503), json={"phone": "13800138000"}),),
    ),
    # Recording pause/resume: only on a call in progress (none is here: 404 for whoever may).
    "POST /api/v1/calls/{call_id}/recording:pause": Rule(
        scopes("recordings:write", "agent"),
        (Case("/api/v1/calls/{c1001}/recording:pause", ok(404)),),
    ),
    "POST /api/v1/calls/{call_id}/recording:resume": Rule(
        scopes("recordings:write", "agent"),
        (Case("/api/v1/calls/{c1001}/recording:resume", ok(404)),),
    ),
}


README_COLUMNS = tuple(
    next(k for k in KINDS if k.name == name)
    for name in (
        "none", "orders:write", "calls:originate", "shop-a", "stats:read", "agents:write",
        "tickets:write", "recordings:read", "recordings:write", "agent 1001",
    )
)  # fmt: skip


def expected(rule: Rule, case: Case, kind: Kind) -> frozenset[int]:
    if rule.scopes is None:
        return case.ok
    if not kind.valid:
        return ok(401)
    if not kind.scopes & rule.scopes:
        return ok(403)
    owner = case.owner
    if owner is not None:
        if owner.startswith("shop-") and kind.shop not in (None, owner):
            return ok(case.not_yours)
        if owner.isdigit() and not kind.scopes & rule.sees_all and kind.agent != owner:
            return ok(case.not_yours)
    return case.ok


# --- the route table --------------------------------------------------------------------


def route_keys(app: FastAPI) -> Iterator[str]:
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if isinstance(route, APIWebSocketRoute):
            yield f"WS {ctx.path_format}"
        elif isinstance(route, Mount):
            yield f"MOUNT {ctx.path_format}"
        elif isinstance(route, APIRoute | Route):
            yield from (f"{m} {ctx.path_format}" for m in sorted(ctx.methods or ()))
        else:  # pragma: no cover - a kind of route this test does not know yet
            yield f"{type(route).__name__} {ctx.path_format}"


def test_every_route_has_a_rule(container: Container) -> None:
    served = set(route_keys(create_http_app(container.http_services())))
    assert len(served) >= 35
    assert sorted(served - set(RULES)) == [], "routes without a rule in RULES"
    assert sorted(set(RULES) - served) == [], "rules for routes the app does not serve"
    # README's "Who may do what" has a row for every route that needs a token, and
    # each cell says what RULES say for that kind of token on its own object.
    matrix = README.read_text(encoding="utf-8").split("### Who may do what", 1)[1]
    rows = {
        m.group(1): [c.strip() for c in m.group(2).split("|")]
        for m in re.finditer(
            r"^\| `((?:GET|HEAD|PUT|POST|PATCH|DELETE|WS) /[^`]*)` \|(.*)\|$", matrix, re.M
        )
    }
    needs_token = {k for k, r in RULES.items() if r.scopes is not None}
    assert sorted(needs_token - set(rows)) == [], "routes missing from README's matrix"
    said = {"✓": "ok", "own": "ok", "401": 401, "4401": 401, "403": 403, "4403": 403}
    for key, cells in rows.items():
        rule = RULES[key]
        assert len(cells) == len(README_COLUMNS), key
        for cell, kind in zip(cells, README_COLUMNS, strict=True):
            own = [c for c in rule.cases if c.owner in (None, kind.shop, kind.agent)]
            mine = own or list(rule.cases)
            want = expected(rule, mine[0], kind)
            word = said[cell.split()[0].rstrip(";")]
            assert want == (mine[0].ok if word == "ok" else ok(int(word))), (key, kind.name)


# --- seeded data ------------------------------------------------------------------------


@dataclass
class Seeded:
    ids: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, str | None] = field(default_factory=dict)
    admin: str = ""


async def seed(container: Container, client: httpx.AsyncClient) -> Seeded:
    out = Seeded()
    now = container.clock.now()
    async with container.sessions() as s, s.begin():

        async def token(*names: str, agent: str | None = None, shop: str | None = None) -> str:
            issued = await create_token(s, "matrix", names, agent, now=now, shop=shop)
            return issued.token

        for kind in KINDS:
            if kind.name == "none":
                out.tokens[kind.name] = None
            elif kind.name == "wrong":
                real = await token("stats:read")
                out.tokens[kind.name] = real[:-4] + ("AAAA" if real[-4:] != "AAAA" else "BBBB")
            else:
                out.tokens[kind.name] = await token(*kind.scopes, agent=kind.agent, shop=kind.shop)
        revoked = out.tokens["revoked"]
        assert revoked is not None
        await revoke_token(s, revoked.split("_")[1], now=now)
        out.admin = await token(
            "agents:write", "stats:read", "tickets:write", "orders:write", "calls:originate"
        )

    admin = {"Authorization": f"Bearer {out.admin}"}

    async def put(path: str, body: Any) -> None:
        r = await client.put(path, json=body, headers=admin)
        assert r.status_code in (200, 201), r.text

    await put("/api/v1/orders/A-1", ORDER)
    await put("/api/v1/orders/B-1", {**ORDER, "shop": "shop-b"})
    for ext in ("1001", "1002"):
        await put(f"/api/v1/agents/{ext}", {"name": f"坐席 {ext}", "skills": ["hotline"]})
    await put("/api/v1/hotlines/hotline/holidays/2026-10-01", {"kind": "holiday"})
    for shop in ("shop-a", "shop-b"):
        await put(f"/api/v1/shops/{shop}", {"name": shop})
        for prefix, key in (("cfm", "seed"), ("cfmdel", "seed-withdraw")):
            r = await client.post(
                "/api/v1/confirmations",
                # Each shop's own order (A-1, B-1), pushed above.
                json={**CONFIRMATION, "shop": shop, "order_id": f"{shop[-1].upper()}-1"},
                headers={**admin, "Idempotency-Key": key},
            )
            assert r.status_code == 201, r.text
            out.ids[f"{prefix}_{shop}"] = r.json()["id"]

    feed_trace(container, "concurrent.ami")
    await container.writer.flush()
    truth = ground_truth("concurrent.ami")
    for ext in ("1001", "1002"):
        out.ids[f"c{ext}"] = min(k for k, v in truth.items() if v["agent"] == ext)

    async with container.sessions() as s, s.begin():
        for ext in ("1001", "1002"):
            data = TicketIn(type=TicketType.QUESTION, title=f"{ext} 的工单", assignee=ext)
            t = await create_ticket(s, data=data, actor="desk", phones=container.phones, now=now)
            out.ids[f"t{ext}"] = t.id
        for who, number in (
            ("1001", "13700000001"),
            ("1002", "13700000002"),
            ("none", "13700000003"),
        ):
            cb = await create_callback_ticket(
                s,
                phones=container.phones,
                caller_number=number,
                recording_path=f"/var/spool/asterisk/voicemail/cti/{number}.wav",
                linkedid=None,
                now=now,
            )
            cb.assignee = who if who != "none" else None
            out.ids[f"cb{who}_number"] = number

    # A finished confirmation of each shop, with its result's webhook delivery.
    async with container.sessions() as s, s.begin():
        for shop in ("shop-a", "shop-b"):
            public_id = f"cf_{shop[-1]}"
            confirmation = Confirmation(
                public_id=public_id,
                shop=shop,
                order_id=f"{shop[-1].upper()}-1",
                phone="+8613800000001",
                facts={"amount": "2300.50", "item_count": 1, "reason": "high_amount"},
                status=ConfirmationStatus.CONFIRMED.value,
                idempotency_key=public_id,
                request_hash="0" * 64,
                first_response={},
                created_at=now,
                updated_at=now,
            )
            s.add(confirmation)
            await s.flush()
            delivery = await enqueue_event(
                s,
                shop_id=shop,
                event_type="confirmation.finished",
                confirmation_id=confirmation.id,
                data={"shop": shop, "result": "confirmed"},
                now=now,
            )
            out.ids[f"ev_{shop}"] = delivery.event_id

    # A recording of each agent's call, and one more of 1001's call for the deletions.
    for ext in ("1001", "1002"):
        rec = await plant(container, out.ids[f"c{ext}"], agent=ext)
        out.ids[f"r{ext}"], out.ids[f"wav{ext}"] = rec.id, rec.data
    out.ids["rdel"] = (await replant(container, out.ids["c1001"])).id
    return out


async def replant(container: Container, linkedid: str) -> Any:
    """The recording the DELETE case removes, back in place (file and row)."""
    async with container.sessions() as s, s.begin():
        await s.execute(
            delete(Recording).where(Recording.linkedid == linkedid, Recording.segment == 2)
        )
    return await plant(container, linkedid, 2, agent="1001")


class EachRequestItsOwnAddress(httpx.ASGITransport):
    """Failed logins are limited per client address; this matrix tests access rules,
    so no two requests come from the same address."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(app=app)
        self._n = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._n += 1
        self.client = (f"127.1.{self._n // 250}.{self._n % 250 + 1}", 40000)
        return await super().handle_async_request(request)


# --- the matrix -------------------------------------------------------------------------


async def _http(
    client: httpx.AsyncClient, key: str, case: Case, token: str | None, ids: dict[str, Any]
) -> httpx.Response:
    method = key.split(" ", 1)[0]
    method = "GET" if method == "MOUNT" else method
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(case.headers)
    if case.content is not None:
        headers["Content-Type"] = "application/x-ndjson"
    return await client.request(
        method,
        case.path.format(**ids),
        headers=headers,
        json=case.json,
        content=case.content.encode() if case.content is not None else None,
    )


async def _ws(base: str, case: Case, token: str | None) -> tuple[int, Any]:
    """101 and the first frame once it says hello, or the close code as an HTTP status."""
    async with connect(base + case.path) as ws:
        await ws.send(json.dumps({"token": token} if token else {}))
        try:
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if frame.get("type") in ("hello", "snapshot"):
                    return 101, frame
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            return {4401: 401, 4403: 403}.get(code, code), None


async def test_every_route_answers_every_kind_of_token_as_the_rules_say(
    container: Container, server: str
) -> None:
    app = create_http_app(container.http_services())
    async with httpx.AsyncClient(
        transport=EachRequestItsOwnAddress(app), base_url="http://cti.test"
    ) as client:
        data = await seed(container, client)
        admin = {"Authorization": f"Bearer {data.admin}"}

        async def before(name: str) -> None:
            if name == "recording":
                await replant(container, data.ids["c1001"])
                return
            if name == "dnc":
                # The entry each kind of token would remove: its shop's, or every shop's.
                for shop in ("", "shop-a", "shop-b"):
                    r = await client.put(
                        f"/api/v1/do-not-call/13700000008?shop={shop}", json={}, headers=admin
                    )
                    assert r.status_code in (200, 201), r.text
                return
            assert name == "holiday"
            r = await client.put(
                "/api/v1/hotlines/hotline/holidays/2026-10-02",
                json={"kind": "holiday"},
                headers=admin,
            )
            assert r.status_code in (200, 201)

        wrong: list[str] = []
        checked = 0
        for key, rule in RULES.items():
            for case in rule.cases:
                for kind in KINDS:
                    want = expected(rule, case, kind)
                    token = data.tokens[kind.name]
                    if case.before is not None:
                        await before(case.before)
                    body: Any = None
                    if key.startswith("WS "):
                        status, body = await _ws(server, case, token)
                    else:
                        r = await _http(client, key, case, token, data.ids)
                        status, body = r.status_code, r
                    checked += 1
                    if status not in want:
                        text = body.text[:120] if isinstance(body, httpx.Response) else body
                        wrong.append(
                            f"{key} {case.path} as {kind.name}: {status}, want "
                            f"{sorted(want)}: {text}"
                        )
                        continue
                    if case.check is not None and status in case.ok:
                        try:
                            case.check(kind, body, data.ids)
                        except AssertionError as exc:
                            wrong.append(f"{key} {case.path} as {kind.name}: {exc}")
    assert checked >= 35 * len(KINDS)
    assert wrong == [], "\n".join(wrong)
