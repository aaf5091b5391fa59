"""Webhooks to a real receiver on 127.0.0.1: signed, retried with backoff, every attempt logged.

The receiver is a small ASGI app under uvicorn on a loopback port, on the test's
event loop; it answers from a script (a status, maybe after a delay) and keeps
every request it got. The job runner is driven by hand with a FixedClock moved
past each backoff, so nothing here waits for real time except the one timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.auth.tokens import create_token
from cti.clock import FixedClock
from cti.confirmations.models import Confirmation, ConfirmationStatus
from cti.container import Container
from cti.jobs.models import Job, JobStatus
from cti.jobs.runner import JobRunner
from cti.jobs.service import lease, requeue
from cti.logging import QUIET_LOGGERS
from cti.shops.models import Shop
from cti.webhooks import subscribers as webhooks_subscribers
from cti.webhooks.config import WebhookSettings
from cti.webhooks.deliver import WebhookSender
from cti.webhooks.models import DeliveryStatus, WebhookDelivery
from cti.webhooks.service import (
    WEBHOOK_JOB,
    enqueue_event,
    get_delivery,
    settle_stranded,
    webhook_key,
)
from cti.webhooks.signing import verify
from tests.db.conftest import free_port

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SECRET, OLD_SECRET = "whsec_current_0123456789", "whsec_previous_9876543210"
RESULT = {
    "confirmation_id": "cf_1",
    "order_id": "A-1",
    "result": "confirmed",
    "amount": "2300.50",
    "reason": "金额超过两千元",
    "attempts": 1,
}
# The receiver is on 127.0.0.1: allowed here, as in the devstack; refused by default.
SETTINGS = WebhookSettings(timeout_s=0.3, connect_timeout_s=0.3, allow_private=True)


# --- the receiver -----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int = 200
    delay: float = 0.0
    headers: tuple[tuple[bytes, bytes], ...] = ()


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A shop's webhook endpoint: answers from ``script`` (then 200), keeps what it got."""

    script: list[Answer] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append(Seen(scope["path"], headers, body))
        answer = self.script.pop(0) if self.script else Answer()
        if answer.delay:
            await asyncio.sleep(answer.delay)
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = Receiver()
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="error", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    app.url = f"http://127.0.0.1:{port}/hooks/cti?key=path-token-42"
    yield app
    server.should_exit = True
    await task


# --- the service around it ---------------------------------------------------------------


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    clock: FixedClock
    runner: JobRunner
    confirmation_id: int = 0
    failures: list[str] = field(default_factory=list)
    """What the sender counted as failed (``cti_webhook_failures_total`` reasons)."""

    async def shop(self, shop_id: str = "shop-a", **fields: Any) -> None:
        async with self.sessions() as s, s.begin():
            row = await s.get(Shop, shop_id)
            if row is None:
                row = Shop(id=shop_id, secret=SECRET, created_at=T0, updated_at=T0)
                s.add(row)
            for name, value in fields.items():
                setattr(row, name, value)

    async def event(self, shop_id: str = "shop-a", data: dict[str, Any] | None = None) -> str:
        async with self.sessions() as s, s.begin():
            delivery = await enqueue_event(
                s,
                shop_id=shop_id,
                event_type="confirmation.finished",
                confirmation_id=self.confirmation_id,
                data=RESULT if data is None else data,
                now=self.clock.now(),
            )
            return delivery.event_id

    async def delivery(self, event_id: str) -> WebhookDelivery:
        async with self.sessions() as s:
            found = await get_delivery(s, event_id=event_id)
        assert found is not None
        return found

    async def job(self, event_id: str) -> Job:
        async with self.sessions() as s:
            return (
                await s.execute(select(Job).where(Job.key == webhook_key(event_id)))
            ).scalar_one()


async def add_confirmation(
    sessions: async_sessionmaker[AsyncSession], public_id: str, shop: str
) -> int:
    async with sessions() as s, s.begin():
        row = Confirmation(
            public_id=public_id,
            shop=shop,
            order_id="A-1",
            phone="+8613800000001",
            facts={"amount": "2300.50", "item_count": 3, "reason": "金额超过两千元"},
            status=ConfirmationStatus.CONFIRMED.value,
            attempts=1,
            max_attempts=3,
            idempotency_key=f"key-{public_id}",
            request_hash="0" * 64,
            first_response={},
            created_at=T0,
            updated_at=T0,
        )
        s.add(row)
        await s.flush()
        return row.id


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession], receiver: Receiver) -> World:
    clock = FixedClock(T0)
    # The runner's own backoff (10 s) is not the webhooks' (30 s): registration gives it theirs.
    runner = JobRunner(sessions, clock=clock, lease_seconds=30)
    failures: list[str] = []
    sender = WebhookSender(sessions, clock, SETTINGS, on_failure=failures.append)
    webhooks_subscribers.register(runner, sender, SETTINGS)
    w = World(sessions, clock, runner, failures=failures)
    await w.shop(webhook_url=receiver.url)
    w.confirmation_id = await add_confirmation(sessions, "cf_1", "shop-a")
    return w


