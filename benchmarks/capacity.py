"""Capacity: real calls through Asterisk 22 and ``cti serve`` on PostgreSQL, in steps.

For each step of N concurrent calls, SIPp callers (``caller_load.xml``, one process)
dial the 400 hotline at N / (talk + 1) calls a second, each caller drawn at random
from the 300k customers of a database seeded with 1M orders (20 % unknown numbers).
Asterisk answers, the hotline AGI of ``cti serve`` routes the call (as in production:
caller lookup, tier, queue), the queue ``load`` rings one of the 250 load agents
(PJSIP/2000..2249, one SIPp UAS, ``agent_load.xml``: rings 0.5 s, talks ``--talk``
seconds, hangs up), MixMonitor records the agent's leg, and the service writes the
call record, pops the caller on the agent's WebSocket (250 desktops connected by this
script) and catalogs the recording.

Per step: calls placed (SIPp), call records written (answered), screen-pops
delivered (``ringing`` frames received for those calls), recordings cataloged,
AGI p99 (``cti_agi_seconds{script="hotline"}``) and pop p99 (``cti_screenpop_seconds``)
from the service's own histograms over the step, and the CPU of Asterisk, the
service, PostgreSQL, SIPp and this script (per cent of one core over the step).
Baseline of the same run: the smallest step.

    python benchmarks/capacity.py --steps 25,50,100,200 --keep-going \\
        --lock /work/devstack.lock

The devstack lock is taken for the seeding and for each step on its own (never held
between steps; every step sets up its agents, SIPp and ``cti serve`` again). Each step
starts on a freshly restarted Asterisk (``devstack restart-asterisk``, with the config
of this checkout), not a reloaded one: in Asterisk 22.10 every ``dialplan reload``
leaves one more subscriber on the ``channel:all`` topic for good, and each call costs
more with every one of them. ``--dialplan-reloads N`` measures that: the step runs
after N reloads, beside the same step without.
``--database URL --keep`` reuse a seeded database across invocations (one step per
invocation); the JSON keeps the latest result of every step and RESULTS.md is
rewritten from it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "docker" / "devstack"))

import asyncpg  # noqa: E402
import cti_stack as stack  # noqa: E402
import httpx  # noqa: E402
import promstats  # noqa: E402
import provenance  # noqa: E402
from routing import (  # noqa: E402
    GIVEN,
    SURNAMES,
    create_database,
    drop_database,
    pg_dsn,
    seed,
)
from websockets.asyncio.client import connect  # noqa: E402

from cti.ami import actions  # noqa: E402
from cti.ami.client import AmiClient  # noqa: E402
from cti.auth.tokens import create_token  # noqa: E402
from cti.db.engine import create_engine, session_factory  # noqa: E402
from cti.db.migrate import upgrade_async  # noqa: E402
from cti.settings import Settings  # noqa: E402

NAME = "capacity"
QUEUE = "load"
HOTLINE = "4008001234"
AGENTS = [str(ext) for ext in range(2000, 2250)]
AGENTS_IP = "127.0.0.30"
ECHO_DESK = "1999"
"""A desktop of an agent not in the queue: the WebSocket round-trip baseline."""
CALLERS_IP = "127.0.0.9"
DEFAULT_ADMIN = "postgresql+asyncpg://cti:cti@127.0.0.1:55432/cti"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the lock, processes and their CPU --------------------------------------------------


@contextlib.contextmanager
def devstack_lock(path: str | None) -> Iterator[None]:
    if not path:
        yield
        return
    with open(path, "a") as fh:
        print(f"  waiting for {path} ...", flush=True)
        fcntl.flock(fh, fcntl.LOCK_EX)
        print(f"  holding {path}", flush=True)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            print(f"  released {path}", flush=True)


TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, waited_children: bool = False) -> float:
    """User + system CPU of a process (and of its children it has waited for)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if waited_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def postgres_cpu(postmaster: int) -> float:
    """The cluster's CPU: the postmaster, its live backends, and those gone."""
    return cpu_seconds(postmaster, waited_children=True) + sum(
        cpu_seconds(child) for child in children(postmaster)
    )


def postmaster_pid() -> int:
    run = Path(stack.devstack_env()["CTI_DEVSTACK_RUN"])
    return int((run / "pg" / "postmaster.pid").read_text().split()[0])


@dataclass
class CpuMeter:
    pids: dict[str, int]
    postmaster: int
    started: float = 0.0
    before: dict[str, float] = field(default_factory=dict)
    latest: dict[str, float] = field(default_factory=dict)
    """The last reading of each, kept for a process that has exited since (SIPp)."""

    def read(self) -> dict[str, float]:
        values = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        values["postgres"] = postgres_cpu(self.postmaster)
        values["benchmark"] = cpu_seconds(os.getpid())
        for name, value in values.items():
            self.latest[name] = max(value, self.latest.get(name, 0.0))
        return values

    def start(self) -> None:
        self.started = time.monotonic()
        self.before = self.read()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.started
        self.read()
        return {k: round(100 * (self.latest[k] - self.before[k]) / wall, 1) for k in self.before}


