"""The voicemail FastAGI app: a caller the hotline cannot serve now leaves a message.

The dialplan sends a call here outside business hours (the routing decision
says ``voicemail``) or after the caller waited too long in the queue. The
caller hears why, leaves a message after the beep, and every such call becomes
a callback task for the next shift, even when the caller hangs up before
speaking: the number alone is worth calling back.

What Asterisk answers is checked before use: the message is recorded next to
the call's MixMonitor file only if that folder lies under the recordings root
(``CTI_RECORDINGS_ROOT``, as Asterisk sees its file system); anything else (a
``..``, a path elsewhere) is refused with a warning and the message goes to
``recording_dir``. Ids must look like Asterisk's, reasons like the dialplan's.
"""

from __future__ import annotations

import logging
import posixpath
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
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
DEFAULT_RECORDINGS_ROOT = "/var/spool/asterisk/monitor"


OnVoicemail = Callable[[Voicemail], Awaitable[None]]


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return None if value in ("", "unknown", "<unknown>") else value


def under_root(path: str, root: str) -> bool:
    """``path`` is a plain absolute path (no ``.``, ``..``, ``//``) inside ``root``."""
    return (
        _SAFE_PATH.match(path) is not None
        and posixpath.normpath(path) == path
        and path.startswith(root.rstrip("/") + "/")
    )


def _safe_id(value: str | None) -> str | None:
    return value if value is not None and _SAFE_ID.match(value) else None


def voicemail_app(
    on_voicemail: OnVoicemail,
    recordings_root: str = DEFAULT_RECORDINGS_ROOT,
    recording_dir: str | None = None,
    max_seconds: int = 120,
) -> Callable[[AgiSession], Awaitable[None]]:
    """``recording_dir`` (default ``<recordings_root>/cti/voicemail``) takes messages of
    calls without a usable MixMonitor folder; it must lie under ``recordings_root``."""
    fallback_dir = recording_dir or f"{recordings_root.rstrip('/')}/cti/voicemail"
    if not under_root(fallback_dir, recordings_root):
        raise ValueError(f"voicemail folder {fallback_dir} is not under {recordings_root}")

    def message_folder(uniqueid: str, mixmonitor: str | None) -> str:
        if not mixmonitor:
            return fallback_dir
        folder = mixmonitor.rpartition("/")[0]
        if under_root(folder, recordings_root):
            return folder
        log.warning(
            "voicemail call %s: MIXMONITOR_FILENAME %r is outside %s; recording to %s",
            uniqueid,
            mixmonitor[:200],
            recordings_root,
            fallback_dir,
        )
        return fallback_dir

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
            why = (why or "busy").lower()
            reason = why if _REASON.match(why) else "busy"
            prompt = "cti/cti-closed" if reason in CLOSED_REASONS else "cti/cti-busy"
            await session.command(f'STREAM FILE {prompt} ""', timeout=PROMPT_TIMEOUT)
            # RECORD FILE does not create directories; the call's MixMonitor file has one.
            mixmonitor = await session.get_variable("MIXMONITOR_FILENAME")
            base = f"{message_folder(uniqueid, mixmonitor)}/{uniqueid}-voicemail"
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
                linkedid=_safe_id(_clean(linkedid)) or uniqueid,
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
