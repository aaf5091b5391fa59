"""One wording for an AMI action's failure, whichever service sent the action."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace

import pytest

from cti.ami.codec import AmiMessage
from cti.ami.failures import (
    AsteriskFailed,
    AsteriskTimeout,
    AsteriskUnavailable,
    connected_sender,
    run_action,
)
from cti.ami.protocol import AmiActionError, AmiActionTimeout, AmiConnectionLost, AmiNotConnected
from cti.errors import DomainError


def raising(exc: Exception) -> Callable[[], Awaitable[AmiMessage]]:
    async def send() -> AmiMessage:
        raise exc

    return send


async def fails_with(exc: Exception) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await run_action(raising(exc), what="QueueAdd for queue q", note=" (done before it: x)")
    return caught.value


async def test_asterisks_refusal_is_502_with_its_message() -> None:
    refusal = AmiMessage((("Response", "Error"), ("Message", "Already there")))
    err = await fails_with(AmiActionError("QueueAdd", refusal))
    assert isinstance(err, AsteriskFailed) and err.status == 502
    assert err.message == "Asterisk refused QueueAdd for queue q: Already there (done before it: x)"
    assert err.asterisk == "Already there" and err.details == {"asterisk": "Already there"}
    bare = await fails_with(AmiActionError("QueueAdd", AmiMessage((("Response", "Error"),))))
    assert isinstance(bare, AsteriskFailed) and bare.asterisk == "Error"


async def test_no_connection_is_503_and_no_answer_504() -> None:
    err = await fails_with(AmiNotConnected("connection refused"))
    assert isinstance(err, AsteriskUnavailable) and err.status == 503
    assert err.message == "not connected to Asterisk: connection refused (done before it: x)"
    lost = await fails_with(AmiConnectionLost("eof"))
    assert isinstance(lost, AsteriskUnavailable) and lost.status == 503
    assert "lost before it answered QueueAdd for queue q; whether it was done is unknown" in (
        lost.message
    )
    late = await fails_with(AmiActionTimeout("no answer to QueueAdd within 5 s"))
    assert isinstance(late, AsteriskTimeout) and late.status == 504
    assert late.message == "no answer to QueueAdd within 5 s (done before it: x)"


async def test_other_errors_and_answers_pass_through() -> None:
    with pytest.raises(ValueError, match="bad interface"):
        await run_action(raising(ValueError("bad interface")), what="QueueAdd")

    async def ok() -> int:
        return 7

    assert await run_action(ok, what="Ping") == 7


def test_a_sender_only_when_ami_is_on_and_logged_in() -> None:
    with pytest.raises(AsteriskUnavailable, match="CTI_AMI_ENABLED=false"):
        connected_sender(None)
    with pytest.raises(AsteriskUnavailable, match=r"\(AMI\): auth failed; try again shortly"):
        connected_sender(SimpleNamespace(logged_in=False, last_error="auth failed"))
    with pytest.raises(AsteriskUnavailable, match="not logged in yet"):
        connected_sender(SimpleNamespace(logged_in=False))
    link = SimpleNamespace(logged_in=True)
    assert connected_sender(link) is link
