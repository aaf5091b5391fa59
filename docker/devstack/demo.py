"""`make demo`: the whole thing on one machine.

Starts the devstack (Asterisk 22, PostgreSQL), `cti serve` against it, two
SIPp agent phones logged into the hotline queue, and a few SIPp callers with
Chinese names. Prints where to look; Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

import cti_stack as stack  # noqa: E402  (beside this script)

CALLERS = [
    ("13800138000", "张伟", "caller_talks.xml"),
    ("13900139000", "李娜", "caller.xml"),
    ("01012345678", "王芳", "caller_hangup_after_6s.xml"),
    ("+8613700137000", "刘洋", "caller.xml"),
]


def main() -> int:
    print("== starting the local stack (first run builds Asterisk 22 by debootstrap) ==")
    was_running = not stack.devstack("status", check=False).count("stopped")
    stack.devstack("start")
    env_vars = stack.devstack_env()
    data_dir = REPO / ".devstack" / "demo-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    env.update(
        {
            "CTI_DATA_DIR": str(data_dir),
            "CTI_DATABASE_URL": env_vars["CTI_TEST_POSTGRES_URL"],
            "CTI_AMI_HOST": env_vars["CTI_AMI_HOST"],
            "CTI_AMI_PORT": env_vars["CTI_AMI_PORT"],
            "CTI_AMI_USERNAME": env_vars["CTI_AMI_USERNAME"],
            "CTI_AMI_SECRET": env_vars["CTI_AMI_SECRET"],
            "CTI_HTTP_PORT": os.environ.get("CTI_HTTP_PORT", "8080"),
            "CTI_RECORDINGS_ROOT": env_vars["CTI_RECORDINGS_ROOT"],
            "CTI_RECORDINGS_LOCAL_ROOT": env_vars["CTI_RECORDINGS_LOCAL_ROOT"],
        }
    )
    cti = [sys.executable, "-m", "cti"]
    token = subprocess.run(
        [
            *cti,
            "token",
            "create",
            "--name",
            "demo-supervisor",
            "--scope",
            "stats:read",
            "--scope",
            "agents:write",
            "--scope",
            "recordings:read",
            "--scope",
            "recordings:write",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    agent_tokens = {
        ext: subprocess.run(
            [
                *cti,
                "token",
                "create",
                "--name",
                f"demo-agent-{ext}",
                "--scope",
                "agent",
                "--agent",
                ext,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for ext in ("1001", "1002")
    }
    shop_token = subprocess.run(
        [
            *cti,
            "token",
            "create",
            "--name",
            "demo-shop",
            "--scope",
            "orders:write",
            "--shop",
            "demo-shop",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    log_path = REPO / ".devstack" / "demo-cti.log"
    print(f"== starting cti serve (log: {log_path}) ==")
    with open(log_path, "ab") as log:
        serve = subprocess.Popen([*cti, "serve"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{env['CTI_HTTP_PORT']}"
    try:
        import httpx

        stack.wait_for(lambda: _ready(httpx, base), timeout=60)
        _push_orders(httpx, base, shop_token)
        stack.devstack("reset-queues")
        for ext in ("1001", "1002"):
            stack.add_queue_member(ext)
            stack.start_sipp_agent(ext, "agent_talks.xml")
        print("== agents 1001 and 1002 are logged in; placing calls ==")
        callers = []
        for number, name, scenario in CALLERS:
            print(f"   call from {name} <{number}> to 4008001234 ({scenario})")
            callers.append(stack.run_sipp_caller(number, name, scenario=scenario, wait=False))
            time.sleep(1.5)
        print(
            "\nWhere to look:\n"
            f"  API docs         {base}/docs\n"
            f"  readiness        {base}/readyz\n"
            f"  calls (live+history)  curl -H 'Authorization: Bearer {token}' {base}/api/v1/calls\n"
            f"  metrics          {base}/metrics\n"
            f"  QA (recordings)  {base}/qa  (same supervisor token)\n"
            f"  agent desktop    {base}/agent  (token for 1001: {agent_tokens['1001']},\n"
            f"                   1002: {agent_tokens['1002']})\n"
            f"  Asterisk CLI     {stack.DEVSTACK} asterisk-cli 'queue show hotline'\n"
            f"  queue_log        {env_vars['CTI_ASTERISK_QUEUE_LOG']}\n"
            f"  recordings       {env_vars.get('CTI_ASTERISK_RECORDINGS', '')}\n"
            "Ctrl-C stops everything.\n"
        )
        if _interactive():
            while True:
                time.sleep(1)
        else:
            _wait(callers)
            _print_calls(httpx, base, token)
    except KeyboardInterrupt:
        pass
    finally:
        print("== stopping ==")
        stack.cleanup()
        stack.devstack("reset-queues", check=False)  # the demo's agents log out
        serve.send_signal(signal.SIGTERM)
        serve.wait(30)
        if not was_running:
            stack.devstack("stop")
    return 0


def _ready(httpx: object, base: str) -> bool:
    try:
        return bool(httpx.get(f"{base}/readyz", timeout=2).status_code == 200)  # type: ignore[attr-defined]
    except Exception:
        return False


def _interactive() -> bool:
    return sys.stdin.isatty() and os.environ.get("CTI_DEMO_ONESHOT") != "1"


def _wait(callers: list[object]) -> None:
    """Without a terminal (CI, scripts): wait for the calls, then stop."""
    for proc in callers:
        proc.wait(120)  # type: ignore[attr-defined]
    time.sleep(2)


def _push_orders(httpx: object, base: str, token: str) -> None:
    """A few customers with orders, so the pops show something."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S+08:00")
    orders = [
        ("DEMO-1001", "13800138000", "张伟", "vip", "iPhone 手机壳", "89.00"),
        ("DEMO-1002", "13900139000", "李娜", None, "龙井茶 250g", "128.00"),
        ("DEMO-1003", "+86 137 0013 7000", "刘洋", None, "蓝牙耳机", "399.00"),
    ]
    for order_id, phone, name, tier, item, amount in orders:
        customer = {"phone": phone, "name": name, **({"tier": tier} if tier else {})}
        httpx.put(  # type: ignore[attr-defined]
            f"{base}/api/v1/orders/{order_id}",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "shop": "demo-shop",
                "customer": customer,
                "items": [{"sku": order_id, "name": item, "qty": 1, "price": amount}],
                "amount": amount,
                "status": "paid",
                "created_at": now,
                "updated_at": now,
            },
            timeout=10,
        ).raise_for_status()


def _seconds(value: object) -> str:
    return "-" if value is None else f"{float(value):.1f}s"  # type: ignore[arg-type]


def _print_calls(httpx: object, base: str, token: str) -> None:
    r = httpx.get(  # type: ignore[attr-defined]
        f"{base}/api/v1/calls", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    for call in r.json()["items"]:
        print(
            f"   {call['caller_name']} <{call['caller_number']}>: {call['outcome']}"
            f" agent={call['agent'] or '-'} wait={_seconds(call['wait_s'])}"
            f" talk={_seconds(call['talk_s'])}"
        )


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_sigterm)
    raise SystemExit(main())
