"""Screen-pop latency: ``AgentCalled`` bytes on the AMI socket to the ``ringing`` frame.

Everything runs over real loopback sockets in one process: a fake AMI server
writes recorded Asterisk 22 traffic (tests/fixtures/traces/*.ami, ids rewritten
per copy) to the service's own AMI protocol (cti.ami.protocol.AmiProtocol ->
EventPipeline.on_ami_event -> tracker -> screen-pop hub -> database lookup), and a
WebSocket client logged in as agent 1001 on ``/ws/agent`` (uvicorn) waits for
the pop. Meanwhile the same socket carries the event load of ``--load-calls``
concurrent calls (the traces' own events per call and call length; their
agents are renamed 2001.. so their pops and lookups run but go to nobody).

Baseline, measured in the same run on the same connection and load: a bare
WebSocket round trip (``ping`` -> ``pong``). Prints p50/p99 of both and the
ratio pop/baseline; writes benchmarks/results/screenpop.json.

    python benchmarks/screenpop.py                       # SQLite, 100k orders (imported)
    python benchmarks/screenpop.py --postgres ADMIN_URL  # PostgreSQL, 1M orders / 300k customers
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import uvicorn  # noqa: E402
from replay import copy_of, load_block  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from cti.ami.codec import AmiDecoder  # noqa: E402
from cti.ami.protocol import AmiProtocol  # noqa: E402
from cti.api import create_http_app  # noqa: E402
from cti.app import running  # noqa: E402
from cti.auth.tokens import create_token  # noqa: E402
from cti.container import Container  # noqa: E402
from cti.orders.imports import OrderImport  # noqa: E402
from cti.orders.service import OrderPhones, parse_line, upsert_orders  # noqa: E402
from cti.settings import Settings  # noqa: E402
from cti.tracking.events import DomainEventType  # noqa: E402
from cti.tracking.tracker import CallTracker  # noqa: E402

TRACES = REPO / "tests" / "fixtures" / "traces"
RESULTS = REPO / "benchmarks" / "results" / "screenpop.json"
PROBE_TRACE = TRACES / "answered.ami"
BANNER = b"Asterisk Call Manager/9.0.0\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(pct(samples, 0.50) * 1000, 3),
        "p99_ms": round(pct(samples, 0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(samples) * 1000, 3),
        "max_ms": round(max(samples) * 1000, 3),
    }


def background_block() -> tuple[bytes, list[tuple[bytes, bytes]], float]:
    """Recorded traffic with agents renamed, and its events per call-second."""
    block, pairs, _calls = load_block()
    for ext in ("1001", "1002", "1003"):
        new = str(int(ext) + 1000).encode()
        block = block.replace(b"PJSIP/" + ext.encode(), b"PJSIP/" + new)
        block = block.replace(b"MemberName: " + ext.encode(), b"MemberName: " + new)
    events = len(AmiDecoder().feed(block))
    tracker = CallTracker()
    seconds = 0.0
    for msg in AmiDecoder().feed(block):
        for ev in tracker.feed(msg):
            if ev.type is DomainEventType.ENDED:
                s = ev.data["summary"]
                seconds += max(1.0, s.ended_at - s.started_at)
    return block, pairs, events / max(seconds, 1.0)


def probe_parts(n: int) -> tuple[bytes, bytes, bytes, str]:
    """One recorded answered call with fresh ids: before, the AgentCalled message, after."""
    raw = PROBE_TRACE.read_bytes()
    tag = f"p{n:x}"
    linkedid = "1795430853.8"
    for old in sorted(
        {v for m in AmiDecoder().feed(raw) for k, v in m.headers if k in ("Uniqueid", "Linkedid")},
        key=len,
        reverse=True,
    ):
        raw = raw.replace(f": {old}\r\n".encode(), f": {old}#{tag}\r\n".encode())
    start = raw.index(b"Event: AgentCalled\r\n")
    end = raw.index(b"\r\n\r\n", start) + 4
    return raw[:start], raw[start:end], raw[end:], f"{linkedid}#{tag}"


async def seed_sqlite(container: Container, orders: int, customers: int) -> dict[str, float]:
    rng = random.Random(7)
    lines = []
    for i in range(orders):
        c = 1 + int(customers * rng.random() ** 2)
        day = 1 + i % 28
        lines.append(
            json.dumps(
                {
                    "order_id": f"SO{i:010d}",
                    "shop": "tmall",
                    "customer": {"phone": f"+86139{c:08d}", "name": "顾客"},
                    "items": [{"sku": "SKU-1", "name": "保温杯", "qty": 1, "price": "99.00"}],
                    "amount": "99.00",
                    "status": "paid",
                    "created_at": f"2026-10-{day:02d}T10:00:00+08:00",
                    "updated_at": f"2026-10-{day:02d}T10:00:00+08:00",
                },
                ensure_ascii=False,
            ).encode()
        )

    async def numbered() -> Any:
        for i, line in enumerate(lines, 1):
            yield i, line

    job = OrderImport(
        container.session_maker, container.phones, batch_size=2000, clock=container.clock
    )
    t0 = time.perf_counter()
    report = await job.run(numbered())
    elapsed = time.perf_counter() - t0
    assert report.rejected == 0, report.rejected_lines[:3]
    return {"import_s": round(elapsed, 2), "import_orders_per_s": round(orders / elapsed)}


async def seed_target(container: Container) -> None:
    phones = OrderPhones(container.phones)
    batch = []
    for i in range(8):
        line = {
            "order_id": f"E2026112{i:03d}",
            "shop": "tmall",
            "customer": {"phone": "+86 138-0013-8000", "name": "张伟"},
            "items": [{"sku": f"SKU-{i}", "name": "羽绒服", "qty": 1, "price": "399.00"}],
            "amount": "399.00",
            "status": "shipped",
            "created_at": f"2026-11-{10 + i:02d}T10:00:00+08:00",
            "updated_at": f"2026-11-{10 + i:02d}T10:00:00+08:00",
        }
        batch.append(parse_line(json.dumps(line, ensure_ascii=False), phones))
    async with container.sessions() as s, s.begin():
        await upsert_orders(s, batch, now=container.clock.now())


async def measure(container: Container, args: argparse.Namespace) -> dict[str, Any]:
    async with container.sessions() as s, s.begin():
        token = (await create_token(s, "bench", ["agent"], "1001", now=container.clock.now())).token
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_http_app(container.http_services()),
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_level="error",
        )
    )
    http_task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.01)

    peer: asyncio.StreamWriter | None = None
    connected = asyncio.Event()

    async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal peer
        peer = w
        w.write(BANNER)
        connected.set()
        await r.read()  # until the service side closes
        w.close()

    ami_server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    ami_port = ami_server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    ami_link, _ = await loop.create_connection(
        lambda: AmiProtocol(container.pipeline.on_ami_event), "127.0.0.1", ami_port
    )
    await connected.wait()
    assert peer is not None
    writer = peer

    block, pairs, events_per_call_s = background_block()
    block_events = len(AmiDecoder().feed(block))
    rate = args.load_calls * events_per_call_s  # events/s of N concurrent calls
    stop = asyncio.Event()
    sent_events = 0

    async def load() -> None:
        nonlocal sent_events
        n = 0
        slices = 20
        interval = block_events / rate / slices
        next_at = loop.time()
        while not stop.is_set():
            data = copy_of(block, pairs, n)
            step = len(data) // slices + 1
            i = 0
            while i < len(data):
                # Cut on a message boundary so probe bytes never land inside one.
                cut = data.find(b"\r\n\r\n", i + step)
                cut = len(data) if cut < 0 else cut + 4
                writer.write(data[i:cut])
                i = cut
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - loop.time()))
            sent_events += block_events
            n += 1

    async def frame_for(ws: ClientConnection, call_id: str) -> None:
        while True:
            f = json.loads(await ws.recv())
            if f.get("type") == "ringing" and f.get("call_id") == call_id:
                return

    pops: list[float] = []
    echoes: list[float] = []
    async with connect(f"ws://127.0.0.1:{port}/ws/agent") as ws:
        await ws.send(json.dumps({"token": token}))  # the token goes in the first message
        json.loads(await ws.recv())  # hello
        load_task = asyncio.create_task(load()) if args.load_calls else None
        await asyncio.sleep(1.0)
        for n in range(args.warmup + args.probes):
            before, called, after, call_id = probe_parts(n)
            writer.write(before)
            await writer.drain()
            await asyncio.sleep(0.005)
            t0 = time.perf_counter()
            writer.write(called)
            await frame_for(ws, call_id)
            pop = time.perf_counter() - t0
            writer.write(after)
            await asyncio.sleep(0.005)
            t0 = time.perf_counter()
            await ws.send('"ping"')
            while json.loads(await ws.recv()).get("type") != "pong":
                pass
            echo = time.perf_counter() - t0
            if n >= args.warmup:
                pops.append(pop)
                echoes.append(echo)
            await asyncio.sleep(args.gap)
        stop.set()
        if load_task is not None:
            await load_task
    elapsed_live = len(container.tracker.active_calls())
    server.should_exit = True
    await http_task
    ami_link.close()
    ami_server.close()
    await ami_server.wait_closed()
    pop_s, echo_s = summary(pops), summary(echoes)
    return {
        "pop": pop_s,
        "baseline_ws_echo": echo_s,
        "ratio_p50": round(pop_s["p50_ms"] / echo_s["p50_ms"], 2),
        "ratio_p99": round(pop_s["p99_ms"] / echo_s["p99_ms"], 2),
        "load": {
            "concurrent_calls": args.load_calls,
            "events_per_s_target": round(rate),
            "events_sent": sent_events,
            "live_calls_at_end": elapsed_live,
        },
        "lookup_failures": container.screenpop.lookup_failures,
    }


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        admin = args.postgres
        seed_info: dict[str, Any] = {}
        if admin:
            from routing import create_database, drop_database, seed

            url = await create_database(admin)
        else:
            url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        try:
            settings = Settings(
                data_dir=Path(tmp), database_url=url, ami_enabled=False, agi_enabled=False
            )
            if admin:
                from cti.db.migrate import upgrade_async

                await upgrade_async(url)
                seed_info = await seed(url, args.customers, args.orders, random.Random(7))
            async with running(settings, migrate=not admin) as container:
                if not admin:
                    seed_info = await seed_sqlite(container, args.orders, args.customers)
                await seed_target(container)
                result = await measure(container, args)
        finally:
            if admin:
                await drop_database(admin, url)
    result.update(
        {
            "database": "postgresql" if admin else "sqlite",
            "orders": args.orders,
            "customers": args.customers,
            "seed": seed_info,
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
    )
    pop, echo = result["pop"], result["baseline_ws_echo"]
    print(f"database: {result['database']}, {args.orders} orders, {args.customers} customers")
    rate = result["load"]["events_per_s_target"]
    print(f"load: {args.load_calls} concurrent calls (~{rate} events/s)")
    print(f"pop  (AgentCalled -> ringing): p50 {pop['p50_ms']} ms, p99 {pop['p99_ms']} ms")
    print(f"baseline (WS ping -> pong): p50 {echo['p50_ms']} ms, p99 {echo['p99_ms']} ms")
    print(f"ratio pop/baseline: p50 {result['ratio_p50']}x, p99 {result['ratio_p99']}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(REPO)}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--postgres", default="", help="PostgreSQL admin URL (postgresql+asyncpg://...)"
    )
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--customers", type=int, default=30_000)
    ap.add_argument("--probes", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--load-calls", type=int, default=200)
    ap.add_argument("--gap", type=float, default=0.02, help="seconds between probes")
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
