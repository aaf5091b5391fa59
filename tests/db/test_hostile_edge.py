"""Issue 14, hostile input at the HTTP and WebSocket edge: one test (or a few) per row.

Each was written to fail on the code before the fix; the row it proves is in its docstring.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from cti.api import create_http_app
from cti.auth.models import ApiToken
from cti.auth.tokens import create_token
from cti.clock import FixedClock
from cti.container import Container
from cti.settings import Settings
from tests.serving import LocalServe, read_until_closed

STATIC = Path(__file__).resolve().parents[2] / "cti" / "static"
JSON = {"Content-Type": "application/json"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def lenient(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sees a 500 as a response (as a shop's client would), not as an error."""
    transport = httpx.ASGITransport(
        app=create_http_app(container.http_services()), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://cti.test") as c:
        yield c


class CountingBody:
    """A request body that counts how much of it the server pulled."""

    def __init__(self, chunks: int, size: int = 1024 * 1024) -> None:
        self.chunks, self.size, self.pulled = chunks, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"[" * self.size


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def api_operations(container: Container) -> dict[str, dict[str, Any]]:
    """The app's published route table: ``{path: {METHOD: operation}}`` under /api."""
    spec = create_http_app(container.http_services()).openapi()
    return {
        path: {method.upper(): op for method, op in ops.items()}
        for path, ops in spec["paths"].items()
        if path.startswith("/api/")
    }


# --- row 1: authentication before the body; every body has a limit --------------------


async def test_row1_no_token_gets_401_before_any_body_is_read(
    container: Container, client: httpx.AsyncClient
) -> None:
    """Row 1: without a token, malformed JSON is 401 (not 422), and a huge body is not read."""
    for method, path in (("PUT", "/api/v1/orders/X"), ("POST", "/api/v1/tickets")):
        r = await client.request(method, path, content=b'{"a":', headers=JSON)
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"] == "unauthorized"
    huge = CountingBody(chunks=500)  # 500 MB, if anyone read it
    r = await client.put("/api/v1/orders/X", content=huge, headers=JSON)
    assert r.status_code == 401
    assert huge.pulled == 0, f"{huge.pulled} MB of the body were read before the token"
    # The same for every API route that takes a body, from the app's own route table.
    with_body = [
        (method, path)
        for path, ops in api_operations(container).items()
        for method, op in ops.items()
        if "requestBody" in op
    ]
    assert len(with_body) >= 8
    for method, path in with_body:
        r = await client.request(method, concrete(path), content=b"{", headers=JSON)
        assert r.status_code == 401, f"{method} {path}: {r.status_code} {r.text}"


async def test_row1_oversize_bodies_are_refused_unread(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    """Row 1: 413 for a body over the limit, declared or streamed, without buffering it."""
    token = await make_token("orders:write", "tickets:write")
    declared = CountingBody(chunks=500)
    r = await client.post(
        "/api/v1/tickets",
        content=declared,
        headers={**bearer(token), **JSON, "Content-Length": str(500 * 1024 * 1024)},
    )
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert declared.pulled == 0
    streamed = CountingBody(chunks=500)  # chunked: no length to check first
    r = await client.put("/api/v1/orders/X", content=streamed, headers={**bearer(token), **JSON})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert streamed.pulled <= 2  # the default limit is 1 MiB
    # The NDJSON import streams: its limit is per line (and a larger one for the whole body).
    long_line = b'{"x": "' + b"y" * 300_000 + b'"}\n'
    r = await client.post(
        "/api/v1/orders:import",
        content=long_line,
        headers={**bearer(token), "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200
    assert "longer than" in r.json()["rejected_lines"][0]["reason"]


async def test_row1_the_import_streams_within_its_own_limit(
    database_url: str, tmp_path: Path
) -> None:
    """Row 1: the NDJSON import is refused (413) once it passes CTI_HTTP_MAX_IMPORT_BYTES."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        ami_enabled=False,
        agi_enabled=False,
        http_max_import_bytes=4096,
    )
    container = Container(settings)
    try:
        async with container.sessions() as session, session.begin():
            token = (
                await create_token(session, "shop", ["orders:write"], now=container.clock.now())
            ).token
        transport = httpx.ASGITransport(app=create_http_app(container.http_services()))
        async with httpx.AsyncClient(transport=transport, base_url="http://cti.test") as c:
            endless = CountingBody(chunks=1000, size=1024)
            r = await c.post(
                "/api/v1/orders:import",
                content=endless,
                headers={**bearer(token), "Content-Type": "application/x-ndjson"},
            )
            assert r.status_code == 413 and r.json()["error"] == "too_large"
            assert endless.pulled <= 5
    finally:
        await container.engine.dispose()


# --- row 5: out-of-range numbers and dates are 422 JSON --------------------------------

FAR_FUTURE = "9999-12-31T23:00:00-12:00"  # past year 9999 in UTC


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/tickets?offset=9223372036854775808", None),
        ("GET", "/api/v1/tickets/callbacks?offset=9223372036854775808", None),
        ("GET", "/api/v1/calls?offset=9223372036854775808", None),
        ("GET", f"/api/v1/tickets?customer_id={2**70}", None),
        ("POST", "/api/v1/tickets", {"type": "question", "title": "t", "customer_id": 2**70}),
        ("POST", "/api/v1/tickets", {"type": "question", "title": "t", "due_at": FAR_FUTURE}),
        ("GET", f"/api/v1/calls?since={FAR_FUTURE}", None),
        ("GET", f"/api/v1/tickets/{2**70}", None),
        # NUL characters: PostgreSQL refuses them in text, which was a 500 there.
        ("POST", "/api/v1/tickets", {"type": "question", "title": "t\x00"}),
        ("GET", "/api/v1/tickets?linkedid=%00", None),
        ("GET", "/api/v1/calls/x%00", None),
        (
            "PUT",
            "/api/v1/orders/A1",
            {
                "shop": "shopA",
                "customer": {"phone": "13800138000"},
                "amount": "1.00",
                "status": "paid",
                "created_at": FAR_FUTURE,
                "updated_at": FAR_FUTURE,
            },
        ),
    ],
)
async def test_row5_out_of_range_values_are_422_json(
    lenient: httpx.AsyncClient, make_token: Any, method: str, path: str, body: Any
) -> None:
    """Row 5: plain-text 500s on out-of-range numbers and dates become 422 JSON."""
    token = await make_token("orders:write", "tickets:write", "stats:read")
    r = await lenient.request(method, path, json=body, headers=bearer(token))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_input"


async def test_row5_import_reject_reasons_are_plain_words(
    container: Container, lenient: httpx.AsyncClient, make_token: Any
) -> None:
    """Row 5: an NDJSON line the database would refuse is rejected in words, never SQL."""
    token = await make_token("orders:write")

    def line(order_id: str, **change: Any) -> str:
        order = {
            "order_id": order_id,
            "shop": "shopA",
            "customer": {"phone": "13800138000"},
            "items": [{"sku": "S1", "name": "杯子", "qty": 1, "price": "1.00"}],
            "amount": "1.00",
            "status": "paid",
            "created_at": "2026-11-23T10:00:00+08:00",
            "updated_at": "2026-11-23T10:00:00+08:00",
        }
        order.update(change)
        return json.dumps(order)

    body = "\n".join(
        [
            line("A1", created_at=FAR_FUTURE, updated_at=FAR_FUTURE),
            line("A2", items=[{"sku": "S\x00", "name": "x", "qty": 1, "price": "1.00"}]),
            line("A3", shipping_address={"street": "a\x00b"}),
            line("A4"),
        ]
    )
    r = await lenient.post(
        "/api/v1/orders:import",
        content=body.encode(),
        headers={**bearer(token), "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["imported"] == 1 and report["rejected"] == 3
    for rejected in report["rejected_lines"]:
        reason = rejected["reason"]
        assert not re.search(r"SQL|INSERT|Error|sqlalchemy|asyncpg|sqlite|\[", reason), reason


# --- row 6: slow clients are disconnected; connections are capped ----------------------


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[LocalServe]:
    with LocalServe(tmp_path, CTI_HTTP_HEADER_TIMEOUT="1", CTI_HTTP_BODY_TIMEOUT="1") as s:
        yield s


def test_row6_slow_clients_are_disconnected(serve: LocalServe) -> None:
    """Row 6 (HTTP): a client that never finishes its headers, or sends a body over the
    limit, is disconnected."""
    with serve.connect() as slow_headers:
        slow_headers.sendall(b"GET /healthz HTTP/1.1\r\nHost: cti\r\n")  # and nothing more
        try:
            assert read_until_closed(slow_headers) == b""
        except TimeoutError:
            pytest.fail("a client that never finishes its headers is kept connected")
    with serve.connect() as fat_headers:
        fat_headers.sendall(b"GET /healthz HTTP/1.1\r\nHost: cti\r\nX-Pad: " + b"a" * 70_000)
        assert read_until_closed(fat_headers).startswith(b"HTTP/1.1 431 ")
    desk = serve.token("tickets:write")
    with serve.connect() as big_body:
        big_body.sendall(
            b"POST /api/v1/tickets HTTP/1.1\r\nHost: cti\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + desk.encode() + b"\r\n"
            b"Content-Length: 10000000\r\n\r\n" + b'{"type": "question", '
        )
        try:
            answer = read_until_closed(big_body)
        except TimeoutError:
            pytest.fail("a client trickling a 10 MB body is kept connected")
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:100]


def test_row6_connections_are_capped(tmp_path: Path) -> None:
    """Row 6 (HTTP): past CTI_HTTP_MAX_CONNECTIONS open connections, a request gets 503."""
    with LocalServe(tmp_path, CTI_HTTP_MAX_CONNECTIONS="4") as serve:
        idle = [serve.connect() for _ in range(4)]
        try:
            with serve.connect() as late:
                late.sendall(b"GET /healthz HTTP/1.1\r\nHost: cti\r\nConnection: close\r\n\r\n")
                answer = read_until_closed(late)
            assert answer.startswith(b"HTTP/1.1 503 "), answer[:100]
        finally:
            for sock in idle:
                sock.close()


def test_row6_a_trickled_body_within_the_limit_gets_408(serve: LocalServe) -> None:
    """Row 6 (HTTP): a small body that does not arrive in time is 408 JSON, then closed."""
    desk = serve.token("tickets:write")
    with serve.connect() as slow_body:
        slow_body.sendall(
            b"POST /api/v1/tickets HTTP/1.1\r\nHost: cti\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + desk.encode() + b"\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"type": '
        )
        try:
            answer = read_until_closed(slow_body)
        except TimeoutError:
            pytest.fail("a client trickling its body is kept connected")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert json.loads(body)["error"] == "request_timeout"


# --- row 7: pages send CSP, no inline scripts, no CDN ----------------------------------


async def test_row7_pages_send_security_headers_and_load_nothing_from_outside(
    client: httpx.AsyncClient,
) -> None:
    """Row 7: CSP without inline scripts, frame-ancestors 'none', nosniff, referrer policy;
    /docs from our own files."""
    for page in ("/agent", "/qa", "/docs"):
        r = await client.get(page)
        assert r.status_code == 200, page
        csp = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp, page
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, page
        assert r.headers.get("x-frame-options") == "DENY", page
        assert r.headers.get("x-content-type-options") == "nosniff", page
        assert r.headers.get("referrer-policy") == "no-referrer", page
        html = r.text
        assert not re.search(r"https?://", html), f"{page} loads from elsewhere"
        for script in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S):
            assert "src=" in script[0] and not script[1].strip(), f"inline script in {page}"
        assert not re.search(r"<style\b|\sstyle=|\son\w+=", html), f"inline style/handler in {page}"
        for asset in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert asset.startswith("/"), asset
            got = await client.get(asset)
            assert got.status_code == 200, asset
            assert got.headers["x-content-type-options"] == "nosniff"
    assert (await client.get("/openapi.json")).status_code == 200
    # Our own scripts and styles name no other origin either (the vendored bundle aside).
    for own in ("common.js", "agent.js", "qa.js", "agent.css", "qa.css", "swagger/init.js"):
        assert not re.search(r"https?://", (STATIC / own).read_text()), own


# --- row 8: no token in a URL; tokens and control characters in logs -------------------


async def close_code(ws: ClientConnection) -> int:
    """Read until the server closes; its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 15)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return closed.rcvd.code


async def test_row8_a_token_in_the_url_is_refused(server: str, make_token: Any) -> None:
    """Row 8: WebSockets take the token in the first message only; ?token= gets a clear close."""
    token = await make_token("agent", agent="1001")
    async with connect(f"{server}/ws/agent?token={token}") as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert first["type"] == "error" and "URL" in first["message"]
        assert await close_code(ws) == 4400
    async with connect(f"{server}/ws/agent") as ws:
        await ws.send(json.dumps({"token": token}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 15))["type"] == "hello"
    for script in ("agent.js", "common.js"):  # the page, and the socket it opens from common.js
        js = (STATIC / script).read_text()
        assert "token=" not in js and "URLSearchParams({ token" not in js, script


# --- row 9: bad WebSocket frames: a clean close and one log line -----------------------


@pytest.mark.parametrize(
    ("frame", "codes"),
    [
        (b"\x00\x01binary", {1003}),
        ("not json", {1007}),
        ("[" * 100_000 + "]" * 100_000, {1008, 1009}),
        ('{"a": ' * 50 + "1" + "}" * 50, {1008}),
        (json.dumps({"token": "x" * 10_000}), {1009}),
    ],
    ids=["binary", "not-json", "deep-and-huge", "deep", "oversize"],
)
async def test_row9_bad_frames_get_a_close_code_and_one_log_line(
    server: str, caplog: pytest.LogCaptureFixture, frame: str | bytes, codes: set[int]
) -> None:
    """Row 9: a client without a token sending junk: close code, one log line, no traceback."""
    caplog.set_level(logging.INFO)
    async with connect(f"{server}/ws/agent", max_size=None) as ws:
        await ws.send(frame)
        assert await close_code(ws) in codes
    await asyncio.sleep(0)  # let the server finish its side
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
    ours = [r for r in caplog.records if r.name.startswith("cti") and "/ws/agent" in r.getMessage()]
    assert len(ours) == 1, [r.getMessage() for r in caplog.records]


async def test_row9_bad_frames_after_login_close_cleanly_too(
    server: str, make_token: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Row 9: the same after authentication (binary frame from a logged-in agent)."""
    caplog.set_level(logging.INFO)
    token = await make_token("agent", agent="1001")
    async with connect(f"{server}/ws/agent") as ws:
        await ws.send(json.dumps({"token": token}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 15))["type"] == "hello"
        await ws.send('"ping"')
        while json.loads(await asyncio.wait_for(ws.recv(), 15))["type"] != "pong":
            pass
        await ws.send(b"\x00binary")
        assert await close_code(ws) == 1003
    assert not [r for r in caplog.records if r.exc_info]


# --- row 10: failed logins are rate-limited; last_used_at is kept ----------------------


@pytest.fixture
async def limited(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Container, FixedClock]]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        ami_enabled=False,
        agi_enabled=False,
        auth_failure_burst=3,
        auth_failures_per_minute=6,
    )
    clock = FixedClock(1_795_430_000.0)
    container = Container(settings, clock=clock)
    try:
        yield container, clock
    finally:
        await container.engine.dispose()


async def test_row10_wrong_tokens_are_rate_limited_per_address(
    limited: tuple[Container, FixedClock],
) -> None:
    """Row 10: after a burst of wrong tokens an address gets 429 with Retry-After."""
    container, clock = limited
    async with container.sessions() as session, session.begin():
        good = (await create_token(session, "desk", ["stats:read"], now=clock.now())).token
    app = create_http_app(container.http_services())

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://cti.test")

    async with client("127.0.0.7") as attacker, client("127.0.0.8") as other:
        for n in range(3):
            r = await attacker.get("/api/v1/calls", headers=bearer(f"cti_0000000{n}_guess"))
            assert r.status_code == 401
        r = await attacker.get("/api/v1/calls", headers=bearer("cti_00000009_guess"))
        assert r.status_code == 429, r.text
        assert r.json()["error"] == "too_many_requests"
        assert 1 <= int(r.headers["retry-after"]) <= 10
        # While it waits, even a right token is not looked at from that address...
        assert (await attacker.get("/api/v1/calls", headers=bearer(good))).status_code == 429
        # Another address is not affected.
        assert (await other.get("/api/v1/calls", headers=bearer(good))).status_code == 200
        clock.advance(int(r.headers["retry-after"]))
        assert (await attacker.get("/api/v1/calls", headers=bearer(good))).status_code == 200


async def test_row10_last_used_at_is_kept_at_most_once_a_minute(
    limited: tuple[Container, FixedClock],
) -> None:
    """Row 10: a token's last_used_at is set when it is used, written at most once a minute."""
    container, clock = limited
    async with container.sessions() as session, session.begin():
        token = (await create_token(session, "desk", ["stats:read"], now=clock.now())).token

    async def last_used() -> Any:
        async with container.sessions() as session:
            return (await session.execute(select(ApiToken.last_used_at))).scalar_one()

    app = create_http_app(container.http_services())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cti.test") as c:
        assert await last_used() is None
        assert (await c.get("/api/v1/calls", headers=bearer(token))).status_code == 200
        first = clock.now()
        assert await last_used() == first
        clock.advance(30)
        assert (await c.get("/api/v1/calls", headers=bearer(token))).status_code == 200
        assert await last_used() == first  # not rewritten within the minute
        clock.advance(31)
        assert (await c.get("/api/v1/calls", headers=bearer(token))).status_code == 200
        assert await last_used() == clock.now()


# --- row 11: /readyz details only with a token; the page's state label -----------------


async def test_row11_readyz_details_only_for_an_authenticated_caller(
    tmp_path: Path, database_url: str
) -> None:
    """Row 11: anonymous callers learn ready / not ready; a token holder learns why."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        ami_enabled=True,
        ami_host="127.0.0.1",
        ami_port=5999,
        agi_enabled=False,
    )
    container = Container(settings)  # AMI never started: not ready
    try:
        async with container.sessions() as session, session.begin():
            token = (
                await create_token(session, "ops", ["agent"], "1001", now=container.clock.now())
            ).token
        transport = httpx.ASGITransport(app=create_http_app(container.http_services()))
        async with httpx.AsyncClient(transport=transport, base_url="http://cti.test") as c:
            anonymous = await c.get("/readyz")
            assert anonymous.status_code == 503
            assert anonymous.json() == {"status": "not ready"}
            detailed = await c.get("/readyz", headers=bearer(token))
            assert detailed.status_code == 503
            assert detailed.json()["checks"]["ami"]["ok"] is False
            assert "ami" in detailed.json()["reason"].lower()
            wrong = await c.get("/readyz", headers=bearer("cti_00000000_wrong"))
            assert wrong.status_code == 503 and wrong.json() == {"status": "not ready"}
    finally:
        await container.engine.dispose()


# --- row 12: 405 where the method is wrong ---------------------------------------------


async def test_row12_a_wrong_method_is_405_json_on_every_path(
    container: Container, client: httpx.AsyncClient
) -> None:
    """Row 12: PATCH /api/v1/tickets/callbacks is 405 (not 422), as is every wrong method."""
    r = await client.patch("/api/v1/tickets/callbacks", json={})
    assert r.status_code == 405, r.text
    assert r.json()["error"] == "method_not_allowed"
    assert r.headers["allow"] == "GET"
    for path, ops in api_operations(container).items():
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - set(ops):
            r = await client.request(method, concrete(path))
            assert r.status_code == 405, f"{method} {path}: {r.status_code} {r.text}"
            assert r.json()["error"] == "method_not_allowed"
