"""The voicemail FastAGI app: a caller the hotline cannot serve now leaves a message.

The dialplan sends a call here outside business hours (the routing decision
says ``voicemail``) or after the caller waited too long in the queue. The
caller hears why, leaves a message after the beep, and every such call becomes
a callback task for the next shift, even when the caller hangs up before
speaking: the number alone is worth calling back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ivr.fastagi import AgiError, AgiHangup, AgiSession

log = logging.getLogger(__name__)

CLOSED_REASONS = frozenset(("closed", "holiday"))
_SAFE_ID = re.compile(r"^[0-9A-Za-z._-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Voicemail:
    uniqueid: str
    linkedid: str | None
    caller_number: str | None
    caller_name: str | None
    dnis: str | None
    reason: str
    recording_path: str | None
    """Where Asterisk wrote the message (its own file system), with extension."""
    left_message: bool


OnVoicemail = Callable[[Voicemail], Awaitable[None]]


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return None if value in ("", "unknown", "<unknown>") else value


def voicemail_app(
    on_voicemail: OnVoicemail,
    recording_dir: str = "/var/spool/asterisk/monitor/cti/voicemail",
    max_seconds: int = 120,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[AgiSession], Awaitable[None]]:
    async def voicemail(session: AgiSession) -> None:
        uniqueid = session.uniqueid
        if not _SAFE_ID.match(uniqueid):
            raise AgiError(f"refusing odd uniqueid {uniqueid[:40]!r}")
        env = session.env
        recording: str | None = None
        linkedid: str | None = None
        reason = "busy"
        try:
            linkedid = await session.get_variable("CHANNEL(linkedid)")
            action = await session.get_variable("CTI_ACTION") or ""
            why = (
                await session.get_variable("CTI_REASON")
                if action == "voicemail"
                else await session.get_variable("CTI_OVERFLOW_REASON")
            )
            reason = (why or "busy").lower()
            prompt = "cti/cti-closed" if reason in CLOSED_REASONS else "cti/cti-busy"
            await session.command(f'STREAM FILE {prompt} ""')
            base = f"{recording_dir}/{clock():%Y%m%d}/{uniqueid}"
            try:
                await session.command(f'RECORD FILE {base} wav "#" {max_seconds * 1000} 0 BEEP s=6')
            finally:
                # Hanging up is how most callers end a message; what was recorded is kept.
                recording = f"{base}.wav"
            await session.command('STREAM FILE cti/cti-thanks ""')
        except AgiHangup:
            pass
        finally:
            left = recording is not None
            message = Voicemail(
                uniqueid=uniqueid,
                linkedid=_clean(linkedid) or uniqueid,
                caller_number=_clean(env.get("agi_callerid")),
                caller_name=_clean(env.get("agi_calleridname")),
                dnis=_clean(env.get("agi_dnid")) or _clean(env.get("agi_extension")),
                reason=reason,
                recording_path=recording,
                left_message=left,
            )
            await on_voicemail(message)
            log.info(
                "voicemail from %s (%s): %s",
                message.caller_number or "withheld",
                reason,
                recording or "no message",
            )

    return voicemail
