"""Every voicemail becomes a callback task for the next shift, through a durable job.

The voicemail AGI app delivers the :class:`~cti.events.Voicemail` on the bus and
waits: by the time the caller's leg ends, the job is in the database or in the
local spool (database down), so neither a restart nor an outage loses it.
"""

from __future__ import annotations

from cti.bus import EventBus
from cti.clock import Clock
from cti.customers.phones import PhoneNormalizer
from cti.events import Voicemail
from cti.jobs.runner import JobRunner
from cti.jobs.spool import JobSpool
from cti.tickets.callbacks import CALLBACK_JOB, callback_handler, submit_callback


def register(
    bus: EventBus, spool: JobSpool, runner: JobRunner, phones: PhoneNormalizer, clock: Clock
) -> None:
    async def voicemail_to_callback(message: Voicemail) -> None:
        await submit_callback(spool, message)

    bus.subscribe(Voicemail, voicemail_to_callback, name="tickets.voicemail_callback")
    runner.register(CALLBACK_JOB, callback_handler(phones, clock))