# --- the database: customers, orders, the agents' tokens --------------------------------


async def prepare_database(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    if args.database:
        return args.database, {"reused": True}
    url = await create_database(args.postgres, prefix="cti_bench_capacity")
    await upgrade_async(url)
    timings = await seed(url, args.customers, args.orders, random.Random(7))
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        # Every call goes through the queue (AgentCalled): the seed's "last agents" are
        # the devstack's 1001..1050, who are not in this load's queue.
        await conn.execute("UPDATE customers SET last_agent = NULL, last_call_at = NULL")
    finally:
        await conn.close()
    return url, {k: round(v, 1) for k, v in timings.items()}


async def agent_tokens(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        tokens = {}
        async with sessions() as s, s.begin():
            for ext in [*AGENTS, ECHO_DESK]:
                issued = await create_token(
                    s, f"capacity-{ext}-{random.getrandbits(32):x}", ["agent"], ext,
                    now=datetime.now(UTC),
                )  # fmt: skip
                tokens[ext] = issued.token
        return tokens
    finally:
        await engine.dispose()


def callers_file(folder: Path, customers: int, calls: int, rng: random.Random) -> Path:
    """SIPp's injection file: a customer's national number drawn at random, 20 % unknown."""
    path = folder / "callers.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("SEQUENTIAL\n")
        for _ in range(calls):
            if rng.random() < 0.2:
                number = f"158{rng.randrange(10**8):08d}"
            else:
                number = f"139{rng.randrange(1, customers + 1):08d}"
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
            fh.write(f"{number};{name};\n")
    return path


async def step_counts(url: str, since: datetime) -> dict[str, Any]:
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT linkedid, outcome, queue FROM calls WHERE started_at >= $1", since
        )
        recorded = await conn.fetchval(
            "SELECT count(DISTINCT r.linkedid) FROM recordings r JOIN calls c "
            "ON c.linkedid = r.linkedid WHERE c.started_at >= $1",
            since,
        )
    finally:
        await conn.close()
    answered = {r["linkedid"] for r in rows if r["outcome"] == "answered"}
    # A call the hotline AGI did not route within its deadline (CTI_AGI_DEADLINE) goes
    # to the dialplan's default queue, where no load agent is.
    unrouted = sum(1 for r in rows if r["queue"] != QUEUE)
    return {
        "records": len(rows),
        "answered": answered,
        "recorded": int(recorded),
        "unrouted": unrouted,
    }


# --- agents' desktops ---------------------------------------------------------------------


@dataclass
class Desks:
    port: int
    tokens: dict[str, str]
    pops: dict[str, float] = field(default_factory=dict)  # call id -> when received
    frames: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    ready: int = 0
    echoes: list[float] = field(default_factory=list)
    echoing: bool = False

    async def _echo_desk(self, token: str) -> None:
        """Baseline: ``ping`` -> ``pong`` through the same server, every 50 ms while
        :attr:`echoing`."""
        async with connect(f"ws://127.0.0.1:{self.port}/ws/agent", max_queue=None) as ws:
            await ws.send(json.dumps({"token": token}))
            json.loads(await ws.recv())  # hello
            self.ready += 1
            while True:
                await asyncio.sleep(0.05)
                if not self.echoing:
                    continue
                started = time.perf_counter()
                await ws.send('"ping"')
                while json.loads(await ws.recv()).get("type") != "pong":
                    pass
                self.echoes.append(time.perf_counter() - started)

    async def _desk(self, token: str) -> None:
        async with connect(f"ws://127.0.0.1:{self.port}/ws/agent", max_queue=None) as ws:
            await ws.send(json.dumps({"token": token}))
            json.loads(await ws.recv())  # hello
            self.ready += 1
            async for message in ws:
                self.frames += 1
                frame = json.loads(message)
                if frame.get("type") == "ringing":
                    self.pops.setdefault(frame["call_id"], time.monotonic())

    async def open(self) -> None:
        self.tasks = [
            asyncio.create_task(self._echo_desk(t) if ext == ECHO_DESK else self._desk(t))
            for ext, t in self.tokens.items()
        ]
        async with asyncio.timeout(60):
            while self.ready < len(self.tasks):
                failed = [t for t in self.tasks if t.done()]
                if failed:
                    failed[0].result()
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task


# --- one step ------------------------------------------------------------------------------


def serve_env(url: str, data: Path, http_port: int, pool: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    dev = stack.devstack_env()
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "CTI_DATA_DIR": str(data),
            "CTI_DATABASE_URL": url,
            "CTI_DB_POOL_SIZE": str(pool),
            "CTI_AMI_HOST": dev["CTI_AMI_HOST"],
            "CTI_AMI_PORT": dev["CTI_AMI_PORT"],
            "CTI_AMI_USERNAME": dev["CTI_AMI_USERNAME"],
            "CTI_AMI_SECRET": dev["CTI_AMI_SECRET"],
            "CTI_AGI_HOST": "127.0.0.1",
            "CTI_AGI_PORT": "4573",
            "CTI_HTTP_PORT": str(http_port),
            "CTI_RECORDINGS_ROOT": dev["CTI_RECORDINGS_ROOT"],
            "CTI_RECORDINGS_LOCAL_ROOT": dev["CTI_RECORDINGS_LOCAL_ROOT"],
            "CTI_LOG_LEVEL": "WARNING",
            # Every caller of the hotline to the load agents' queue, no survey after.
            "CTI_ACD_HOTLINES": json.dumps({"hotline": {"queue": QUEUE, "csat": False}}),
        }
    )
    return env