async def new_event(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    max_attempts: int,
    confirmation_id: int | None = None,
) -> str:
    """A result event for shop-a with few attempts; its event id."""
    async with sessions() as s, s.begin():
        delivery = await enqueue_event(
            s,
            shop_id="shop-a",
            event_type="confirmation.finished",
            confirmation_id=confirmation_id,
            data=RESULT,
            now=now,
            max_attempts=max_attempts,
        )
        return delivery.event_id


def attempts_of(delivery: WebhookDelivery) -> list[tuple[int, int | None, str | None]]:
    return [(a.n, a.status_code, a.error) for a in delivery.attempt_rows]


# --- the tests ---------------------------------------------------------------------------


async def test_a_2xx_is_delivered_once_signed_with_the_shops_secret(
    world: World, receiver: Receiver
) -> None:
    event_id = await world.event()
    assert await world.runner.run_once() == 1

    [got] = receiver.seen
    assert got.path == "/hooks/cti"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("CTI-Webhooks/")
    assert got.headers["x-cti-event-id"] == event_id
    # The receiver's check, with the shop's secret, at the receiver's clock.
    assert verify(got.headers["x-cti-signature"], got.body, [SECRET], now=world.clock.time())
    assert not verify(
        got.headers["x-cti-signature"], got.body, [OLD_SECRET], now=world.clock.time()
    )
    body = json.loads(got.body)
    assert body == {
        "event_id": event_id,
        "type": "confirmation.finished",
        "created_at": "2026-11-23T09:00:00Z",
        "data": RESULT,
    }

    delivery = await world.delivery(event_id)
    assert delivery.status == DeliveryStatus.DELIVERED.value
    assert delivery.delivered_at == T0 and delivery.attempts == 1
    assert attempts_of(delivery) == [(1, 200, None)]
    assert (await world.job(event_id)).status == JobStatus.DONE.value

    # Nothing is sent again, however long the service runs.
    world.clock.advance(86400)
    assert await world.runner.run_once() == 0
    assert len(receiver.seen) == 1


async def test_the_body_is_canonical_json_in_utf8_the_same_bytes_on_every_attempt(
    world: World, receiver: Receiver
) -> None:
    receiver.script = [Answer(500)]
    data = {"zeta": 1, "alpha": {"b": "两千三百元五角", "a": [1, 2]}}
    event_id = await world.event(data=data)
    assert await world.runner.run_once() == 1
    world.clock.advance(30)
    assert await world.runner.run_once() == 1
    first, second = receiver.seen
    assert first.body == second.body
    expected = {"created_at": "2026-11-23T09:00:00Z", "data": data, "event_id": event_id}
    expected["type"] = "confirmation.finished"
    canonical = json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.body == canonical.encode("utf-8")
    assert "两千三百元五角".encode() in first.body  # UTF-8, not \\u escapes
    # Each attempt is signed afresh (its own t), each verifies.
    for got in (first, second):
        assert verify(got.headers["x-cti-signature"], got.body, [SECRET], now=world.clock.time())


