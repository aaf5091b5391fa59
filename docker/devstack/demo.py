"""`make demo`: a call centre's day on one machine, until Ctrl-C (or ``--duration``).

Starts the devstack (Asterisk 22, PostgreSQL) unless it runs, and ``cti serve``
against it. Through the service's HTTP API, as its users would: a shop pushes its
customers' orders (returning and VIP customers), opens for confirmation calls, and
agents 1001..1003 (SIPp phones that answer and talk) log in. Then callers with
Chinese names keep calling the hotline at random (Poisson) times: new, returning
and VIP callers, some impatient enough to hang up before an agent answers; one
calls the after-sales line after hours and leaves a voicemail, which becomes a
callback task for agent 1001; about once a minute the shop asks for an order's
confirmation call, which a SIPp customer answers. Every few seconds one line of
the hotline's live figures; the agent desktop, wallboard and QA pages are printed
with tokens to log in with. Ctrl-C (or SIGTERM) stops what the demo started, by
PID, and leaves the devstack as it found it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cti_api as api_
import cti_stack as stack
import demo_traffic as traffic
import httpx

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))  # this checkout's `cti`, as the service it starts runs
HOTLINE_NUMBER = "4008001234"
AFTER_HOURS_NUMBER = "4008005678"
QUEUE = "hotline"
BEIJING = ZoneInfo("Asia/Shanghai")
AGENTS = (("1001", "王静"), ("1002", "李强"), ("1003", "赵敏"))
AGENT_WRAPUP_S = 5
AGENT_PHONE = "agent_talks.xml"
CALLER_SCENARIOS = {
    traffic.Behaviour.BRIEF: "caller.xml",
    traffic.Behaviour.CHATTY: "caller_talks.xml",
}
#: seconds after the first call: the after-hours call, and the first confirmation call
AFTER_HOURS_AT = 5.0
FIRST_CONFIRMATION_AT = 10.0
#: SIPp callers at once at the most; an arrival past it is skipped (and said so)
MAX_CALLERS = 30
#: the request each page makes with the token typed into its login box (cti/static/*.js)
PAGE_LOGIN = {
    "/agent": "/api/v1/desk/stats",
    "/wallboard": "/api/v1/queues",
    "/qa": "/api/v1/qa/scoresheets",
}


# --- options -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    rate: float
    duration: float | None
    seed: int
    agents: int
    confirm_every: float
    live_every: float
    http_port: int
    database_url: str | None
    workdir: Path


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number > 0, not {text}")
    return value


def _database_url(text: str) -> str:
    if not text.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise argparse.ArgumentTypeError(
            "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (as CTI_DATABASE_URL)"
        )
    return text


def parse_args(argv: Sequence[str]) -> Options:
    p = argparse.ArgumentParser(
        prog="demo.py", description="A small call centre on this machine, until Ctrl-C."
    )
    p.add_argument("--rate", type=_positive, default=4.0, help="calls a minute (default 4)")
    p.add_argument(
        "--duration", type=_positive, help="stop after this many seconds (default: Ctrl-C)"
    )
    p.add_argument("--seed", type=int, default=19, help="the same seed, the same callers")
    p.add_argument("--agents", type=int, choices=(1, 2, 3), default=3, help="default 3")
    p.add_argument(
        "--confirm-every", type=_positive, default=60.0, help="seconds between confirmation calls"
    )
    p.add_argument("--live-every", type=_positive, default=5.0, help="seconds between live lines")
    p.add_argument(
        "--http-port",
        type=int,
        default=os.environ.get("CTI_HTTP_PORT", "8080"),  # argparse applies type= to it
        help="cti serve's HTTP port (default $CTI_HTTP_PORT or 8080)",
    )
    p.add_argument(
        "--database-url",
        type=_database_url,
        help="the service's database (default: the devstack's PostgreSQL)",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=REPO / ".devstack" / "demo",
        help="logs, SIPp traces and the service's data (default .devstack/demo)",
    )
    a = p.parse_args(argv)
    if not 0 < a.http_port < 65536:
        p.error(f"--http-port {a.http_port}: not a port")
    return Options(
        rate=a.rate,
        duration=a.duration,
        seed=a.seed,
        agents=a.agents,
        confirm_every=a.confirm_every,
        live_every=a.live_every,
        http_port=a.http_port,
        database_url=a.database_url,
        workdir=a.workdir.resolve(),
    )


# --- the service ---------------------------------------------------------------------------


def hotlines(now: datetime) -> dict[str, Any]:
    """CTI_ACD_HOTLINES: the hotline around the clock, the after-sales line closed now."""
    return {
        QUEUE: {"numbers": [HOTLINE_NUMBER], "queue": QUEUE},
        "aftersales": {
            "numbers": [AFTER_HOURS_NUMBER],
            "queue": QUEUE,
            "hours": traffic.closed_hours(now),
        },
    }


def service_env(dev: Mapping[str, str], opts: Options, now: datetime) -> dict[str, str]:
    """``cti serve``'s environment: the devstack's Asterisk, our port, database and data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            "CTI_DATA_DIR": str(opts.workdir / "data"),
            "CTI_DATABASE_URL": opts.database_url or dev["CTI_TEST_POSTGRES_URL"],
            "CTI_AMI_HOST": dev["CTI_AMI_HOST"],
            "CTI_AMI_PORT": dev["CTI_AMI_PORT"],
            "CTI_AMI_USERNAME": dev["CTI_AMI_USERNAME"],
            "CTI_AMI_SECRET": dev["CTI_AMI_SECRET"],
            "CTI_HTTP_PORT": str(opts.http_port),
            "CTI_RECORDINGS_ROOT": dev["CTI_RECORDINGS_ROOT"],
            "CTI_RECORDINGS_LOCAL_ROOT": dev["CTI_RECORDINGS_LOCAL_ROOT"],
            "CTI_CONFIRM_DIAL_TEMPLATE": stack.CONFIRM_DIAL_TEMPLATE,
            "CTI_ACD_HOTLINES": json.dumps(hotlines(now), ensure_ascii=False),
        }
    )
    return env