@contextlib.asynccontextmanager
async def ami_session() -> AsyncIterator[AmiClient]:
    dev = stack.devstack_env()
    client = AmiClient(
        Settings(
            ami_host=dev["CTI_AMI_HOST"],
            ami_port=int(dev["CTI_AMI_PORT"]),
            ami_username=dev["CTI_AMI_USERNAME"],
            ami_secret=dev["CTI_AMI_SECRET"],
            ami_ping_interval=60,
        ),
        on_event=lambda _msg: None,
    )
    await client.start()
    try:
        async with asyncio.timeout(30):
            while not client.logged_in:  # noqa: ASYNC110 - the client offers no event
                await asyncio.sleep(0.05)
        yield client
    finally:
        await client.stop()


async def set_members(add: bool) -> None:
    async with ami_session() as ami:
        for ext in AGENTS:
            iface = f"PJSIP/{ext}"
            with contextlib.suppress(Exception):  # already there / already gone
                if add:
                    await actions.queue_add(
                        ami, QUEUE, iface, member_name=ext, state_interface=iface
                    )
                else:
                    await actions.queue_remove(ami, QUEUE, iface)


def agent_scenario(folder: Path, talk_s: float) -> Path:
    text = (stack.SIPP_DIR / "agent_load.xml").read_text(encoding="utf-8")
    marker = '<recv request="BYE" timeout="9000" ontimeout="hangup"/>'
    assert marker in text, "agent_load.xml no longer has its talk time"
    path = folder / "agent_load.xml"
    path.write_text(text.replace("9000", str(round(talk_s * 1000)), 1), encoding="utf-8")
    return path


def sipp_stats(stat_file: Path) -> dict[str, int]:
    lines = [ln for ln in stat_file.read_text(errors="replace").splitlines() if ln.strip()]
    if len(lines) < 2:
        return {}
    head, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(head, last, strict=False))

    def num(key: str) -> int:
        try:
            return int(row.get(key, "0") or 0)
        except ValueError:
            return 0

    return {
        "created": num("TotalCallCreated"),
        "successful": num("SuccessfulCall(C)"),
        "failed": num("FailedCall(C)"),
        "retransmissions": num("Retransmissions(C)"),
    }


def spawn(
    cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, cwd=cwd
        )


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(240):
            if proc.poll() is not None:
                raise RuntimeError(f"cti serve exited:\n{tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base}/readyz", timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.25)
    raise RuntimeError(f"cti serve not ready, see {log}")


async def scrape(base: str) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{base}/metrics", timeout=10)).text


def hist_summary(h: promstats.Histogram) -> dict[str, Any]:
    def ms(q: float) -> float | None:
        v = h.quantile(q)
        return None if v is None else round(v * 1000, 2)

    mean = h.mean
    return {
        "n": int(h.count),
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "mean_ms": None if mean is None else round(mean * 1000, 2),
    }


def echo_summary(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0, "p50_ms": None, "p99_ms": None}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"n": len(ordered), "p50_ms": at(0.5), "p99_ms": at(0.99)}


def sipp_limit(n: int) -> int:
    """SIPp's limit on the callers' calls at once in a step of ``n`` concurrent calls."""
    return 2 * n + 50


def at_sipp_limit(s: dict[str, Any]) -> bool:
    return bool(s["concurrent_seen"]["max"] >= sipp_limit(s["concurrent_target"]))


