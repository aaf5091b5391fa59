"""What an AMI action's failure means to whoever asked for it, said in one place.

The connection raises its own exceptions (:mod:`cti.ami.protocol`); the services that
send actions for a request (agents' queue membership and pauses, recording pauses, the
confirmation dialler) turn them into :class:`cti.errors.DomainError` s with one wording:
Asterisk refused (502, with Asterisk's message), not reachable (503), no answer in time
(504). Nothing here knows HTTP; the statuses are the domain errors' own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from cti.ami.actions import ActionSender
from cti.ami.codec import AmiMessage
from cti.ami.protocol import AmiActionError, AmiActionTimeout, AmiConnectionLost, AmiNotConnected
from cti.errors import Unavailable, UpstreamFailed, UpstreamTimeout

T = TypeVar("T")


class AsteriskFailed(UpstreamFailed):
    """Asterisk answered the action with an error; ``asterisk`` is its message."""

    def __init__(self, message: str, *, asterisk: str) -> None:
        super().__init__(message, details={"asterisk": asterisk})
        self.asterisk = asterisk


class AsteriskUnavailable(Unavailable):
    """AMI is off or not connected, or the connection broke before the answer."""


class AsteriskTimeout(UpstreamTimeout):
    """Asterisk did not answer the action in time: whether it was done is unknown."""


def asterisk_message(response: AmiMessage) -> str:
    return response.get("Message") or response.get("Response") or "error"


def connected_sender(ami: object | None) -> ActionSender:
    """The AMI link, when it can take an action now; else :class:`AsteriskUnavailable`."""
    if ami is None:
        raise AsteriskUnavailable("AMI is disabled (CTI_AMI_ENABLED=false): cannot reach Asterisk")
    if not getattr(ami, "logged_in", False):
        why = getattr(ami, "last_error", None) or "not logged in yet"
        raise AsteriskUnavailable(f"not connected to Asterisk (AMI): {why}; try again shortly")
    return cast(ActionSender, ami)


async def run_action(send: Callable[[], Awaitable[T]], *, what: str, note: str = "") -> T:
    """Await ``send()``; its AMI failures become domain errors naming ``what`` was asked.

    ``note`` ends every message (e.g. what was already done before this action).
    Anything else (a ``ValueError`` for a bad argument) passes through.
    """
    try:
        return await send()
    except AmiActionError as exc:
        message = asterisk_message(exc.response)
        raise AsteriskFailed(
            f"Asterisk refused {what}: {message}{note}", asterisk=message
        ) from None
    except AmiNotConnected as exc:
        raise AsteriskUnavailable(f"not connected to Asterisk: {exc}{note}") from None
    except AmiConnectionLost:
        raise AsteriskUnavailable(
            f"the connection to Asterisk was lost before it answered {what}; "
            f"whether it was done is unknown{note}"
        ) from None
    except AmiActionTimeout as exc:
        raise AsteriskTimeout(f"{exc}{note}") from None