@dataclass(frozen=True, slots=True)
class Tokens:
    supervisor: str
    """The demo's own: agents, live figures, the callback list."""
    wallboard: str
    qa: str
    operator: str
    """Opens the shop (every shop's ``calls:originate``)."""
    shop: str
    """The shop backend's: its orders and confirmation calls."""
    agents: dict[str, str]


@dataclass(frozen=True, slots=True)
class TokenSpec:
    """``cti token create --name NAME --scope ... [--agent EXT] [--shop SHOP | --all-shops]``."""

    name: str
    scopes: tuple[str, ...]
    agent: str | None = None
    shop: str | None = None


def issue_tokens(database_url: str, specs: Sequence[TokenSpec]) -> dict[str, str]:
    """What ``cti token create`` does for each spec (migrating the database first), in one
    process: eight runs of the CLI take most of a minute on a busy machine."""
    import asyncio

    from cti.auth.tokens import create_token
    from cti.db.engine import create_engine, session_factory
    from cti.db.migrate import upgrade_async

    async def issue() -> dict[str, str]:
        await upgrade_async(database_url)
        engine = create_engine(database_url)
        now = datetime.now(UTC)
        try:
            async with session_factory(engine)() as session, session.begin():
                return {
                    spec.name: (
                        await create_token(
                            session, spec.name, spec.scopes, spec.agent, now=now, shop=spec.shop
                        )
                    ).token
                    for spec in specs
                }
        finally:
            await engine.dispose()

    return asyncio.run(issue())


