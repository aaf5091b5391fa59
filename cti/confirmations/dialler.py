"""Dialling confirmation calls, one durable job per attempt.

Job ``confirm:<id>:<n>`` makes attempt ``n``. Before anything reaches Asterisk
the attempt is *claimed*: a conditional update (the confirmation is queued and
has ``n - 1`` attempts) and the attempt row with the ``ChannelId`` we chose,
committed on their own. Only one worker can win that update, and a job that
runs again (its worker crashed, its lease ran out) finds its attempt already
claimed and never dials it a second time: it waits for the call it may have
placed (the tracker knows the ``ChannelId`` as the call's Linkedid) or, when
that call never came, counts the attempt as lost.

An answered call outlives its dial job (the customer is in the menu, or talking
to an agent): job ``confirm:<id>:<n>:check`` looks at it every
``answered_check_s`` while it lasts. Normally the call's end (the tracker) or the
customer's key (the ``confirm`` app) settles the attempt first and the check
finds nothing to do; when the service was down as the call ended, nobody heard
the end, and the check counts the attempt as lost (tried again while attempts
remain) instead of leaving it ``dialling`` for ever.

Every change of a confirmation's state after its attempt was claimed is a
conditional update (still this attempt, not yet final), so two paths that settle
one attempt at once (the end of the call seen by two service instances, a check
racing the tracker) give one result and one webhook.

What may not happen yet (outside the shop's calling window, at the global or
the shop's limit of concurrent calls, Asterisk not connected) is postponed with
:class:`~cti.jobs.errors.RetryLater`, which spends no attempt. The do-not-call
list is checked before every attempt.

The customer's answer comes from the ``confirm`` FastAGI app
(:meth:`Dialler.record_answer`); a call answered and hung up without a digit
ends ``not_confirmed`` when the tracker reports its end
(:meth:`Dialler.on_call_ended`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami.actions import ActionSender, originate
from cti.ami.failures import (
    AsteriskFailed,
    AsteriskTimeout,
    AsteriskUnavailable,
    connected_sender,
    run_action,
)
from cti.clock import Clock
from cti.confirmations.config import ConfirmationSettings
from cti.confirmations.models import (
    FINAL,
    Confirmation,
    ConfirmationAttempt,
    ConfirmationStatus,
)
from cti.confirmations.script import Facts
from cti.confirmations.window import next_opening
from cti.jobs.errors import InvalidJob, RetryLater
from cti.jobs.service import enqueue
from cti.shops.models import Shop
from cti.shops.service import is_blocked

log = logging.getLogger(__name__)

DIAL_JOB = "confirmations.dial"


class DialPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    public_id: str = Field(max_length=40)
    n: int = Field(ge=1, le=100)


def dial_key(public_id: str, n: int) -> str:
    return f"confirm:{public_id}:{n}"


def check_key(public_id: str, n: int) -> str:
    """The job that watches attempt ``n``'s answered call (a dial job that finds the
    attempt claimed never dials)."""
    return f"confirm:{public_id}:{n}:check"


async def schedule_attempt(
    session: AsyncSession, row: Confirmation, n: int, *, at: datetime, now: datetime
) -> None:
    """Queue attempt ``n`` of ``row`` for ``at`` (in the caller's transaction)."""
    row.status = ConfirmationStatus.QUEUED.value
    row.next_attempt_at = at
    row.updated_at = now
    await enqueue(
        session,
        kind=DIAL_JOB,
        key=dial_key(row.public_id, n),
        payload=DialPayload(public_id=row.public_id, n=n).model_dump(),
        now=now,
        run_after=at,
    )


async def first_attempt(session: AsyncSession, row: Confirmation, now: datetime) -> None:
    """A new request: its first attempt is due at once (the window may still hold it back)."""
    await schedule_attempt(session, row, 1, at=now, now=now)


Notify = Callable[[AsyncSession, Confirmation, datetime], Awaitable[None]]
"""Tell the shop a final result (a webhook), in the transaction that sets it."""


async def _no_notify(session: AsyncSession, row: Confirmation, now: datetime) -> None:
    return None


class LiveChannels(Protocol):
    def __call__(self, linkedid: str) -> object | None: ...


# OriginateResponse reasons -> attempt results; anything else failed.
_RESULTS = {3: "no_answer", 4: "answered", 5: "busy", 8: "congestion", 1: "failed", 0: "failed"}
# Asterisk 22 answers Originate with Reason 0 for a 486 from PJSIP; the channel's
# hangup cause (seen by the tracker first) tells what happened.
_CAUSES = {17: "busy", 18: "no_answer", 19: "no_answer", 21: "failed", 34: "congestion"}
_EXHAUSTED = {"busy": ConfirmationStatus.BUSY, "no_answer": ConfirmationStatus.NO_ANSWER}
#: How long after this process saw a call end its own settling is waited for.
SETTLING_S = 10.0
DIGIT_STATUS = {
    "1": ConfirmationStatus.CONFIRMED,
    "2": ConfirmationStatus.CANCELLED,
    "0": ConfirmationStatus.TRANSFERRED,
}


def new_channel_id(now: datetime) -> str:
    """A ``ChannelId`` shaped like Asterisk's own uniqueids (``<epoch>.<n>``), so the call's
    recordings are named like every other (``<linkedid>-<uniqueid>.wav``). Asterisk counts
    ``n`` up from 0; ours has ten digits, far beyond any count of channels in a second."""
    return f"{int(now.timestamp())}.{secrets.randbelow(9 * 10**9) + 10**9}"


def dial_string(template: str, e164: str) -> str:
    number = phonenumbers.parse(e164)
    national = phonenumbers.national_significant_number(number)
    return template.format(national=national, e164=e164)


class Dialler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: ConfirmationSettings,
        *,
        clock: Clock,
        ami: Callable[[], object | None],
        live_call: LiveChannels,
        notify: Notify = _no_notify,
    ) -> None:
        self._sessions = sessions
        self.settings = settings
        self._clock = clock
        self._ami = ami
        self._live_call = live_call
        self._notify = notify
        # Hangup causes of our calls' channels, as the tracker reports their end; the
        # dialler waits a moment for one when Asterisk's OriginateResponse says only
        # "failed" (Asterisk 22 gives Reason 0 for a 486 Busy from PJSIP).
        self._causes: dict[str, int | None] = {}
        self._cause_seen: dict[str, asyncio.Event] = {}
        # When this process saw our calls end (monotonic): a check that finds a call gone
        # just now leaves it to :meth:`on_call_ended`, which is settling it.
        self._ends_seen: dict[str, float] = {}

    async def _hangup_cause(self, channel_id: str, wait_s: float = 3.0) -> int | None:
        if channel_id not in self._causes:
            seen = self._cause_seen.setdefault(channel_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await seen.wait()
        self._cause_seen.pop(channel_id, None)
        return self._causes.pop(channel_id, None)

    def saw_end(self, linkedid: str, cause: int | None) -> None:
        """The tracker saw the end of call ``linkedid`` (ours when it is a ChannelId)."""
        self._causes[linkedid] = cause
        while len(self._causes) > 1000:  # ends nobody waited for
            del self._causes[next(iter(self._causes))]
        self._ends_seen[linkedid] = self._clock.monotonic()
        while len(self._ends_seen) > 1000:
            del self._ends_seen[next(iter(self._ends_seen))]
        seen = self._cause_seen.get(linkedid)
        if seen is not None:
            seen.set()

    # -- the job -------------------------------------------------------------------------

    async def handle(self, session: AsyncSession, payload: dict[str, Any]) -> None:
        try:
            job = DialPayload.model_validate(payload)
        except ValidationError as exc:
            raise InvalidJob(f"bad dial payload: {exc.error_count()} errors") from None
        now = self._clock.now()
        row = await _confirmation(session, job.public_id)
        if row is None:
            raise InvalidJob(f"no confirmation {job.public_id!r}")
        if ConfirmationStatus(row.status) in FINAL or row.finished_at is not None:
            return
        if row.attempts > job.n:
            return
        claimed = await _attempt(session, row.id, job.n)
        if claimed is not None:
            await self._resolve_claimed(session, row, claimed, now)
            return
        shop = await session.get(Shop, row.shop)
        if shop is None:
            await self.finish(session, row, ConfirmationStatus.FAILED, now)
            return
        opening = next_opening(now, shop.window_start, shop.window_end, shop.timezone)
        if opening is not None:
            wait = (opening - now).total_seconds()
            raise RetryLater(f"outside {shop.id}'s calling window; opens {opening}", wait)
        if await is_blocked(session, row.phone, row.shop):
            await self.finish(session, row, ConfirmationStatus.DO_NOT_CALL, now)
            return
        await self._check_capacity(session, shop)
        sender = self._sender()
        channel_id = new_channel_id(now)
        if not await self._claim(row, job.n, channel_id, now):
            return  # another worker has it
        result, reason = await self._dial(sender, row, shop, channel_id)
        await session.refresh(row)
        attempt = await _attempt(session, row.id, job.n)
        assert attempt is not None
        attempt.originate_reason = reason
        if result == "failed":
            cause = await self._hangup_cause(channel_id)
            attempt.hangup_cause = cause
            result = _CAUSES.get(cause or 0, result)
        await self._attempt_done(session, row, attempt, result, self._clock.now())

    async def _check_capacity(self, session: AsyncSession, shop: Shop) -> None:
        dialling = ConfirmationStatus.DIALLING.value
        total = await session.scalar(
            select(func.count()).select_from(Confirmation).where(Confirmation.status == dialling)
        )
        if (total or 0) >= self.settings.max_concurrent:
            raise RetryLater(
                "at the global limit of concurrent calls", self.settings.capacity_wait_s
            )
        mine = await session.scalar(
            select(func.count())
            .select_from(Confirmation)
            .where(Confirmation.status == dialling, Confirmation.shop == shop.id)
        )
        if (mine or 0) >= shop.max_concurrent:
            raise RetryLater(
                f"at {shop.id}'s limit of {shop.max_concurrent} concurrent calls",
                self.settings.capacity_wait_s,
            )

    def _sender(self) -> ActionSender:
        try:
            return connected_sender(self._ami())
        except AsteriskUnavailable as exc:
            raise RetryLater(exc.message, self.settings.capacity_wait_s) from None

    async def _claim(self, row: Confirmation, n: int, channel_id: str, now: datetime) -> bool:
        """Take attempt ``n`` for this worker, committed before anything is dialled."""
        async with self._sessions() as s, s.begin():
            won = await s.execute(
                update(Confirmation)
                .where(
                    Confirmation.id == row.id,
                    Confirmation.status == ConfirmationStatus.QUEUED.value,
                    Confirmation.attempts == n - 1,
                )
                .values(status=ConfirmationStatus.DIALLING.value, attempts=n, updated_at=now)
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                return False
            s.add(
                ConfirmationAttempt(
                    confirmation_id=row.id, n=n, channel_id=channel_id, started_at=now
                )
            )
        return True

    async def _dial(
        self, sender: ActionSender, row: Confirmation, shop: Shop, channel_id: str
    ) -> tuple[str, int | None]:
        try:
            channel = dial_string(self.settings.dial_template, row.phone)
            result = await run_action(
                partial(
                    originate,
                    sender,
                    channel,
                    context=self.settings.context,
                    exten="s",
                    caller_id=shop.caller_id,
                    ring_timeout=self.settings.ring_timeout_s,
                    channel_id=channel_id,
                    variables={
                        "CTI_CONFIRMATION": row.public_id,
                        "CTI_ORDER_ID": row.order_id,
                        "CTI_DIRECTION": "outbound",
                        "CTI_CUSTOMER": row.phone,
                        "CTI_SHOP": row.shop,
                    },
                ),
                what=f"the call of {row.public_id}",
            )
        except (ValueError, phonenumbers.NumberParseException) as exc:
            log.error("confirmation %s cannot be dialled: %s", row.public_id, exc)
            return "failed", None
        except AsteriskFailed as exc:
            log.warning("%s", exc.message)
            return "failed", None
        except (AsteriskUnavailable, AsteriskTimeout) as exc:
            # Whether the phone rings is unknown: the tracker will tell if the call exists.
            log.warning("confirmation %s: outcome of the dialling unknown: %s", row.public_id, exc)
            return "unknown", None
        return _RESULTS.get(result.reason, "failed"), result.reason

    async def _attempt_done(
        self,
        session: AsyncSession,
        row: Confirmation,
        attempt: ConfirmationAttempt,
        result: str,
        now: datetime,
    ) -> None:
        attempt.result = result
        if result == "answered" or (
            result == "unknown" and self._live_call(attempt.channel_id) is not None
        ):
            # The IVR has the customer now (or the call is there after all): the key or
            # the hang-up settles the attempt; the check is there for a missed end.
            await self._watch(session, row, attempt.n, now)
            return
        attempt.ended_at = now
        if ConfirmationStatus(row.status) in FINAL:
            return
        if row.attempts < row.max_attempts:
            at = now + self.settings.backoff().delay(row.attempts)
            await self._retry(session, row, attempt.n, at=at, now=now)
            return
        await self.finish(session, row, _EXHAUSTED.get(result, ConfirmationStatus.FAILED), now)

    async def _watch(self, session: AsyncSession, row: Confirmation, n: int, now: datetime) -> None:
        await enqueue(
            session,
            kind=DIAL_JOB,
            key=check_key(row.public_id, n),
            payload=DialPayload(public_id=row.public_id, n=n).model_dump(),
            now=now,
            run_after=now + timedelta(seconds=self.settings.answered_check_s),
        )

    async def _retry(
        self, session: AsyncSession, row: Confirmation, n: int, *, at: datetime, now: datetime
    ) -> None:
        """Queue attempt ``n + 1``, unless attempt ``n`` was settled meanwhile elsewhere."""
        won = await session.execute(
            update(Confirmation)
            .where(
                Confirmation.id == row.id,
                Confirmation.status == ConfirmationStatus.DIALLING.value,
                Confirmation.attempts == n,
            )
            .values(status=ConfirmationStatus.QUEUED.value, next_attempt_at=at, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(row)
        if won.rowcount != 1:  # type: ignore[attr-defined]
            log.info("confirmation %s: attempt %d was settled elsewhere", row.public_id, n)
            return
        await schedule_attempt(session, row, n + 1, at=at, now=now)

    async def _resolve_claimed(
        self,
        session: AsyncSession,
        row: Confirmation,
        attempt: ConfirmationAttempt,
        now: datetime,
    ) -> None:
        """This attempt was claimed by an earlier run, or its answered call is being
        watched: never dial it again; settle it when its call is over and nobody did."""
        if attempt.ended_at is not None or ConfirmationStatus(row.status) in FINAL:
            return
        if attempt.result not in (None, "answered", "unknown"):
            return
        ami = self._ami()
        if ami is None or not getattr(ami, "synced", False):
            # Only once the tracker has Asterisk's list of calls does "not live" mean over.
            raise RetryLater("waiting for Asterisk's list of calls (AMI)", 5)
        if self._live_call(attempt.channel_id) is not None:
            wait = 10.0 if attempt.result is None else self.settings.answered_check_s
            raise RetryLater("the attempt's call is still in progress", wait)
        seen = self._ends_seen.get(attempt.channel_id)
        if seen is not None and self._clock.monotonic() - seen < SETTLING_S:
            raise RetryLater("the attempt's call has just ended and is being settled", 2)
        if attempt.result is None:
            deadline = attempt.started_at + timedelta(seconds=self.settings.ring_timeout_s + 20)
            if now < deadline:
                raise RetryLater("waiting to learn whether the attempt's call exists", 5)
        log.warning(
            "confirmation %s: attempt %d (%s) ended unseen, or no call came of it; counted as lost",
            row.public_id,
            attempt.n,
            attempt.result or "claimed",
        )
        await self._attempt_done(session, row, attempt, "lost", now)

    # -- the confirm app -----------------------------------------------------------------

    async def facts(self, public_id: str) -> Facts | None:
        """What the ``confirm`` app reads out; None for an unknown or finished confirmation."""
        async with self._sessions() as session:
            row = await _confirmation(session, public_id)
        if row is None or ConfirmationStatus(row.status) in FINAL:
            return None
        return Facts.from_stored(row.order_id, row.facts)

    # -- results -------------------------------------------------------------------------

    async def finish(
        self,
        session: AsyncSession,
        row: Confirmation,
        status: ConfirmationStatus,
        now: datetime,
    ) -> None:
        """Set the final result and tell the shop, unless it has one already (then nothing)."""
        won = await session.execute(
            update(Confirmation)
            .where(Confirmation.id == row.id, Confirmation.finished_at.is_(None))
            .values(status=status.value, finished_at=now, updated_at=now, next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(row)
        if won.rowcount != 1:  # type: ignore[attr-defined]
            log.info("confirmation %s was finished elsewhere (%s)", row.public_id, row.status)
            return
        await self._notify(session, row, now)

    async def record_answer(
        self, public_id: str, uniqueid: str, digit: str | None, result: str
    ) -> None:
        """The ``confirm`` app's verdict for the call ``uniqueid`` (our ``ChannelId``)."""
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            row = await _confirmation(session, public_id)
            if row is None or ConfirmationStatus(row.status) in FINAL:
                return
            attempt = await session.scalar(
                select(ConfirmationAttempt).where(ConfirmationAttempt.channel_id == uniqueid)
            )
            if attempt is None or attempt.confirmation_id != row.id:
                log.warning("confirm app: %s is not a call of %s", uniqueid, public_id)
                return
            attempt.digit = digit if digit in DIGIT_STATUS else None
            if result == "failed":
                # The app could not read the order to the customer: a failed attempt,
                # tried again like any other.
                await self._attempt_done(session, row, attempt, "failed", now)
                return
            attempt.result = "answered"
            attempt.ended_at = now
            status = DIGIT_STATUS.get(digit or "", ConfirmationStatus.NOT_CONFIRMED)
            await self.finish(session, row, status, now)

    async def on_call_ended(self, linkedid: str, answered: bool, cause: int | None = None) -> None:
        """A call we placed ended: if it was an attempt still waiting for an answer, settle it."""
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            attempt = await session.scalar(
                select(ConfirmationAttempt).where(ConfirmationAttempt.channel_id == linkedid)
            )
            if attempt is None:
                return
            row = await session.get(Confirmation, attempt.confirmation_id)
            if row is None or ConfirmationStatus(row.status) in FINAL:
                return
            if attempt.ended_at is None:
                attempt.ended_at = now
            if attempt.hangup_cause is None:
                attempt.hangup_cause = cause
            if attempt.result is None and not answered:
                # Busy, unanswered, failed: the channel ends before Asterisk's
                # OriginateResponse reaches the dialler, which settles the attempt.
                return
            if attempt.result in ("answered", None) or (answered and attempt.result == "unknown"):
                # Answered and hung up before a digit (an answering machine, a customer
                # who said nothing): not confirmed.
                attempt.result = "answered"
                await self.finish(session, row, ConfirmationStatus.NOT_CONFIRMED, now)
            elif attempt.result == "unknown":
                await self._attempt_done(session, row, attempt, "failed", now)


async def _confirmation(session: AsyncSession, public_id: str) -> Confirmation | None:
    found: Confirmation | None = await session.scalar(
        select(Confirmation).where(Confirmation.public_id == public_id)
    )
    return found


async def _attempt(
    session: AsyncSession, confirmation_id: int, n: int
) -> ConfirmationAttempt | None:
    found: ConfirmationAttempt | None = await session.scalar(
        select(ConfirmationAttempt).where(
            ConfirmationAttempt.confirmation_id == confirmation_id, ConfirmationAttempt.n == n
        )
    )
    return found