async def run_step(
    n: int, url: str, tokens: dict[str, str], args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    rate = n / (args.talk + 1.0)
    calls = max(1, round(rate * args.seconds))
    folder = work / f"step-{n}"
    folder.mkdir()
    print(f"step {n}: {calls} calls at {rate:g}/s, talk {args.talk:g}s", flush=True)
    stack.hangup_channels(("PJSIP/callers-", *(f"PJSIP/{e}-" for e in AGENTS)))
    await set_members(add=True)
    agents = stack._start_uas(AGENTS_IP, str(agent_scenario(folder, args.talk)), folder)
    http_port = free_port()
    base = f"http://127.0.0.1:{http_port}"
    log = folder / "cti-serve.log"
    serve = spawn(
        [sys.executable, "-m", "cti", "serve"],
        log,
        env=serve_env(url, folder / "data", http_port, args.pool),
    )
    desks = Desks(http_port, tokens)
    caller: subprocess.Popen[bytes] | None = None
    try:
        await wait_ready(base, serve, log)
        await desks.open()
        inf = callers_file(folder, args.customers, calls, random.Random(n))
        before = await scrape(base)
        since = datetime.now(UTC).replace(microsecond=0)
        cmd = [
            "sipp", "-sf", str(stack.SIPP_DIR / "caller_load.xml"), "-inf", str(inf),
            "-s", HOTLINE, "-i", CALLERS_IP, "-p", "0", "-mi", CALLERS_IP,
            "-r", str(max(1, round(rate * 10))), "-rp", "10000",
            "-m", str(calls), "-l", str(sipp_limit(n)), "-nostdin",
            "-trace_stat", "-stf", str(folder / "stat.csv"), "-fd", "5",
            "-trace_err", "-error_file", str(folder / "errors.log"),
            stack.ASTERISK_SIP,
        ]  # fmt: skip
        caller = spawn(cmd, folder / "sipp-callers.log", cwd=folder)
        meter = CpuMeter(
            {
                "asterisk": stack.asterisk_pid(),
                "service": serve.pid,
                "sipp": agents.pid,
                "sipp_callers": caller.pid,
            },
            postmaster_pid(),
        )
        meter.start()
        desks.echoing = True
        active: list[float] = []
        deadline = time.monotonic() + args.seconds + args.talk + 120
        while caller.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            meter.read()
            with contextlib.suppress(httpx.HTTPError):
                active.append(promstats.value(await scrape(base), "cti_calls_active"))
        if caller.poll() is None:
            caller.send_signal(signal.SIGTERM)
        caller.wait(10)
        # The last calls' records, pops and recordings: wait until nothing more comes.
        counts = await step_counts(url, since)
        stable_since = time.monotonic()
        last = (counts["records"], counts["recorded"], len(desks.pops))
        while time.monotonic() - stable_since < 8 and time.monotonic() < deadline + 60:
            await asyncio.sleep(1.0)
            counts = await step_counts(url, since)
            now = (counts["records"], counts["recorded"], len(desks.pops))
            if now != last:
                last, stable_since = now, time.monotonic()
        desks.echoing = False
        cpu = meter.stop()
        after = await scrape(base)
    finally:
        await desks.close()
        if caller is not None and caller.poll() is None:
            caller.kill()
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
        stack._stop(agents)
        stack.hangup_channels(("PJSIP/callers-", *(f"PJSIP/{e}-" for e in AGENTS)))
        await set_members(add=False)
    sipp = sipp_stats(folder / "stat.csv")
    answered: set[str] = counts["answered"]
    agi = promstats.histogram(after, "cti_agi_seconds", script="hotline") - promstats.histogram(
        before, "cti_agi_seconds", script="hotline"
    )
    pop = promstats.histogram(after, "cti_screenpop_seconds") - promstats.histogram(
        before, "cti_screenpop_seconds"
    )
    reconnects = promstats.value(after, "cti_ami_reconnects_total") - promstats.value(
        before, "cti_ami_reconnects_total"
    )
    ami_events = promstats.value(after, "cti_ami_events_total") - promstats.value(
        before, "cti_ami_events_total"
    )
    placed = sipp.get("created", calls)
    agi_outcomes = {
        outcome: int(
            promstats.value(after, "cti_agi_requests_total", script="hotline", outcome=outcome)
            - promstats.value(before, "cti_agi_requests_total", script="hotline", outcome=outcome)
        )
        for outcome in ("ok", "hangup", "failed", "timeout")
    }
    result = {
        "concurrent_target": n,
        "rate_per_s": round(rate, 2),
        "talk_s": args.talk,
        "seconds": args.seconds,
        "calls_placed": placed,
        "sipp": sipp,
        "concurrent_seen": {
            "max": int(max(active, default=0)),
            "mean": round(sum(active) / len(active), 1) if active else 0,
        },
        "call_records": counts["records"],
        "not_routed_in_time": counts["unrouted"],
        "answered": len(answered),
        "screen_pops": len(answered & desks.pops.keys()),
        "recordings": counts["recorded"],
        "agi": {**hist_summary(agi), "outcomes": agi_outcomes},
        "pop": hist_summary(pop),
        "baseline_ws_echo": echo_summary(desks.echoes),
        "cpu_percent_of_one_core": cpu,
        "ami_reconnects": int(reconnects),
        "ami_events": int(ami_events),
        "db_pool_size": args.pool,
    }
    if result["pop"]["p99_ms"] and result["baseline_ws_echo"]["p99_ms"]:
        result["pop_ratio_p99"] = round(
            result["pop"]["p99_ms"] / result["baseline_ws_echo"]["p99_ms"], 2
        )
    result["lost"] = {
        "calls": placed - len(answered),
        "pops": len(answered) - result["screen_pops"],
        "recordings": len(answered) - counts["recorded"],
    }
    result["nothing_lost"] = (
        sipp.get("failed", 0) == 0
        and len(answered) == placed
        and result["screen_pops"] == placed
        and counts["recorded"] == placed
    )
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return result


# --- the write-up -----------------------------------------------------------------------


COLUMNS = (
    "concurrent", "calls/s", "seen (max)", "placed", "SIPp failed", "answered (call records)",
    "screen-pops", "recordings", "AGI p99 ms", "pop p99 ms", "WS echo p99 ms (baseline)",
    "CPU Asterisk", "CPU service",
    "CPU PostgreSQL", "CPU SIPp + benchmark", "nothing lost",
)  # fmt: skip


def table_row(s: dict[str, Any]) -> str:
    cpu = s["cpu_percent_of_one_core"]
    sipp_cpu = round(cpu.get("sipp", 0) + cpu.get("sipp_callers", 0), 1)
    cells = [
        s.get("label", s["concurrent_target"]), s["rate_per_s"], s["concurrent_seen"]["max"],
        s["calls_placed"],
        s["sipp"].get("failed", "?"), s["answered"], s["screen_pops"], s["recordings"],
        s["agi"]["p99_ms"], s["pop"]["p99_ms"],
        s.get("baseline_ws_echo", {}).get("p99_ms", "-"), f"{cpu.get('asterisk')} %",
        f"{cpu.get('service')} %", f"{cpu.get('postgres')} %",
        f"{sipp_cpu} + {cpu.get('benchmark')} %", "yes" if s["nothing_lost"] else "**no**",
    ]  # fmt: skip
    return "| " + " | ".join(str(c) for c in cells) + " |"


def ratios(steps: list[dict[str, Any]]) -> str:
    base = steps[0]
    parts = []
    for s in steps[1:]:
        agi = s["agi"]["p99_ms"], base["agi"]["p99_ms"]
        pop = s["pop"]["p99_ms"], base["pop"]["p99_ms"]
        if all(agi) and all(pop):
            parts.append(
                f"{s.get('label', s['concurrent_target'])} at {s['rate_per_s']:g}/s: "
                f"AGI p99 {agi[0] / agi[1]:.1f}x, pop p99 {pop[0] / pop[1]:.1f}x"
            )
    if not parts:
        return ""
    return (
        f"Ratios against the smallest step ({base['concurrent_target']} concurrent, the "
        "baseline of the same run): " + "; ".join(parts) + "."
    )


POP_AIM_MS = 5.0
PROCESSES = (("asterisk", "Asterisk"), ("service", "the service"), ("postgres", "PostgreSQL"))


def reloads(s: dict[str, Any]) -> int:
    return int(s.get("asterisk", {}).get("dialplan_reloads", 0))


def label(s: dict[str, Any]) -> str:
    run = f" ({s['label'].split('(')[-1]}" if "(run " in str(s.get("label", "")) else ""
    after = f" after {reloads(s)} dialplan reloads" if reloads(s) else ""
    return f"{s['concurrent_target']} concurrent at {s['rate_per_s']:g} calls/s{run}{after}"


def reload_findings(steps: list[dict[str, Any]]) -> list[str]:
    """A step run after ``dialplan reload``s against the same step on a fresh Asterisk."""
    out: list[str] = []
    for s in (s for s in steps if reloads(s)):
        same = [
            f
            for f in steps
            if not reloads(f)
            and f["concurrent_target"] == s["concurrent_target"]
            and f["rate_per_s"] == s["rate_per_s"]
        ]
        if not same:
            continue
        fresh = same[-1]
        subs = s["asterisk"].get("channel_all_subscribers")
        fresh_subs = fresh.get("asterisk", {}).get("channel_all_subscribers")
        out.append(
            f"**{label(s)}** (`channel:all` subscribers {subs}, against {fresh_subs} on a "
            f"fresh Asterisk): Asterisk used {cpu_ms_per_call(s, 'asterisk'):.1f} ms of CPU "
            f"per call against {cpu_ms_per_call(fresh, 'asterisk'):.1f} ms; AGI p99 "
            f"{s['agi']['p99_ms']} ms against {fresh['agi']['p99_ms']} ms; pop p99 "
            f"{s['pop']['p99_ms']} ms against {fresh['pop']['p99_ms']} ms; WebSocket echo "
            f"p99 {s.get('baseline_ws_echo', {}).get('p99_ms')} ms against "
            f"{fresh.get('baseline_ws_echo', {}).get('p99_ms')} ms with the service at "
            f"{s['cpu_percent_of_one_core'].get('service')} % of a core against "
            f"{fresh['cpu_percent_of_one_core'].get('service')} % (a busier Asterisk slows "
            "the service's loop too). Every "
            "`dialplan reload` of Asterisk 22.10 (and so every `core reload`) leaves one "
            "subscriber more on `channel:all` until Asterisk restarts, and every channel "
            "message is handed to each; the AMI output is the same. Operators: restart "
            "Asterisk in a quiet hour after a series of dialplan reloads "
            "(dialplans/README.md, Reloading)."
        )
    return out


def cpu_ms_per_call(s: dict[str, Any], process: str) -> float:
    """CPU milliseconds per call: per cent of one core over the step / calls a second."""
    return float(s["cpu_percent_of_one_core"].get(process, 0.0)) * 10 / float(s["rate_per_s"])


def latency_knee(steps: list[dict[str, Any]]) -> list[str]:
    """Where the pop's aim is first missed, and what the service's loop and the machine
    looked like there (the WebSocket echo runs through the same loop)."""
    ordered = sorted(steps, key=lambda s: (s["rate_per_s"], s["concurrent_target"]))
    met = [s for s in ordered if s["pop"].get("p99_ms") and s["pop"]["p99_ms"] <= POP_AIM_MS]
    missed = [s for s in ordered if s["pop"].get("p99_ms") and s["pop"]["p99_ms"] > POP_AIM_MS]
    if not met or not missed or missed[0]["rate_per_s"] <= met[-1]["rate_per_s"]:
        return []
    last, first = met[-1], missed[0]

    def echo(s: dict[str, Any]) -> Any:
        return s.get("baseline_ws_echo", {}).get("p99_ms")

    def busy(s: dict[str, Any]) -> str:
        cpu = s["cpu_percent_of_one_core"]
        total = sum(float(v) for v in cpu.values())
        load = s.get("provenance", {}).get("load_average", ["?"])[0]
        return (
            f"the service at {cpu.get('service')} % of one core, Asterisk at "
            f"{cpu.get('asterisk')} %, {total:.0f} % of the machine's 200 % in all, 1-minute "
            f"load average {load}"
        )

    return [
        f"**Latency gives before calls are lost**: the pop's aim holds up to {label(last)} "
        f"(p99 {last['pop']['p99_ms']} ms, AGI p99 {last['agi']['p99_ms']} ms, WebSocket "
        f"echo p99 {echo(last)} ms; {busy(last)}); at {label(first)} the pop p99 is "
        f"{first['pop']['p99_ms']} ms, the AGI p99 {first['agi']['p99_ms']} ms and the echo "
        f"p99 {echo(first)} ms ({busy(first)}). The echo goes through the service's one "
        "event loop, which is then far from a whole core: it waits for one, shared with "
        "Asterisk's hundreds of threads."
    ]


def findings(all_steps: list[dict[str, Any]]) -> list[str]:
    """What the table says, computed from it (no figure typed by hand)."""
    out: list[str] = []
    steps = [s for s in all_steps if not reloads(s)]
    clean = [s for s in steps if s["nothing_lost"]]
    lossy = [s for s in steps if not s["nothing_lost"]]
    below_loss = [s for s in clean if not lossy or s["rate_per_s"] < lossy[0]["rate_per_s"]]
    if below_loss:
        top = below_loss[-1]
        out.append(
            f"**Nothing lost up to {label(top)}**: every call placed was answered, written "
            "as a call record, popped on its agent's desktop and its recording catalogued."
        )
    for s in lossy:
        lost = s["lost"]
        unrouted = s.get("not_routed_in_time", 0)
        why = (
            f"{unrouted} of them were not routed within the AGI deadline (the dialplan then "
            "queued them with its defaults, in this benchmark a queue without the load agents)"
            if unrouted
            else "none of them for the AGI deadline"
        )
        failed = int(s["sipp"].get("failed", 0) or 0)
        at_sip = (
            f"; {failed} never got a final SIP answer (SIPp counted them failed, after "
            f"{s['sipp'].get('retransmissions', 0)} retransmissions: Asterisk answered "
            "SIP late)"
            if failed
            else ""
        )
        out.append(
            f"**{label(s)}: {lost['calls']} of {s['calls_placed']} calls lost**; {why}"
            f"{at_sip}; screen-pops lost for answered calls: {lost['pops']}, recordings: "
            f"{lost['recordings']}."
        )
    if lossy:
        s = lossy[0]
        per_call = {p: cpu_ms_per_call(s, p) for p, _ in PROCESSES}
        busiest = dict(PROCESSES)[max(per_call, key=lambda p: per_call[p])]
        unrouted, at_sip = s.get("not_routed_in_time", 0), int(s["sipp"].get("failed", 0) or 0)
        if not unrouted and not at_sip:
            limit = "not one process (see the losses above)"
        elif at_sip >= unrouted:
            limit = "Asterisk's SIP handling (most of the lost calls)"
        else:
            limit = "the service's routing deadline (most of the lost calls)"
        out.append(
            f"**Where it breaks**: first at {label(s)}; the limit there is {limit}; the "
            f"largest CPU user per call is {busiest}."
        )
    # CPU per call is CPU over the step / its nominal rate: not for a step SIPp throttled.
    paced = [s for s in steps if not at_sipp_limit(s)]
    if paced:
        top = max(paced, key=lambda s: s["rate_per_s"])
        per_call = {p: cpu_ms_per_call(top, p) for p, _ in PROCESSES}
        busiest = max(per_call, key=lambda p: per_call[p])
        names = dict(PROCESSES)
        total = sum(float(v) for v in top["cpu_percent_of_one_core"].values())
        out.append(
            f"**CPU per call at {label(top)}**: "
            + ", ".join(f"{names[p]} {per_call[p]:.1f} ms" for p, _ in PROCESSES)
            + f"; the largest user is {names[busiest]}. The whole stack (SIPp and this "
            f"script included) used {total:.0f} % of the machine's 200 %."
        )
        events = [s for s in steps if s.get("ami_events")]
        if events:
            e = events[-1]
            out.append(
                f"AMI events the service decoded per call placed ({label(e)}): "
                f"{e['ami_events'] / max(e['calls_placed'], 1):.0f}."
            )
    out += latency_knee(steps)
    capped = [s for s in steps if at_sipp_limit(s)]
    if capped:
        out.append(
            "**At SIPp's limit**: "
            + "; ".join(
                f"{label(s)} reached {sipp_limit(s['concurrent_target'])} calls at once "
                f"(mean {s['concurrent_seen']['mean']})"
                for s in capped
            )
            + ". Calls there lasted longer than ring + talk (waiting for the AGI and the "
            "queue), and SIPp placed no new call while at its limit: those steps offered "
            "less than their nominal rate while it lasted."
        )
    for s in steps:
        if s["concurrent_target"] != 200 or not s["pop"].get("n"):
            continue
        pop, echo = s["pop"], s.get("baseline_ws_echo", {})
        verdict = "met" if pop["p99_ms"] <= POP_AIM_MS else "not met"
        ratio = (
            f", {pop['p99_ms'] / echo['p99_ms']:.2f}x the p99 of a bare WebSocket ping-pong "
            f"through the same server in the same step ({echo['p99_ms']} ms)"
            if echo.get("p99_ms")
            else ""
        )
        out.append(
            f"**Screen-pop at {label(s)}**: p50 {pop['p50_ms']} ms, p99 {pop['p99_ms']} ms "
            f"(aim p99 <= {POP_AIM_MS:g} ms: {verdict}){ratio}; AGI p50 "
            f"{s['agi']['p50_ms']} ms, p99 {s['agi']['p99_ms']} ms."
        )
    return out + reload_findings(all_steps)


def write_up(stored: dict[str, Any]) -> None:
    steps = sorted(
        stored["steps"].values(), key=lambda s: (s["rate_per_s"], s["concurrent_target"])
    )
    if not steps:
        return
    first = steps[0]
    provs = dict.fromkeys(provenance.describe(s["provenance"]) for s in steps)
    lines = [
        "## Capacity: `benchmarks/capacity.py` (issue 18)",
        "",
        "Real calls: SIPp callers dial the 400 hotline, Asterisk 22 (devstack) answers, the",
        "hotline AGI of `cti serve` routes each call as in production (PostgreSQL 15:",
        f"{first['seed_size']['customers']:,} customers, {first['seed_size']['orders']:,} "
        "orders; callers drawn at random, 20 % unknown), the",
        "queue rings one of 250 SIPp load agents (ring 0.5 s, talk "
        f"{first['talk_s']:g} s, then the agent hangs up),",
        "the agent's leg is recorded (MixMonitor, WAV), and the service writes the call",
        "record, pops the caller on the agent's WebSocket (250 desktops connected) and",
        "catalogs the recording. Rate = concurrent / (talk + 1 s), calls placed for "
        f"{first['seconds']:g} s",
        "per step. AGI and pop p99 come from the service's own histograms",
        '(`cti_agi_seconds{script="hotline"}`, `cti_screenpop_seconds`) over the step; CPU',
        "is per cent of one core over the step (200 % = both cores). A p99 of 5000 is the",
        "histogram's last finite bucket: 5 s or more. Commit `+`: only the results files",
        "differed from the commit (the code measured is the commit's).",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *(table_row(s) for s in steps),
        "",
        ratios(steps),
        "",
        *(f"* {p}" for p in provs),
        "",
        "### What it says",
        "",
        *(f"* {f}" for f in findings(steps)),
        "",
        "Limits: one run per step on a machine shared with other work (the load average",
        "of each run is above); a step reaches its target concurrency only after about",
        "talk + ring seconds (the seen (max) column); the pops are timed inside the",
        "service, from the read of the `AgentCalled` bytes to the frame written, so a",
        "desktop's own network and browser are not in them. Recording files are deleted",
        "after each run. Each step starts on a freshly restarted Asterisk (`devstack",
        "restart-asterisk`); a step marked 'after N dialplan reloads' ran after that many",
        "`dialplan reload`s, to show what they cost.",
        "",
        "Reproduce (the script takes the devstack lock for the seeding and for each step):",
        "`python benchmarks/capacity.py --fresh --steps 25,50,100,200 --keep-going "
        "--lock /work/devstack.lock`; then `--again --steps 200`, and `--steps 200 "
        "--dialplan-reloads 20` for the reloads' cost.",
    ]
    provenance.write_section(NAME, "\n".join(lines))


async def main_async(args: argparse.Namespace) -> int:
    steps = [int(s) for s in args.steps.split(",") if s]
    path = provenance.RESULTS_DIR / f"{NAME}.json"
    stored: dict[str, Any] = (
        json.loads(path.read_text(encoding="utf-8"))
        if path.exists() and not args.fresh
        else {"steps": {}}
    )
    stored.pop("analysis", None)  # the findings are computed from the steps now
    if args.write_up:
        write_up(stored)
        return 0
    with tempfile.TemporaryDirectory(prefix="cti-capacity-") as tmp:
        work = Path(tmp)
        with devstack_lock(args.lock):
            if not stack.devstack_running():
                raise SystemExit("the devstack is not running (docker/devstack/devstack start)")
            t0 = time.monotonic()
            url, seed_info = await prepare_database(args)
            tokens = await agent_tokens(url)
            print(f"database ready in {time.monotonic() - t0:.0f}s: {seed_info}", flush=True)
        try:
            for n in steps:
                with devstack_lock(args.lock):
                    asterisk = prepare_asterisk(args)
                    result = await run_step(n, url, tokens, args, work)
                result["asterisk"] = asterisk
                result["provenance"] = provenance.provenance()
                result["seed"] = seed_info
                result["seed_size"] = {"customers": args.customers, "orders": args.orders}
                key = f"{n}@{result['rate_per_s']:g}/s"
                if args.dialplan_reloads:
                    key += f" after {args.dialplan_reloads} dialplan reloads"
                    result["label"] = f"{n} (after {args.dialplan_reloads} dialplan reloads)"
                if args.again:  # another run of a step: kept beside the earlier ones
                    runs = 1 + sum(
                        1 for k in stored["steps"] if k == key or k.startswith(f"{key} run ")
                    )
                    key, result["label"] = f"{key} run {runs}", f"{n} (run {runs})"
                stored["steps"][key] = result
                provenance.write_json(NAME, stored)
                write_up(stored)
                if not result["nothing_lost"] and not args.keep_going:
                    print(f"step {n} lost calls; stopping (--keep-going to go on)")
                    break
        finally:
            if not args.keep:
                with devstack_lock(args.lock):
                    await remove_recordings(url)
                    await drop_database(args.postgres, url)
            else:
                print(f"kept database {url}")
    return 0


def channel_all_subscribers() -> int | None:
    """How many subscribers Asterisk's ``channel:all`` topic has (every channel message
    is handed to each of them)."""
    out = stack.devstack("asterisk-cli", "stasis show topic channel:all", check=False)
    for line in out.splitlines():
        if line.startswith("Subscribers count:"):
            return int(line.split(":", 1)[1])
    return None


def prepare_asterisk(args: argparse.Namespace) -> dict[str, Any]:
    """Asterisk as the step finds it: restarted on this checkout's config (unless
    ``--no-restart``), then ``dialplan reload`` ``--dialplan-reloads`` times."""
    if args.restart:
        stack.restart_asterisk()
    for _ in range(args.dialplan_reloads):
        stack.devstack("asterisk-cli", "dialplan reload")
    return {
        "restarted": args.restart,
        "dialplan_reloads": args.dialplan_reloads,
        "channel_all_subscribers": channel_all_subscribers(),
    }


async def remove_recordings(url: str) -> None:
    """The WAV files this run's calls left in the devstack's recordings root."""
    root = Path(stack.devstack_env()["CTI_RECORDINGS_LOCAL_ROOT"])
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        rows = await conn.fetch("SELECT linkedid, started_at FROM calls")
    finally:
        await conn.close()
    removed = 0
    for row in rows:
        day = row["started_at"].astimezone().strftime("%Y%m%d")
        for wav in (root / "cti" / day).glob(f"{row['linkedid']}-*"):
            with contextlib.suppress(OSError):
                wav.unlink()
                removed += 1
    print(f"removed {removed} recording files")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="25,50,100,200")
    ap.add_argument("--seconds", type=float, default=30.0, help="placing calls, per step")
    ap.add_argument("--talk", type=float, default=9.0, help="agents' talk time, seconds")
    ap.add_argument("--postgres", default=DEFAULT_ADMIN, help="PostgreSQL admin URL")
    ap.add_argument("--database", default="", help="a database seeded by an earlier --keep")
    ap.add_argument("--keep", action="store_true", help="keep the database (and recordings)")
    ap.add_argument("--customers", type=int, default=300_000)
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--pool", type=int, default=10, help="CTI_DB_POOL_SIZE of the service")
    ap.add_argument("--keep-going", action="store_true", help="run every step even after a loss")
    ap.add_argument(
        "--fresh", action="store_true", help="forget the steps of earlier runs (other code)"
    )
    ap.add_argument("--again", action="store_true", help="keep earlier runs of the same step")
    ap.add_argument("--lock", default="", help="flock this file while using the devstack")
    ap.add_argument(
        "--write-up",
        action="store_true",
        help="only rewrite RESULTS.md from the JSON (its 'analysis' text included)",
    )
    ap.add_argument(
        "--no-restart",
        dest="restart",
        action="store_false",
        help="run on the running Asterisk as it is (default: restart it before each step)",
    )
    ap.add_argument(
        "--dialplan-reloads",
        type=int,
        default=0,
        metavar="N",
        help="'dialplan reload' N times before each step (measures what reloads cost)",
    )
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
