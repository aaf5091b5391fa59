"""The call tracker's dispatch tables: AMI event name (or VarSet variable) -> handler.

An event not in the table does not concern calls and is ignored. Handlers
wrapped in :func:`~cti.tracking.state.known_channel` act only on channels the
tracker knows and follow a changed ``Linkedid`` first; the others look the
channel up themselves (dialplan steps and variables never move a channel, and
transfers name several channels).
"""

from __future__ import annotations

from cti.tracking.on_channel import (
    VARIABLES,
    on_bridge_enter,
    on_hangup,
    on_hangup_request,
    on_newcallerid,
    on_newchannel,
    on_newexten,
    on_rename,
)
from cti.tracking.on_dial import on_dial_begin, on_dial_end
from cti.tracking.on_features import (
    on_attended_transfer,
    on_blind_transfer,
    on_hold,
    on_mixmonitor_start,
    on_mixmonitor_stop,
    on_unhold,
)
from cti.tracking.on_queue import (
    on_agent_called,
    on_agent_complete,
    on_agent_connect,
    on_agent_ring_no_answer,
    on_queue_abandon,
    on_queue_join,
    on_queue_leave,
)
from cti.tracking.state import Handler, known_channel

__all__ = ["HANDLERS", "VARIABLES"]

HANDLERS: dict[str, Handler] = {
    # channel life
    "Newchannel": on_newchannel,
    "Newexten": on_newexten,
    "NewCallerid": known_channel(on_newcallerid),
    "Rename": on_rename,
    "BridgeEnter": known_channel(on_bridge_enter),
    "Hangup": known_channel(on_hangup),
    "HangupRequest": on_hangup_request,
    "SoftHangupRequest": on_hangup_request,
    # app_queue
    "QueueCallerJoin": known_channel(on_queue_join),
    "QueueCallerLeave": known_channel(on_queue_leave),
    "QueueCallerAbandon": known_channel(on_queue_abandon),
    "AgentCalled": known_channel(on_agent_called),
    "AgentRingNoAnswer": known_channel(on_agent_ring_no_answer),
    "AgentConnect": known_channel(on_agent_connect),
    "AgentComplete": known_channel(on_agent_complete),
    # Dial() outside a queue
    "DialBegin": known_channel(on_dial_begin),
    "DialEnd": known_channel(on_dial_end),
    # during the call
    "BlindTransfer": on_blind_transfer,
    "AttendedTransfer": on_attended_transfer,
    "Hold": known_channel(on_hold),
    "Unhold": known_channel(on_unhold),
    "MixMonitorStart": known_channel(on_mixmonitor_start),
    "MixMonitorStop": known_channel(on_mixmonitor_stop),
}
"""Read, never changed, by every :class:`~cti.tracking.tracker.CallTracker`.

``VarSet`` is not here: more than half of all events, it is dispatched by its
variable name through :data:`VARIABLES` (``CallTracker.feed``), so the variables
the tracker does not use are dropped before anything else is read or parsed."""
