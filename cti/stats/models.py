"""Agent state history: every state change, so time per state is known for any period."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.base import Base, UtcDateTime


class AgentStateRecord(Base):
    """An agent entered ``state`` at ``at`` (and stayed until its next row).

    A pause with a new reason is a row of its own (state ``paused`` again), so pause
    time splits by reason. ``paused_reason`` is ``""`` when there is none: a unique
    key with a NULL would not stop a replayed trace from writing the row twice.
    """

    __tablename__ = "agent_states"
    __table_args__ = (
        UniqueConstraint("interface", "at", "state", "paused_reason"),
        Index("ix_agent_states_at", "at"),
        # A queue's agents, one index probe each (cti.stats.queries.queue_members).
        Index("ix_agent_states_queue_interface_at", "queue", "interface", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    interface: Mapped[str] = mapped_column(String(80))
    member_name: Mapped[str | None] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(16))
    previous: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    paused_reason: Mapped[str] = mapped_column(String(80), default="", server_default="")
    queue: Mapped[str | None] = mapped_column(String(80))
    """The queue whose event caused the change, when there was one (informational)."""


# -- rollups (cti.stats.rollups) -------------------------------------------------------------
# Sums per 15-minute slot (``width`` 900), per business day (``width`` 86400, a local
# day of the business time zone, 23 to 25 hours long where clocks change) and month of
# the raw rows above and of ``calls``, recomputed from them shortly after they are
# written (:class:`DirtyMark`), so a month of statistics reads thousands of rows, not
# millions. ``slot`` is the epoch second the slot
# starts at. Every figure read from them equals the same figure read from the raw rows
# (tests/db/test_rollups.py).


class RollupState(Base):
    """One row once the rollups hold every stored call: the rules they were summed with
    (thresholds and business time zone).

    Queue slots count service level and short abandons by the thresholds in force when
    they were summed; a service started with other thresholds rebuilds them, and until
    then the statistics read the raw rows.
    """

    __tablename__ = "stats_rollups"

    id: Mapped[int] = mapped_column(primary_key=True)
    sl_threshold_s: Mapped[float] = mapped_column(Float)
    short_abandon_s: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64))
    """The business time zone whose days the day rows are."""
    built_at: Mapped[datetime] = mapped_column(UtcDateTime)


class QueueSlot(Base):
    """:class:`~cti.stats.definitions.Sums` of one queue's calls counted in one 15-minute slot."""

    __tablename__ = "stats_queue_slots"

    queue: Mapped[str] = mapped_column(String(80), primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    offered: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    abandoned: Mapped[int] = mapped_column(Integer)
    short_abandons: Mapped[int] = mapped_column(Integer)
    timeouts: Mapped[int] = mapped_column(Integer)
    voicemails: Mapped[int] = mapped_column(Integer)
    transfers: Mapped[int] = mapped_column(Integer)
    answered_within: Mapped[int] = mapped_column(Integer)
    wait_answered_s: Mapped[float] = mapped_column(Float)
    talk_s: Mapped[float] = mapped_column(Float)
    wrapup_s: Mapped[float] = mapped_column(Float)
    longest_wait_s: Mapped[float | None] = mapped_column(Float)
    rating_sum: Mapped[int] = mapped_column(Integer)
    rated: Mapped[int] = mapped_column(Integer)


class AgentCallSlot(Base):
    """:class:`~cti.stats.definitions.AgentCallSums` of one agent in one queue's slot or day."""

    __tablename__ = "stats_agent_call_slots"

    queue: Mapped[str] = mapped_column(String(80), primary_key=True)
    width: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    agent: Mapped[str] = mapped_column(String(80), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer)
    talk_s: Mapped[float] = mapped_column(Float)
    wrapup_s: Mapped[float] = mapped_column(Float)
    rating_sum: Mapped[int] = mapped_column(Integer)
    rated: Mapped[int] = mapped_column(Integer)
    ring_no_answer: Mapped[int] = mapped_column(Integer)


class AgentTimeSlot(Base):
    """Seconds one agent spent in one state (and pause reason) within a slot or a day.

    Only time before the agent's mark (:class:`AgentTimeMark`) is summed: the state the
    agent is in now has no end yet.
    """

    __tablename__ = "stats_agent_time_slots"

    interface: Mapped[str] = mapped_column(String(80), primary_key=True)
    width: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    paused_reason: Mapped[str] = mapped_column(String(80), primary_key=True)
    seconds: Mapped[float] = mapped_column(Float)


class AgentTimeMark(Base):
    """How far one agent's time is summed: the start of the slot of their latest state row."""

    __tablename__ = "stats_agent_time_marks"

    interface: Mapped[str] = mapped_column(String(80), primary_key=True)
    covered_until: Mapped[int] = mapped_column(BigInteger)


class QueueAgent(Base):
    """An agent whose state an event of ``queue`` changed, and when that first happened
    (the queue's agents for a period, without probing ``agent_states``)."""

    __tablename__ = "stats_queue_agents"

    queue: Mapped[str] = mapped_column(String(80), primary_key=True)
    interface: Mapped[str] = mapped_column(String(80), primary_key=True)
    first_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DirtyMark(Base):
    """Rollups a write left out of date, recomputed by the next flush
    (:func:`cti.stats.rollups.flush`).

    Written in the transaction that writes the raw rows, one row per write and key (no
    unique key: a flush deletes the ids it read, so a mark written meanwhile stays for
    the next one). A call's mark names its queue and the instant it counts at; an
    agent's mark the interface, its earliest state row written and that row's queue; a
    rating's mark the Linkedid of the rated call and when it was rated, and the flush
    finds the call (which may have been written concurrently, unseen by the rating).
    """

    __tablename__ = "stats_dirty"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    queue: Mapped[str | None] = mapped_column(String(80))
    interface: Mapped[str | None] = mapped_column(String(80))
    """None: a call's or a rating's mark."""
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    linkedid: Mapped[str | None] = mapped_column(String(64), default=None)
    """A rating's mark: the rated call (queue and interface None)."""