async def test_a_500_is_retried_after_the_webhook_backoff_and_then_delivered(
    world: World, receiver: Receiver
) -> None:
    receiver.script = [Answer(500), Answer(503)]
    event_id = await world.event()

    assert await world.runner.run_once() == 1
    delivery = await world.delivery(event_id)
    assert delivery.status == DeliveryStatus.PENDING.value
    assert (delivery.last_status, delivery.last_error) == (500, "HTTP 500")
    job = await world.job(event_id)
    assert job.status == JobStatus.QUEUED.value
    assert job.run_after == T0 + timedelta(seconds=30)  # the webhooks' base, not the runner's 10 s
    assert job.last_error == "DeliveryFailed: HTTP 500"

    world.clock.advance(29)
    assert await world.runner.run_once() == 0  # not due yet
    world.clock.advance(1)
    assert await world.runner.run_once() == 1  # 503
    assert (await world.job(event_id)).run_after == world.clock.now() + timedelta(seconds=60)
    world.clock.advance(60)
    assert await world.runner.run_once() == 1  # 200

    delivery = await world.delivery(event_id)
    assert delivery.status == DeliveryStatus.DELIVERED.value
    assert delivery.attempts == 3 and delivery.delivered_at == world.clock.now()
    assert attempts_of(delivery) == [(1, 500, "HTTP 500"), (2, 503, "HTTP 503"), (3, 200, None)]
    assert [a.at for a in delivery.attempt_rows] == [
        T0,
        T0 + timedelta(seconds=30),
        T0 + timedelta(seconds=90),
    ]
    assert len(receiver.seen) == 3
    assert {s.headers["x-cti-event-id"] for s in receiver.seen} == {event_id}
    assert (await world.job(event_id)).status == JobStatus.DONE.value
    assert world.failures == ["status", "status"]  # the two non-2xx answers, for /metrics


async def test_a_timeout_is_an_attempt_and_is_retried(world: World, receiver: Receiver) -> None:
    receiver.script = [Answer(200, delay=1.0)]  # answers after our 0.3 s
    event_id = await world.event()
    assert await world.runner.run_once() == 1
    delivery = await world.delivery(event_id)
    assert delivery.status == DeliveryStatus.PENDING.value
    assert attempts_of(delivery) == [(1, None, "timeout after 0.3 s")]
    assert delivery.last_status is None
    world.clock.advance(30)
    assert await world.runner.run_once() == 1
    delivery = await world.delivery(event_id)
    assert delivery.status == DeliveryStatus.DELIVERED.value
    assert attempts_of(delivery) == [(1, None, "timeout after 0.3 s"), (2, 200, None)]


async def test_a_refused_connection_is_an_attempt_and_is_retried(world: World) -> None:
    await world.shop(webhook_url=f"http://127.0.0.1:{free_port()}/nobody-listens")
    event_id = await world.event()
    assert await world.runner.run_once() == 1
    delivery = await world.delivery(event_id)
    [(n, status, error)] = attempts_of(delivery)
    assert (n, status) == (1, None)
    assert error is not None and error.startswith("no answer: ConnectError")
    assert (await world.job(event_id)).status == JobStatus.QUEUED.value


async def test_a_redirect_is_not_followed(world: World, receiver: Receiver) -> None:
    elsewhere = receiver.url.replace("/hooks/cti", "/elsewhere")
    receiver.script = [Answer(302, headers=((b"location", elsewhere.encode()),))]
    event_id = await world.event()
    assert await world.runner.run_once() == 1
    assert [s.path for s in receiver.seen] == ["/hooks/cti"]
    delivery = await world.delivery(event_id)
    assert attempts_of(delivery) == [(1, 302, "HTTP 302 (redirects are not followed)")]
    assert delivery.status == DeliveryStatus.PENDING.value


async def test_the_last_failed_attempt_marks_the_delivery_failed(
    world: World, receiver: Receiver, sessions: async_sessionmaker[AsyncSession]
) -> None:
    receiver.script = [Answer(500)] * 3
    event_id = await new_event(sessions, now=T0, max_attempts=3)
    for wait in (0, 30, 60):
        world.clock.advance(wait)
        assert await world.runner.run_once() == 1
        if wait < 60:
            assert (await world.delivery(event_id)).status == DeliveryStatus.PENDING.value
    delivery = await world.delivery(event_id)
    assert delivery.status == DeliveryStatus.FAILED.value
    assert delivery.attempts == 3 and delivery.delivered_at is None
    assert (await world.job(event_id)).status == JobStatus.DEAD.value
    world.clock.advance(86400)
    assert await world.runner.run_once() == 0
    assert len(receiver.seen) == 3


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (None, "the shop has no webhook URL"),
        ("", "the shop has no webhook URL"),
        ("ftp://shop.example/hooks", "the shop's webhook URL must be http or https"),
        ("file:///etc/passwd", "the shop's webhook URL must be http or https"),
        ("http://", "the shop's webhook URL has no host"),
    ],
)
async def test_a_shop_without_a_usable_url_fails_at_once_without_retrying(
    world: World, receiver: Receiver, url: str | None, reason: str
) -> None:
    await world.shop(webhook_url=url)
    event_id = await world.event()
    assert await world.runner.run_once() == 1
    delivery = await world.delivery(event_id)
    assert delivery.status == DeliveryStatus.FAILED.value
    assert delivery.last_error == reason
    assert attempts_of(delivery) == [(1, None, reason)]
    job = await world.job(event_id)
    assert job.status == JobStatus.DEAD.value and job.attempts == 1
    world.clock.advance(86400)
    assert await world.runner.run_once() == 0  # no retry spin
    assert receiver.seen == []


