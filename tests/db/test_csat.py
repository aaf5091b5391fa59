"""Ratings are stored once per call through a durable job, and summed up per agent and queue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cti.container import Container
from cti.csat.ratings import rating_handler
from cti.csat.service import call_rating, csat_summary, csat_total, figures, record_rating
from cti.events import CallRated
from cti.jobs.errors import InvalidJob
from cti.tracking.events import CallSummary, Outcome
from tests.db.conftest import restarted_after_outage

RATED = CallRated(
    uniqueid="1795432195.64",
    linkedid="1795432195.64",
    rating=4,
    agent="PJSIP/1001",
    queue="hotline",
)
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def rating_of(container: Container, linkedid: str) -> int | None:
    async with container.sessions() as session:
        return await call_rating(session, linkedid)


async def test_a_rating_is_stored_on_the_call_and_shown_with_it(
    container: Container, client: httpx.AsyncClient, make_token: Callable[..., Any]
) -> None:
    await container.jobs.stop()  # run the job here, not in the background runner
    started = T0.timestamp()
    container.writer.submit(
        CallSummary(
            linkedid=RATED.linkedid,
            caller_number="13800138000",
            caller_name=None,
            dnis="4008001234",
            queue="hotline",
            outcome=Outcome.ANSWERED,
            agent="PJSIP/1001",
            started_at=started,
            ended_at=started + 60,
            wait_s=5.0,
            talk_s=40.0,
            hangup_cause=16,
        )
    )
    await container.writer.flush()
    token = await make_token("stats:read")
    auth = {"Authorization": f"Bearer {token}"}
    r = await client.get(f"/api/v1/calls/{RATED.linkedid}", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["csat"] is None

    await container.bus.deliver(RATED)  # what the survey AGI app does
    assert await container.jobs.run_once() == 1
    r = await client.get(f"/api/v1/calls/{RATED.linkedid}", headers=auth)
    assert r.json()["csat"] == 4
    async with container.sessions() as session:
        [agent] = await csat_summary(
            session, by="agent", since=T0 - timedelta(days=1), until=T0 + timedelta(days=365)
        )
    assert (agent.key, agent.count, agent.average) == ("PJSIP/1001", 1, 4.0)


async def test_a_rating_survives_a_database_outage_and_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    # The caller hears the thanks while the database is down.
    async with restarted_after_outage(tmp_path, database_url, RATED) as up:
        assert await rating_of(up, RATED.linkedid) == 4
        # The same rating delivered again (a retried AGI) is still one; a second survey
        # on the same call does not replace what the caller said first.
        await up.bus.deliver(RATED)
        await up.bus.deliver(CallRated(**{**_fields(RATED), "rating": 1}))
        await up.jobs.run_once()
        async with up.sessions() as session:
            total = await csat_total(
                session, since=T0 - timedelta(days=3650), until=T0 + timedelta(days=3650)
            )
        assert (total.count, total.average) == (1, 4.0)


def _fields(rated: CallRated) -> dict[str, Any]:
    return {name: getattr(rated, name) for name in CallRated.__dataclass_fields__}


async def test_the_first_rating_of_a_call_stays(container: Container) -> None:
    async with container.sessions() as session, session.begin():
        first = await record_rating(
            session, linkedid="c.1", uniqueid="c.1", rating=5, agent=None, queue=None, rated_at=T0
        )
        again = await record_rating(
            session, linkedid="c.1", uniqueid="c.1", rating=1, agent=None, queue=None, rated_at=T0
        )
        with pytest.raises(ValueError, match=r"1\.\.5"):
            await record_rating(
                session, linkedid="c.2", uniqueid="c.2", rating=6, agent=None, queue=None,
                rated_at=T0,
            )  # fmt: skip
    assert (first, again) == (True, False)
    assert await rating_of(container, "c.1") == 5


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"linkedid": "x.1", "uniqueid": "x.1", "rating": 0, "rated_at": T0.isoformat()},
        {"linkedid": "x.1", "uniqueid": "x.1", "rating": 3, "rated_at": "2026-11-23T02:00:00"},
        {"linkedid": "a b", "uniqueid": "x.1", "rating": 3, "rated_at": T0.isoformat()},
        {
            "linkedid": "x.1",
            "uniqueid": "x.1",
            "rating": 3,
            "agent": "1001;DROP",
            "rated_at": T0.isoformat(),
        },
    ],
)
async def test_an_unusable_payload_is_refused_not_retried(
    container: Container, payload: dict[str, Any]
) -> None:
    async with container.sessions() as session:
        with pytest.raises(InvalidJob):
            await rating_handler()(session, payload)


async def test_csat_per_agent_and_per_queue_over_a_time_range(container: Container) -> None:
    rows = [
        # linkedid, rating, agent, queue, minutes after T0
        ("r.1", 5, "PJSIP/1001", "hotline", 0),
        ("r.2", 4, "PJSIP/1001", "hotline", 10),
        ("r.3", 1, "PJSIP/1001", "vip", 20),
        ("r.4", 3, "PJSIP/1002", "hotline", 30),
        ("r.5", 2, None, "hotline", 40),  # the agent is not known
        ("r.6", 5, "PJSIP/1002", "vip", 60),  # at `until`: outside
        ("r.7", 1, "PJSIP/1002", "vip", -1),  # before `since`: outside
    ]
    async with container.sessions() as session, session.begin():
        for linkedid, rating, agent, queue, minutes in rows:
            await record_rating(
                session,
                linkedid=linkedid,
                uniqueid=linkedid,
                rating=rating,
                agent=agent,
                queue=queue,
                rated_at=T0 + timedelta(minutes=minutes),
            )
    since, until = T0, T0 + timedelta(hours=1)
    async with container.sessions() as session:
        by_agent = await csat_summary(session, by="agent", since=since, until=until)
        by_queue = await csat_summary(session, by="queue", since=since, until=until)
        one = await csat_summary(
            session, by="queue", since=since, until=until, agents=["1001", "PJSIP/1001"]
        )
        nothing = await csat_summary(session, by="agent", since=until, until=until)
        with pytest.raises(ValueError, match="agent or queue"):
            await csat_summary(session, by="shop", since=since, until=until)  # type: ignore[arg-type]
    assert by_agent == [
        figures("PJSIP/1001", {5: 1, 4: 1, 1: 1}),
        figures("PJSIP/1002", {3: 1}),
        figures(None, {2: 1}),
    ]
    assert [(f.key, f.count, f.average) for f in by_agent] == [
        ("PJSIP/1001", 3, 3.33),
        ("PJSIP/1002", 1, 3.0),
        (None, 1, 2.0),
    ]
    assert by_agent[0].distribution == {1: 1, 2: 0, 3: 0, 4: 1, 5: 1}
    assert [(f.key, f.count, f.average) for f in by_queue] == [
        ("hotline", 4, 3.5),
        ("vip", 1, 1.0),
    ]
    assert [(f.key, f.count) for f in one] == [("hotline", 2), ("vip", 1)]
    assert nothing == []


def test_figures_without_ratings_have_no_average() -> None:
    empty = figures("PJSIP/1001", {})
    assert (empty.count, empty.average) == (0, None)
    assert empty.distribution == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    # Anything outside 1..5 is not a rating.
    assert figures(None, {0: 3, 6: 1, 5: 1}).count == 1
