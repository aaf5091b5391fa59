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

from cti.events import Voicemail
from ivr.fastagi import AgiError, AgiHangup, AgiSession

__all__ = ["Voicemail", "voicemail_app"]

log = logging.getLogger(__name__)

CLOSED_REASONS = frozenset(("closed", "holiday"))
PROMPT_TIMEOUT = 60.0
"""Seconds a prompt may take to play; AGI answers STREAM FILE only when it ends."""
_SAFE_ID = re.compile(r"^[0-9A-Za-z._-]{1,64}$")
_ENDPOS = re.compile(r"endpos=(\d+)")
MIN_MESSAGE_SAMPLES = 8000
_SAFE_PATH = re.compile(r"^/[0-9A-Za-z/_.-]{1,200}$")


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
) -> Callable[[AgiSession], Awaitable[None]]:
    async def voicemail(session: AgiSession) -> None:
        uniqueid = session.uniqueid
        if not _SAFE_ID.match(uniqueid):
            raise AgiError(f"refusing odd uniqueid {uniqueid[:40]!r}")
        env = session.env
        recording: str | None = None
        spoke = True
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
            await session.command(f'STREAM FILE {prompt} ""', timeout=PROMPT_TIMEOUT)
            # RECORD FILE does not create directories; the call's MixMonitor file has one.
            mixmonitor = await session.get_variable("MIXMONITOR_FILENAME")
            folder = mixmonitor.rpartition("/")[0] if mixmonitor else ""
            if not _SAFE_PATH.match(folder):
                folder = ""
            base = f"{folder or recording_dir}/{uniqueid}-voicemail"
            try:
                reply = await session.command(
                    f'RECORD FILE {base} wav "#" {max_seconds * 1000} 0 BEEP s=6',
                    timeout=max_seconds + PROMPT_TIMEOUT,
                )
            except AgiHangup:
                # Hanging up is how most callers end a message; what was recorded is kept.
                recording = f"{base}.wav"
                raise
            if reply.data == "writefile":
                log.error("voicemail could not be written to %s.wav", base)
            else:
                recording = f"{base}.wav"
                # endpos: samples kept after trailing silence is cut; under 1 s is no message.
                m = _ENDPOS.search(reply.raw)
                spoke = m is None or int(m.group(1)) >= MIN_MESSAGE_SAMPLES
            await session.command('STREAM FILE cti/cti-thanks ""', timeout=PROMPT_TIMEOUT)
        except AgiHangup:
            pass
        finally:
            left = recording is not None and spoke
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