def create_tokens(database_url: str, agents: Sequence[str]) -> Tokens:
    specs = [
        TokenSpec("demo-supervisor", ("stats:read", "agents:write", "tickets:write")),
        TokenSpec("demo-wallboard", ("stats:read", "agents:write")),
        TokenSpec("demo-qa", ("recordings:read", "recordings:write")),
        TokenSpec("demo-operator", ("calls:originate",)),  # --all-shops
        TokenSpec("demo-shop", ("orders:write", "calls:originate"), shop=api_.DEMO_SHOP),
        *(TokenSpec(f"demo-agent-{ext}", ("agent",), agent=ext) for ext in agents),
    ]
    made = issue_tokens(database_url, specs)
    return Tokens(
        supervisor=made["demo-supervisor"],
        wallboard=made["demo-wallboard"],
        qa=made["demo-qa"],
        operator=made["demo-operator"],
        shop=made["demo-shop"],
        agents={ext: made[f"demo-agent-{ext}"] for ext in agents},
    )


def start_service(env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cti", "serve"],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            process_group=0,  # a Ctrl-C reaches the demo only; it stops the service last
        )


def wait_ready(base: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"cti serve exited {proc.returncode}:\n{tail}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"cti serve not ready within {timeout:.0f}s, see {log_path}")


def stop_service(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# --- the shop, its customers, the agents -------------------------------------------------------


def push_orders(
    api: api_.Api, token: str, rng: random.Random, pool: Sequence[traffic.Customer]
) -> int:
    """The shop pushes its known customers' orders (VIPs marked so); returns how many."""
    now = datetime.now(UTC)
    count = 0
    for customer in pool:
        tier = "vip" if customer.kind is traffic.Kind.VIP else None
        for planned in traffic.orders_of(rng, customer):
            push_order(
                api, token, customer, planned, tier=tier, at=now - timedelta(days=planned.days_ago)
            )
            count += 1
    return count


def push_order(
    api: api_.Api,
    token: str,
    customer: traffic.Customer,
    planned: traffic.PlannedOrder,
    *,
    tier: str | None,
    at: datetime,
) -> None:
    p = planned.product
    body = api_.order(
        api_.DEMO_SHOP,
        customer.phone,
        customer.name,
        amount=p.price,
        tier=tier,
        items=[{"sku": p.sku, "name": p.name, "qty": 1, "price": p.price}],
        status=planned.status,
        at=at,
    )
    api_.put_order(api, token, planned.order_id, body)


def log_agents_in(
    api: api_.Api, tokens: Tokens, agents: Sequence[tuple[str, str]], sipp_dir: Path
) -> list[str]:
    """Each agent's SIPp phone starts, then the agent logs in with its own token.

    Returns the agents the demo logged in (an agent already logged in stays as it was).
    """
    logged_in = []
    for ext, name in agents:
        out = api_.put_agent(
            api, tokens.supervisor, ext, name, skills=[QUEUE], wrapup_s=AGENT_WRAPUP_S
        )
        log_dir = sipp_dir / f"agent-{ext}"
        log_dir.mkdir()
        stack.start_sipp_agent(ext, AGENT_PHONE, log_dir=log_dir)
        if out["state"] == "logged_out":
            api_.agent_login(api, tokens.agents[ext], ext)
            logged_in.append(ext)
    return logged_in


def log_agents_out(api: api_.Api, tokens: Tokens, agents: Sequence[str]) -> None:
    for ext in agents:
        api_.agent_logout(api, tokens.agents[ext], ext)


# --- where to look -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    title: str
    path: str
    token: str


def pages(tokens: Tokens) -> list[Page]:
    out = [Page(f"agent desktop {ext}", "/agent", t) for ext, t in tokens.agents.items()]
    out.append(Page("wallboard", "/wallboard", tokens.wallboard))
    out.append(Page("QA (recordings)", "/qa", tokens.qa))
    return out


def check_pages(api: api_.Api, shown: Sequence[Page]) -> None:
    """Each page loads, and its token passes the page's own login request."""
    for page in shown:
        r = httpx.get(f"{api.base_url}{page.path}", timeout=10)
        if r.status_code != 200:
            raise api_.ApiError(f"GET {page.path}: {r.status_code}")
        api.call("GET", PAGE_LOGIN[page.path], page.token, expect=(200,))


def where_to_look(base: str, shown: Sequence[Page], opts: Options, dev: Mapping[str, str]) -> str:
    width = max(len(p.title) for p in shown)
    url_width = max(len(base + p.path) for p in shown)
    lines = ["", "Open in a browser; paste the token into the page's login box (never in a URL):"]
    lines += [f"  {p.title:<{width}}  {base + p.path:<{url_width}}  token {p.token}" for p in shown]
    lines += [
        "Also:",
        f"  API docs   {base}/docs",
        f"  metrics    {base}/metrics",
        f"  service    {opts.workdir / 'cti-serve.log'}",
        f"  Asterisk   {stack.DEVSTACK} asterisk-cli 'queue show {QUEUE}'",
        f"  queue_log  {dev['CTI_ASTERISK_QUEUE_LOG']}",
        "Ctrl-C stops everything the demo started.",
        "",
    ]
    return "\n".join(lines)


# --- the story -----------------------------------------------------------------------------


def clock() -> str:
    return datetime.now(BEIJING).strftime("%H:%M:%S")


def say(text: str) -> None:
    print(f"  {clock()} {text}", flush=True)


KIND_LABEL = {
    traffic.Kind.NEW: "new caller",
    traffic.Kind.RETURNING: "returning customer",
    traffic.Kind.VIP: "VIP",
}


def describe(call: traffic.PlannedCall) -> str:
    if call.behaviour is traffic.Behaviour.IMPATIENT:
        how = f"hangs up after {call.patience_s:.0f}s"
    elif call.behaviour is traffic.Behaviour.CHATTY:
        how = "a long talk"
    else:
        how = "a short question"
    c = call.customer
    return f"call  {c.name} <{c.phone}> -> {HOTLINE_NUMBER}: {KIND_LABEL[c.kind]}, {how}"


def scenario_of(call: traffic.PlannedCall) -> str:
    if call.behaviour is traffic.Behaviour.IMPATIENT:
        assert call.patience_s is not None
        return stack.caller_with_patience(call.patience_s)
    return CALLER_SCENARIOS[call.behaviour]


def describe_ended(call: Mapping[str, Any]) -> str | None:
    """A line about a call that ended (None: nothing to say: a confirmation call's own end)."""
    who = f"{call.get('caller_name') or ''} <{call.get('caller_number') or '?'}>".strip()
    agent = str(call.get("agent") or "").removeprefix("PJSIP/")
    wait, talk = call.get("wait_s"), call.get("talk_s")
    talked = f", talked {talk:.0f}s" if talk is not None else ""
    outcome = call.get("outcome")
    if call.get("direction") == "outbound":
        if not agent:
            return None  # its result comes with the confirmation
        return f"ended confirmation call to {who}: put through to agent {agent}{talked}"
    if outcome == "answered":
        waited = f" after {wait:.0f}s waiting" if wait is not None else ""
        return f"ended {who}: answered by {agent or '?'}{waited}{talked}"
    if outcome == "abandoned":
        waited = f" after {wait:.0f}s" if wait is not None else ""
        return f"ended {who}: hung up before an agent answered{waited}"
    if outcome == "not_queued" and call.get("dnis") == AFTER_HOURS_NUMBER:
        return f"ended {who}: after hours, left a voicemail"
    return f"ended {who}: {outcome or 'ended'}"


@dataclass
class Story:
    """The demo's running state: what it placed and what it still waits to hear about."""

    api: api_.Api
    tokens: Tokens
    opts: Options
    rng: random.Random
    """The confirmation calls' (each part of the story draws from its own stream)."""
    plan: Iterator[traffic.PlannedCall]
    confirm_to: Iterator[traffic.Customer]
    after_hours_caller: traffic.Customer
    sipp_dir: Path
    run_id: str
    next_confirmation: float = FIRST_CONFIRMATION_AT
    next_live: float = 0.0
    after_hours_placed: bool = False
    voicemail_ticket: int | None = None
    callers: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)
    confirmations: dict[str, str] = field(default_factory=dict)
    seen_calls: set[str] = field(default_factory=set)
    placed: int = 0
    confirmations_asked: int = 0
    warned: set[str] = field(default_factory=set)

    # --- calls in ---

    def place(self, customer: traffic.Customer, scenario: str, dnis: str = HOTLINE_NUMBER) -> None:
        self.reap()
        if len(self.callers) >= MAX_CALLERS:
            say(f"skipped a call: {MAX_CALLERS} callers already on the line")
            return
        self.placed += 1
        log_dir = self.sipp_dir / f"call-{self.placed:05d}"
        log_dir.mkdir()
        proc = stack.run_sipp_caller(
            customer.phone,
            customer.name,
            dnis=dnis,
            scenario=scenario,
            wait=False,
            log_dir=log_dir,
        )
        assert isinstance(proc, subprocess.Popen)
        self.callers.append((proc, log_dir))

    def place_after_hours(self) -> None:
        c = self.after_hours_caller
        say(
            f"call  {c.name} <{c.phone}> -> {AFTER_HOURS_NUMBER} (after-sales line, closed now): "
            "leaves a voicemail"
        )
        self.place(c, "caller_voicemail.xml", AFTER_HOURS_NUMBER)
        self.after_hours_placed = True

    def reap(self) -> None:
        """Forget callers whose SIPp ended; a clean one's logs go too."""
        running = []
        for proc, log_dir in self.callers:
            if proc.poll() is None:
                running.append((proc, log_dir))
                continue
            stack.stop(proc)
            if proc.returncode == 0:
                shutil.rmtree(log_dir, ignore_errors=True)
        self.callers = running

    def stop_callers(self) -> None:
        for proc, _ in self.callers:
            stack.stop(proc)
        self.callers = []

    # --- confirmation calls ---

    def ask_confirmation(self) -> None:
        self.confirmations_asked += 1
        customer = next(self.confirm_to)
        product = self.rng.choice(traffic.BIG_PRODUCTS)
        planned = traffic.PlannedOrder(
            f"DEMO-C{self.run_id}-{self.confirmations_asked}", product, "paid", 0
        )
        push_order(self.api, self.tokens.shop, customer, planned, tier=None, at=datetime.now(UTC))
        cid = api_.request_confirmation(
            self.api,
            self.tokens.shop,
            planned.order_id,
            customer.phone,
            amount=product.price,
            item_count=1,
        )
        key = customer.phone[-1]
        does = {"1": "will confirm", "2": "will cancel", "0": "will ask for an agent"}[key]
        self.confirmations[cid] = (
            f"{planned.order_id} ({product.name} ¥{product.price}) "
            f"for {customer.name} <{customer.phone}>"
        )
        say(f"confirmation call asked by the shop: {self.confirmations[cid]}; the customer {does}")

    # --- what happened ---

    def poll(self) -> None:
        """Say what ended since the last look: calls, confirmations, the voicemail."""
        for name, step in (
            ("calls", self.report_calls),
            ("confirmations", self.report_confirmations),
            ("voicemail", self.report_voicemail),
        ):
            try:
                step()
            except (httpx.HTTPError, api_.ApiError) as exc:
                if name not in self.warned:
                    self.warned.add(name)
                    say(f"(could not read {name}: {exc})")

    def ended_calls(self) -> list[dict[str, Any]]:
        page = self.api.call("GET", "/api/v1/calls", self.tokens.supervisor, params={"limit": 50})
        return [c for c in page["items"] if c.get("ended_at")]

    def report_calls(self) -> None:
        for call in reversed(self.ended_calls()):
            if call["id"] not in self.seen_calls:
                self.seen_calls.add(call["id"])
                line = describe_ended(call)
                if line:
                    say(line)

    def report_confirmations(self) -> None:
        for cid, what in list(self.confirmations.items()):
            detail = self.api.call("GET", f"/api/v1/confirmations/{cid}", self.tokens.shop)
            if detail.get("finished_at"):
                del self.confirmations[cid]
                say(f"confirmation {what}: {detail['status']}")

    def report_voicemail(self) -> None:
        if not self.after_hours_placed or self.voicemail_ticket is not None:
            return
        page = self.api.call("GET", "/api/v1/tickets/callbacks", self.tokens.supervisor)
        phone = self.after_hours_caller.phone
        mine = [t for t in page["items"] if str(t.get("caller_number", "")).endswith(phone)]
        if not mine:
            return
        ticket = mine[0]
        self.voicemail_ticket = int(ticket["id"])
        first = next(iter(self.tokens.agents))
        self.api.call(
            "PATCH",
            f"/api/v1/tickets/{ticket['id']}",
            self.tokens.supervisor,
            json={"assignee": first},
        )
        say(
            f"voicemail from {self.after_hours_caller.name} is callback task #{ticket['id']}, "
            f"given to agent {first} (agent desktop: 我的回电任务)"
        )

    def live(self) -> None:
        try:
            q = self.api.call("GET", f"/api/v1/queues/{QUEUE}", self.tokens.supervisor)
        except (httpx.HTTPError, api_.ApiError) as exc:
            print(f"[{clock()}] {QUEUE}: live figures unavailable ({exc})", flush=True)
            return
        print(traffic.format_live(q, clock()), flush=True)

    # --- the loop ---

    def run(self, duration: float | None) -> None:
        """Until ``duration`` seconds have passed (None: until Ctrl-C)."""
        self.seen_calls.update(c["id"] for c in self.ended_calls())  # earlier runs' calls
        start = time.monotonic()
        upcoming = next(self.plan)
        while True:
            t = time.monotonic() - start
            if duration is not None and t >= duration:
                return
            if not self.after_hours_placed and t >= AFTER_HOURS_AT:
                self.place_after_hours()
            while upcoming.at <= t:
                say(describe(upcoming))
                self.place(upcoming.customer, scenario_of(upcoming))
                upcoming = next(self.plan)
            if t >= self.next_confirmation:
                try:
                    self.ask_confirmation()
                except (httpx.HTTPError, api_.ApiError) as exc:
                    say(f"(the shop could not ask for a confirmation call: {exc})")
                self.next_confirmation = t + self.opts.confirm_every * self.rng.uniform(0.8, 1.2)
            if t >= self.next_live:
                self.reap()
                self.poll()
                self.live()
                self.next_live = t + self.opts.live_every
            wake = min(upcoming.at, self.next_confirmation, self.next_live)
            if not self.after_hours_placed:
                wake = min(wake, AFTER_HOURS_AT)
            if duration is not None:
                wake = min(wake, duration)
            time.sleep(min(0.5, max(0.01, wake - (time.monotonic() - start))))


# --- start, run, stop ------------------------------------------------------------------------


@dataclass
class Started:
    """What the demo started, to stop in reverse order."""

    devstack: bool = False
    serve: subprocess.Popen[bytes] | None = None
    api: api_.Api | None = None
    tokens: Tokens | None = None
    agents_logged_in: list[str] = field(default_factory=list)
    story: Story | None = None


def _step(what: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception as exc:  # every step of the cleanup is tried
        print(f"   ({what} failed: {exc})", flush=True)


def shutdown(s: Started, agents: Sequence[str]) -> None:
    """Stop what the demo started, by PID, leaving the devstack as it was."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("== stopping (a few seconds) ==", flush=True)
    if s.story is not None:
        _step("stopping the callers", s.story.stop_callers)
    if s.api is not None and s.tokens is not None:
        _step("logging the agents out", log_agents_out, s.api, s.tokens, s.agents_logged_in)
    if s.serve is not None:
        _step("stopping cti serve", stop_service, s.serve)
    _step("stopping the SIPp phones", stack.cleanup)
    # A SIPp ended by a signal sends no BYE: hang up what its calls left in Asterisk.
    prefixes = ("PJSIP/callers-", "PJSIP/customers-", *(f"PJSIP/{ext}-" for ext in agents))
    _step("hanging up the demo's calls", stack.hangup_channels, prefixes)
    if s.devstack:
        _step("stopping the devstack", stack.devstack, "stop")


def setup(s: Started, opts: Options, now: datetime) -> Story:
    if not stack.devstack_running():
        print(
            "== starting the local stack (first run builds Asterisk 22 by debootstrap) ==",
            flush=True,
        )
        s.devstack = True
        stack.devstack("start")
    dev = stack.devstack_env()
    sipp_dir = opts.workdir / "sipp"
    shutil.rmtree(sipp_dir, ignore_errors=True)
    sipp_dir.mkdir(parents=True)
    # One stream per part of the story: the callers do not depend on when confirmations run.
    rng = random.Random(f"{opts.seed}:customers")
    pool = traffic.customer_pool(rng, returning=12, vip=4)
    agents = AGENTS[: opts.agents]
    env = service_env(dev, opts, now)
    print(f"== tokens, then cti serve on port {opts.http_port} ==", flush=True)
    s.tokens = create_tokens(env["CTI_DATABASE_URL"], [ext for ext, _ in agents])
    log_path = opts.workdir / "cti-serve.log"
    s.serve = start_service(env, log_path)
    base = f"http://127.0.0.1:{opts.http_port}"
    wait_ready(base, s.serve, log_path, timeout=120)
    s.api = api = api_.Api(base)
    api_.open_shop(api, s.tokens.operator, api_.DEMO_SHOP, max_concurrent=2)
    n = push_orders(api, s.tokens.shop, rng, pool)
    print(f"== the shop pushed {n} orders of {len(pool)} customers (4 VIP) ==", flush=True)
    customers_dir = sipp_dir / "customers"
    customers_dir.mkdir()
    stack.start_sipp_customers(log_dir=customers_dir)
    s.agents_logged_in = log_agents_in(api, s.tokens, agents, sipp_dir)
    names = ", ".join(f"{ext} {name}" for ext, name in agents)
    print(f"== agents logged in through the API, their SIPp phones answer: {names} ==", flush=True)
    shown = pages(s.tokens)
    check_pages(api, shown)
    print(where_to_look(base, shown, opts, dev), flush=True)
    returning = [c for c in pool if c.kind is traffic.Kind.RETURNING]
    confirmations = random.Random(f"{opts.seed}:confirmations")
    return Story(
        api=api,
        tokens=s.tokens,
        opts=opts,
        rng=confirmations,
        plan=traffic.call_plan(random.Random(f"{opts.seed}:calls"), opts.rate, pool),
        confirm_to=traffic.confirmation_customers(confirmations, pool),
        after_hours_caller=rng.choice(returning),
        sipp_dir=sipp_dir,
        run_id=now.strftime("%y%m%d%H%M%S"),
    )


def main(argv: Sequence[str]) -> int:
    opts = parse_args(argv)
    opts.workdir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(BEIJING)
    s = Started()
    rc = 0
    try:
        s.story = setup(s, opts, now)
        until = f"for {opts.duration:.0f}s" if opts.duration else "until Ctrl-C"
        print(
            f"== calls at {opts.rate:g} a minute (Poisson, seed {opts.seed}) {until} ==", flush=True
        )
        s.story.run(opts.duration)
        s.story.poll()
        s.story.live()
    except KeyboardInterrupt:
        pass
    except (RuntimeError, OSError, httpx.HTTPError, api_.ApiError) as exc:
        print(f"demo: {exc}", file=sys.stderr, flush=True)
        rc = 1
    finally:
        shutdown(s, [ext for ext, _ in AGENTS[: opts.agents]])
    return rc


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    # Ctrl-C stops the demo even if it was started with SIGINT ignored (a shell's `&`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    raise SystemExit(main(sys.argv[1:]))
