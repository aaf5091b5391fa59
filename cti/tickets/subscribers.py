"""Every voicemail becomes a callback task for the next shift, with the back desk's wording."""

from __future__ import annotations

import logging
from collections import deque

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.bus import EventBus
from cti.clock import SYSTEM_CLOCK, Clock
from cti.customers.phones import PhoneNormalizer
from cti.events import Voicemail
from cti.tickets.service import create_callback_ticket

log = logging.getLogger(__name__)

_REASONS = {"closed": "非工作时间", "holiday": "节假日", "busy": "坐席忙"}


def callback_note(message: Voicemail) -> str:
    what = "客户语音留言" if message.left_message else "客户未留言，需回电"
    why = _REASONS.get(message.reason, message.reason)
    return f"{what}（{why}）；来电人：{message.caller_name or '未知'}"


class CallbackOutbox:
    """Writes callback tickets; while the database is down they wait here and are retried."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        phones: PhoneNormalizer,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.sessions = sessions
        self._phones = phones
        self._clock = clock
        self.pending: deque[Voicemail] = deque()

    async def submit(self, message: Voicemail) -> None:
        try:
            await self._write(message)
        except Exception as exc:
            log.warning(
                "callback task for %s kept for retry: %s",
                message.caller_number or "withheld",
                type(exc).__name__,
            )
            self.pending.append(message)

    async def _write(self, message: Voicemail) -> None:
        async with self.sessions() as session, session.begin():
            await create_callback_ticket(
                session,
                phones=self._phones,
                caller_number=message.caller_number,
                recording_path=message.recording_path,
                linkedid=message.linkedid,
                note=callback_note(message),
                now=self._clock.now(),
            )

    async def retry(self) -> None:
        """Write the callback tasks kept while the database was down, oldest first."""
        while self.pending:
            try:
                await self._write(self.pending[0])
            except Exception:
                return  # still down; the next round tries again
            self.pending.popleft()


def register(bus: EventBus, outbox: CallbackOutbox) -> None:
    bus.subscribe(Voicemail, outbox.submit, name="tickets.voicemail_callback")
