"""Issue 16's hard promises on the real stack: a crash, and two service instances.

A batch of confirmation calls to SIPp customers who answer and press 1 or 2
(docker/devstack/sipp/customer.xml acts on the dialled number's last digit). The
truth about dialling is the customers' side: SIPp's message log, one Call-ID per
call it was offered (:func:`tests.integration.conftest.invites`).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import cti_stack as stack

from tests.integration.conftest import (
    CONFIRM_ENV,
    CtiServe,
    Receiver,
    api,
    confirmation,
    free_port,
    invites,
    open_shop,
    request_confirmation,
)

SHOP = "shop-b"
BATCH = 20
#: what the customer presses (the number's last digit) -> the confirmation's result
PRESSED = {"1": "confirmed", "2": "cancelled"}


def batch_numbers(prefix: str) -> list[str]:
    """``BATCH`` mobile numbers whose customers answer and press 1 or 2."""
    return [f"{prefix}{i:03d}{1 + i % 2}" for i in range(BATCH)]


def batch_env(cti_env: dict[str, str], database_url: str) -> None:
    cti_env.update(CONFIRM_ENV)
    cti_env.update(
        {
            "CTI_DATABASE_URL": database_url,
            "CTI_CONFIRM_MAX_CONCURRENT": str(BATCH),
            # A job held by a dead worker is taken back this soon.
            "CTI_JOBS_LEASE_S": "15",
            "CTI_CONFIRM_ANSWERED_CHECK_S": "5",
        }
    )


def request_batch(serve: CtiServe, token: str, numbers: list[str]) -> dict[str, str]:
    """POST one confirmation per number (two attempts each); number -> confirmation id."""
    return {
        number: request_confirmation(serve, token, f"C{number}", number, max_attempts=2, shop=SHOP)
        for number in numbers
    }


def statuses(serve: CtiServe, token: str) -> list[dict[str, Any]]:
    r = api(serve, "GET", "/api/v1/confirmations", token, params={"limit": 100})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def wait_all_finished(
    serve: CtiServe, token: str, ids: dict[str, str], timeout: float
) -> dict[str, dict[str, Any]]:
    def finished() -> dict[str, dict[str, Any]] | None:
        if any(c["finished_at"] is None for c in statuses(serve, token)):
            return None
        return {number: confirmation(serve, token, cid) for number, cid in ids.items()}

    done: dict[str, dict[str, Any]] = stack.wait_for(finished, timeout=timeout, interval=1)
    return done


def check_batch(
    done: dict[str, dict[str, Any]],
    ids: dict[str, str],
    customers: Path,
    receiver: Receiver,
    secret: str,
) -> None:
    """Every confirmation ended with what its customer pressed; no attempt was dialled
    twice; the shop heard each result, under one event id per confirmation."""
    got = {number: d["status"] for number, d in done.items()}
    assert got == {n: PRESSED[n[-1]] for n in done}, got
    for detail in done.values():
        assert [a["n"] for a in detail["attempt_log"]] == list(range(1, detail["attempts"] + 1))
    # One call offered to the customer per attempt the service counted: never a second
    # INVITE for one attempt, never a call the service does not know of.
    dialled = invites(customers)
    assert dialled == {n: d["attempts"] for n, d in done.items()}, dialled

    by_confirmation: dict[str, set[tuple[str, str]]] = defaultdict(set)

    def heard_all() -> bool:
        by_confirmation.clear()
        for event in receiver.events([secret]):
            data = event["data"]
            by_confirmation[data["confirmation_id"]].add((event["event_id"], data["result"]))
        return len(by_confirmation) == len(ids)

    stack.wait_for(heard_all, timeout=60, interval=0.5)
    # At least once: a delivery cut off by the crash may come twice, with the same event id.
    assert {cid: by_confirmation[cid] for cid in ids.values()} == {
        cid: {(next(iter(by_confirmation[cid]))[0], done[n]["status"])} for n, cid in ids.items()
    }


def test_kill_9_in_the_middle_of_a_batch(
    pg_database: str,  # first: dropped after the service has stopped
    cti_serve: CtiServe,
    cti_env: dict[str, str],
    customers: Path,
) -> None:
    receiver = Receiver(fail_first=False)
    try:
        batch_env(cti_env, pg_database)
        cti_serve.start()
        shop, secret = open_shop(cti_serve, SHOP, receiver.url, max_concurrent=BATCH)
        ids = request_batch(cti_serve, shop, batch_numbers("1390001"))

        # Kill the service while calls are being dialled and customers are in the menu.
        def under_way() -> list[dict[str, Any]] | None:
            now = statuses(cti_serve, shop)
            return now if sum(c["attempts"] > 0 for c in now) >= BATCH // 3 else None

        at_kill = stack.wait_for(under_way, timeout=90, interval=0.3)
        cti_serve.kill()
        in_flight = [c for c in at_kill if c["status"] == "dialling"]
        assert in_flight, "the kill should hit calls in progress"
        assert any(c["finished_at"] is None for c in at_kill)

        cti_serve.start()
        done = wait_all_finished(cti_serve, shop, ids, timeout=150)
        check_batch(done, ids, customers, receiver, secret)
    finally:
        receiver.close()


def test_two_instances_on_one_database(
    pg_database: str,  # first: dropped after the services have stopped
    cti_serve: CtiServe,
    cti_env: dict[str, str],
    customers: Path,
    tmp_path: Path,
) -> None:
    receiver = Receiver(fail_first=False)
    batch_env(cti_env, pg_database)
    # The second instance: its own HTTP port; its FastAGI listens elsewhere (Asterisk's
    # CTI_AGI_HOST names the first), so it dials and delivers webhooks but runs no menu.
    second = CtiServe(
        env={**cti_env, "CTI_HTTP_PORT": str(free_port()), "CTI_AGI_PORT": str(free_port())},
        log_path=tmp_path / "cti-serve-2.log",
        http_port=0,
    )
    second.http_port = int(second.env["CTI_HTTP_PORT"])
    try:
        cti_serve.start()  # migrates the database before the second one starts
        second.start()
        shop, secret = open_shop(cti_serve, SHOP, receiver.url, max_concurrent=BATCH)
        ids = request_batch(cti_serve, shop, batch_numbers("1390002"))
        done = wait_all_finished(second, shop, ids, timeout=150)
        check_batch(done, ids, customers, receiver, secret)
        # Both took part: each one's job runner dialled some of the batch.
        logs = [cti_serve.log_path.read_text(), second.log_path.read_text()]
        assert all("confirmations.dial" in log for log in logs), "one instance did all the work"
    finally:
        if second.proc is not None:
            second.stop()
        receiver.close()