def guarded_runner(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    *,
    resolve: Any = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> JobRunner:
    """A runner whose sender refuses private addresses (the default setting)."""
    settings = WebhookSettings(timeout_s=0.3, connect_timeout_s=0.3)
    runner = JobRunner(sessions, clock=world.clock, lease_seconds=30)
    extra: dict[str, Any] = {} if resolve is None else {"resolve": resolve}
    sender = WebhookSender(sessions, world.clock, settings, transport=transport, **extra)
    webhooks_subscribers.register(runner, sender, settings)
    return runner


async def test_a_webhook_to_a_private_address_is_a_failed_attempt_and_retried(
    world: World, receiver: Receiver, sessions: async_sessionmaker[AsyncSession]
) -> None:
    runner = guarded_runner(world, sessions)
    event_id = await world.event()
    assert await runner.run_once() == 1
    delivery = await world.delivery(event_id)
    assert attempts_of(delivery) == [
        (
            1,
            None,
            "refused: the webhook host is a loopback address (127.0.0.1), not a public "
            "server (CTI_WEBHOOKS_ALLOW_PRIVATE=true allows it)",
        )
    ]
    assert delivery.status == DeliveryStatus.PENDING.value
    assert (await world.job(event_id)).status == JobStatus.QUEUED.value  # retried as usual
    assert receiver.seen == []


async def test_a_host_name_resolving_into_our_network_is_refused_before_each_post(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    answers = {"hooks.shop-a.example": ["203.0.114.7", "10.0.0.8"]}
    posted: list[httpx.Request] = []

    async def resolve(host: str, port: int) -> list[str]:
        assert port == 443
        return answers[host]

    def answer(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return httpx.Response(200)

    runner = guarded_runner(world, sessions, resolve=resolve, transport=httpx.MockTransport(answer))
    await world.shop(webhook_url="https://hooks.shop-a.example/cti")
    event_id = await world.event()
    assert await runner.run_once() == 1
    [(n, status, error)] = attempts_of(await world.delivery(event_id))
    assert (n, status) == (1, None) and error is not None
    assert error.startswith("refused: the webhook host is a private address (10.0.0.8)")
    assert posted == []
    # The shop fixes its DNS: the retry goes out.
    answers["hooks.shop-a.example"] = ["203.0.114.7"]
    world.clock.advance(30)
    assert await runner.run_once() == 1
    delivery = await world.delivery(event_id)
    assert delivery.status == DeliveryStatus.DELIVERED.value and len(posted) == 1


async def test_a_host_name_that_does_not_resolve_is_a_failed_attempt(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    runner = guarded_runner(world, sessions, resolve=resolve)
    await world.shop(webhook_url="http://nowhere.shop-a.example/cti")
    event_id = await world.event()
    assert await runner.run_once() == 1
    [(_, _, error)] = attempts_of(await world.delivery(event_id))
    assert error == "no answer: the webhook host does not resolve (Name or service not known)"
    assert (await world.job(event_id)).status == JobStatus.QUEUED.value


async def test_an_unknown_shop_fails_at_once(world: World, receiver: Receiver) -> None:
    event_id = await world.event(shop_id="no-such-shop")
    assert await world.runner.run_once() == 1
    delivery = await world.delivery(event_id)
    assert delivery.status == DeliveryStatus.FAILED.value
    assert delivery.last_error == "no shop 'no-such-shop'"
    assert receiver.seen == []


async def test_during_a_rotation_both_secrets_verify_and_after_it_only_the_new_one(
    world: World, receiver: Receiver
) -> None:
    await world.shop(previous_secret=OLD_SECRET, previous_until=T0 + timedelta(hours=1))
    during = await world.event()
    assert await world.runner.run_once() == 1
    got = receiver.seen[-1]
    signature = got.headers["x-cti-signature"]
    assert signature.count("v1=") == 2
    now = world.clock.time()
    assert verify(signature, got.body, [SECRET], now=now)  # a receiver that switched
    assert verify(signature, got.body, [OLD_SECRET], now=now)  # one that has not yet
    assert (await world.delivery(during)).status == DeliveryStatus.DELIVERED.value

    world.clock.advance(3600)  # the old secret's grace is over
    await world.event()
    assert await world.runner.run_once() == 1
    got = receiver.seen[-1]
    signature = got.headers["x-cti-signature"]
    assert signature.count("v1=") == 1
    assert verify(signature, got.body, [SECRET], now=world.clock.time())
    assert not verify(signature, got.body, [OLD_SECRET], now=world.clock.time())


async def test_a_replayed_request_fails_the_receivers_check(
    world: World, receiver: Receiver
) -> None:
    await world.event()
    assert await world.runner.run_once() == 1
    [got] = receiver.seen
    signature = got.headers["x-cti-signature"]
    # Captured and sent again ten minutes later: the receiver refuses it.
    assert not verify(signature, got.body, [SECRET], now=world.clock.time() + 600)


async def test_neither_secret_nor_signature_nor_url_reaches_the_log_or_the_table(
    world: World, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    await world.shop(previous_secret=OLD_SECRET, previous_until=T0 + timedelta(hours=1))
    # As `cti serve` logs: everything of ours, libraries at INFO unless quietened.
    for name, level in QUIET_LOGGERS.items():
        caplog.set_level(level, logger=name)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="cti")
    receiver.script = [Answer(500), Answer(200, delay=1.0)]
    event_id = await world.event()
    for wait in (0, 30, 60):
        world.clock.advance(wait)
        assert await world.runner.run_once() == 1
    signatures = [s.headers["x-cti-signature"] for s in receiver.seen]
    assert len(signatures) == 3
    delivery = await world.delivery(event_id)
    job = await world.job(event_id)
    stored = " ".join(
        [str(delivery.last_error), str(job.last_error), json.dumps(job.payload)]
        + [str(a.error) for a in delivery.attempt_rows]
    )
    for text in (caplog.text, stored):
        for secret in (SECRET, OLD_SECRET, "path-token-42", *signatures):
            assert secret not in text
        for signature in signatures:
            for part in signature.split(","):
                if part.startswith("v1="):
                    assert part[3:] not in text
    assert event_id in caplog.text  # the log still says which event


async def test_enqueue_refuses_what_cannot_be_sent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:
        for bad in ({"amount": float("nan")}, {"when": T0}, {"x": object()}):
            with pytest.raises(ValueError, match=r"not JSON|Out of range"):
                await enqueue_event(
                    s, shop_id="shop-a", event_type="confirmation.finished",
                    confirmation_id=None, data=bad, now=T0,
                )  # fmt: skip
        for event_type in ("", "Confirmation", "x" * 65, "a b"):
            with pytest.raises(ValueError, match="event type"):
                await enqueue_event(
                    s, shop_id="shop-a", event_type=event_type,
                    confirmation_id=None, data={}, now=T0,
                )  # fmt: skip
        assert (await s.execute(select(Job))).first() is None


async def test_the_event_and_its_job_commit_together(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:  # the caller's transaction, rolled back
        delivery = await enqueue_event(
            s, shop_id="shop-a", event_type="confirmation.finished",
            confirmation_id=None, data=RESULT, now=T0,
        )  # fmt: skip
        event_id = delivery.event_id
        job = (await s.execute(select(Job).where(Job.key == webhook_key(event_id)))).scalar_one()
        assert job.kind == "webhooks.deliver" and job.payload == {"event_id": event_id}
        assert job.max_attempts == 30
        await s.rollback()
    async with sessions() as s:
        assert (await s.execute(select(WebhookDelivery))).first() is None
        assert (await s.execute(select(Job))).first() is None


# --- the route ---------------------------------------------------------------------------


async def test_a_shop_lists_its_confirmations_deliveries_and_nobody_elses(
    container: Container, client: httpx.AsyncClient
) -> None:
    now = container.clock.now()
    mine = await add_confirmation(container.session_maker, "cf_a", "shop-a")
    theirs = await add_confirmation(container.session_maker, "cf_b", "shop-b")
    async with container.sessions() as s, s.begin():
        for cid, shop in ((mine, "shop-a"), (mine, "shop-a"), (theirs, "shop-b")):
            await enqueue_event(
                s, shop_id=shop, event_type="confirmation.finished",
                confirmation_id=cid, data=RESULT, now=now,
            )  # fmt: skip
        tokens = {}
        for name, shop in (("a", "shop-a"), ("b", "shop-b"), ("all", None)):
            issued = await create_token(s, name, ["calls:originate"], None, now=now, shop=shop)
            tokens[name] = {"Authorization": f"Bearer {issued.token}"}

    r = await client.get("/api/v1/confirmations/cf_a/deliveries", headers=tokens["a"])
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 2
    assert all(i["status"] == "pending" and i["attempt_log"] == [] for i in items)
    assert items[0]["payload"]["data"] == RESULT
    assert items[0]["payload"]["event_id"] == items[0]["event_id"]

    # Another shop's confirmation is not found, word for word like a missing one.
    r = await client.get("/api/v1/confirmations/cf_b/deliveries", headers=tokens["a"])
    missing = await client.get("/api/v1/confirmations/cf_zz/deliveries", headers=tokens["a"])
    assert r.status_code == missing.status_code == 404
    assert r.json()["message"].replace("cf_b", "X") == missing.json()["message"].replace(
        "cf_zz", "X"
    )
    r = await client.get("/api/v1/confirmations/cf_b/deliveries", headers=tokens["b"])
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    r = await client.get("/api/v1/confirmations/cf_b/deliveries", headers=tokens["all"])
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    r = await client.get("/api/v1/confirmations/cf%20b/deliveries", headers=tokens["all"])
    assert r.status_code == 422


async def test_a_delivery_whose_worker_died_on_its_last_attempt_is_not_left_pending(
    world: World, receiver: Receiver, sessions: async_sessionmaker[AsyncSession]
) -> None:
    event_id = await new_event(
        sessions, now=T0, max_attempts=1, confirmation_id=world.confirmation_id
    )
    # A worker takes the last attempt and dies before it logs anything.
    async with sessions() as s, s.begin():
        [taken] = await lease(
            s, owner="dead-worker", now=T0, lease_for=timedelta(seconds=30), kinds={WEBHOOK_JOB}
        )
    world.clock.advance(31)
    assert await world.runner.run_once() == 0  # the lease ran out: buried, not run again
    assert (await world.job(event_id)).status == JobStatus.DEAD.value
    assert (await world.delivery(event_id)).status == DeliveryStatus.PENDING.value
    # The sweep gives it up as a last attempt would, and says how to send it again.
    async with sessions() as s, s.begin():
        assert await settle_stranded(s, now=world.clock.now()) == 1
    async with sessions() as s, s.begin():
        assert await settle_stranded(s, now=world.clock.now()) == 0
    delivery = await world.delivery(event_id)
    assert delivery.status == DeliveryStatus.FAILED.value
    error = (
        "the service stopped during the last attempt; whether the shop got it is unknown "
        f"(cti jobs retry {taken.id} sends it again)"
    )
    assert attempts_of(delivery) == [(1, None, error)] and delivery.last_error == error
    assert receiver.seen == []
    # And so it does.
    async with sessions() as s, s.begin():
        assert await requeue(s, job_id=taken.id, now=world.clock.now()) is not None
    assert await world.runner.run_once() == 1
    delivery = await world.delivery(event_id)
    assert delivery.status == DeliveryStatus.DELIVERED.value
    assert attempts_of(delivery) == [(1, None, error), (2, 200, None)]
    assert len(receiver.seen) == 1


async def test_the_service_sweeps_stranded_deliveries(container: Container) -> None:
    from cti.app import settle_stranded_webhooks

    now = container.clock.now()
    async with container.sessions() as s, s.begin():
        s.add(Shop(id="shop-a", secret=SECRET, created_at=now, updated_at=now))
    event_id = await new_event(container.session_maker, now=now, max_attempts=1)
    async with container.sessions() as s, s.begin():
        await lease(
            s, owner="dead-worker", now=now, lease_for=timedelta(seconds=1), kinds={WEBHOOK_JOB}
        )
    # The next lease after it ran out buries the job (no worker runs it again).
    async with container.sessions() as s, s.begin():
        later = now + timedelta(seconds=2)
        await lease(s, owner="other", now=later, lease_for=timedelta(1), kinds={WEBHOOK_JOB})
    await settle_stranded_webhooks(container)
    async with container.sessions() as s:
        found = await get_delivery(s, event_id=event_id)
    assert found is not None and found.status == DeliveryStatus.FAILED.value
    assert found.last_error is not None and "the service stopped" in found.last_error
