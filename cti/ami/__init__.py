"""The AMI connection on top of panoramisk: login, keep-alive, reconnect, resync, actions."""

from cti.ami.client import AmiClient, ConnectionState
from cti.ami.protocol import (
    AmiActionError,
    AmiActionTimeout,
    AmiConnectionError,
    AmiConnectionLost,
    AmiError,
    AmiNotConnected,
    AmiProtocol,
)
from cti.ami.resync import ResyncSnapshot

__all__ = [
    "AmiActionError",
    "AmiActionTimeout",
    "AmiClient",
    "AmiConnectionError",
    "AmiConnectionLost",
    "AmiError",
    "AmiNotConnected",
    "AmiProtocol",
    "ConnectionState",
    "ResyncSnapshot",
]
