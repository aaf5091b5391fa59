"""The composition root: builds every piece from the settings and wires them. Nothing else.

Starting and stopping the pieces is :mod:`cti.app`'s job. Each domain registers
its own subscribers on the bus (``cti/<domain>/subscribers.py``); routers get
the services they need through :mod:`cti.http.deps`, never this module.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cti.acd import subscribers as acd_subscribers
from cti.acd.service import HotlineRouter
from cti.acd.settings import AcdSettings, load_acd_settings
from cti.agents.config import AgentSettings
from cti.agents.service import AgentService
from cti.agents.state import AgentStateTracker
from cti.ami.client import AmiClient
from cti.ami.receipt import AmiReceipt
from cti.auth.limiter import FailedLogins
from cti.bus import EventBus
from cti.calls import subscribers as calls_subscribers
from cti.calls.live import LiveCalls
from cti.calls.writer import CallRecordWriter
from cti.clicktocall import subscribers as clicktocall_subscribers
from cti.clicktocall.config import ClickToCallSettings
from cti.clicktocall.service import ClickToCall
from cti.clock import SYSTEM_CLOCK, Clock
from cti.confirmations import subscribers as confirmations_subscribers
from cti.confirmations.config import ConfirmationSettings
from cti.confirmations.dialler import Dialler
from cti.confirmations.results import notify_shop
from cti.csat import subscribers as csat_subscribers
from cti.customers import subscribers as customers_subscribers
from cti.customers.phones import PhoneNormalizer
from cti.db.engine import create_engine, create_lookup_engine, session_factory
from cti.http.deps import HttpServices
from cti.jobs.config import JobSettings
from cti.jobs.metrics import JobGauges
from cti.jobs.runner import JobRunner
from cti.jobs.spool import JobSpool, spool_dir
from cti.metrics import Metrics
from cti.pipeline import EventPipeline
from cti.queues import metrics as queue_metrics
from cti.queues import subscribers as queues_subscribers
from cti.queues.board import QueueBoard
from cti.queues.series import WaitingSeries
from cti.readiness import Readiness
from cti.recordings import subscribers as recordings_subscribers
from cti.recordings.config import RecordingSettings
from cti.recordings.context import RecordingContext
from cti.recordings.health import RootProbe
from cti.recordings.metrics import RecordingMetrics
from cti.recordings.pause import RecordingPauses
from cti.screenpop import subscribers as screenpop_subscribers
from cti.screenpop.hub import ScreenPopHub
from cti.screenpop.lookup import PopLookup
from cti.settings import Settings, load_section
from cti.stats import rollups
from cti.stats import subscribers as stats_subscribers
from cti.stats.config import StatsSettings
from cti.stats.flusher import RollupFlusher
from cti.stats.today import StatsToday
from cti.stats.writer import AgentStateWriter
from cti.tickets import subscribers as tickets_subscribers
from cti.tracking.tracker import CallTracker
from cti.webhooks import subscribers as webhooks_subscribers
from cti.webhooks.config import WebhookSettings
from cti.webhooks.deliver import WebhookSender
from ivr.confirm import confirm_app
from ivr.csat import csat_app
from ivr.fastagi import FastAgiServer
from ivr.hotline import hotline_app
from ivr.voicemail import voicemail_app


def phone_normalizer(settings: Settings, acd: AcdSettings | None = None) -> PhoneNormalizer:
    """The one normaliser: the service's region and the trunk's local area code."""
    acd = acd if acd is not None else load_acd_settings()
    return PhoneNormalizer(settings.default_region, acd.local_area_code)


class Container:
    """Every long-lived piece of one ``cti serve``, built once from the settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = SYSTEM_CLOCK,
        acd: AcdSettings | None = None,
        agent_settings: AgentSettings | None = None,
        job_settings: JobSettings | None = None,
        recording_settings: RecordingSettings | None = None,
        webhook_settings: WebhookSettings | None = None,
        confirmation_settings: ConfirmationSettings | None = None,
        stats_settings: StatsSettings | None = None,
    ) -> None:
        acd = acd if acd is not None else load_acd_settings()
        agent_settings = (
            agent_settings
            if agent_settings is not None
            else load_section(AgentSettings, "CTI_AGENT_")
        )
        jobs = job_settings if job_settings is not None else load_section(JobSettings, "CTI_JOBS_")
        self.settings = settings
        self.clock = clock
        self.stats_settings = (
            stats_settings
            if stats_settings is not None
            else load_section(StatsSettings, "CTI_STATS_")
        )
        self.confirmation_settings = (
            confirmation_settings
            if confirmation_settings is not None
            else load_section(ConfirmationSettings, "CTI_CONFIRM_")
        )
        self.recordings = RecordingContext.build(
            recording_settings
            if recording_settings is not None
            else load_section(RecordingSettings, "CTI_RECORDINGS_"),
            settings.recordings_root,
            settings.data_dir,
        )
        self.metrics = Metrics()
        self.bus = EventBus(on_failure=self.metrics.subscriber_failed)
        self.phones = phone_normalizer(settings, acd)
        self.engine: AsyncEngine = create_engine(
            settings.effective_database_url, pool_size=settings.db_pool_size
        )
        self.session_maker: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        # The AGI's caller lookup reads on a 2 ms budget: a pool of its own, one round trip.
        self.lookup_engine: AsyncEngine = create_lookup_engine(
            settings.effective_database_url, pool_size=settings.db_pool_size
        )

        self.tracker = CallTracker()
        self.agent_states = AgentStateTracker(default_wrapup_s=agent_settings.wrapup_s, clock=clock)
        self.pipeline = EventPipeline(self.tracker, self.agent_states, self.bus, self.metrics)
        self.writer = CallRecordWriter(self.session_maker, wrapup_of=self.agent_states.wrapup_of)
        self.stats_rules = self.stats_settings.rules(settings.timezone)
        # Writers mark the rollups they leave out of date; the flusher recomputes them.
        self.rollup_flusher = RollupFlusher(
            lambda: rollups.flush(self.session_maker, self.stats_rules)
        )
        self.writer.add_batch_hook(rollups.calls_hook(self.rollup_flusher.poke))
        self.agent_state_writer = AgentStateWriter(self.session_maker, self.rollup_flusher.poke)
        self.live_calls = LiveCalls(self.tracker, self.metrics.calls_active, self.writer)
        self.hotline = HotlineRouter(
            session_factory(self.lookup_engine),
            acd,
            phones=self.phones,
            availability=self.agent_states,
            clock=self.clock,
            connect=self.lookup_engine.connect,
        )
        # When each AMI read happened: the screen-pop's latency and the keep-alive.
        self.ami_receipt = AmiReceipt()
        self.screenpop = ScreenPopHub(
            PopLookup(
                self.session_maker, self.hotline.policy, phones=self.phones, clock=self.clock
            ),
            clock=self.clock,
            call_facts=self.tracker.call_facts,
            receipt=self.ami_receipt,
            on_pop=self.metrics.screenpop_seconds.observe,
        )
        # Today's figures come from cti.stats: one definition for history and the wallboard.
        self.queue_board = QueueBoard(
            self.tracker,
            self.agent_states,
            WaitingSeries(ZoneInfo(settings.timezone)),
            clock=clock,
            configured=[hotline.queue for hotline in acd.hotlines.values()],
            push=self.screenpop.to_supervisors,
        )
        self.queue_board.today = StatsToday(
            self.session_maker, self.stats_settings, settings.timezone, clock
        )
        queue_metrics.register(self.metrics.registry, self.queue_board.all_now)
        self.spool = JobSpool(
            spool_dir(settings.data_dir),
            self.session_maker,
            clock=clock,
            db_timeout=jobs.db_timeout_s,
            max_attempts=jobs.max_attempts,
        )
        self.jobs = JobRunner(
            self.session_maker,
            clock=clock,
            spool=self.spool,
            poll_interval=jobs.poll_interval,
            lease_seconds=jobs.lease_s,
            backoff=jobs.backoff(),
        )
        self.job_gauges = JobGauges(self.metrics.registry)
        self.webhook_settings = (
            webhook_settings
            if webhook_settings is not None
            else load_section(WebhookSettings, "CTI_WEBHOOKS_")
        )
        self.webhooks = WebhookSender(
            self.session_maker,
            clock,
            self.webhook_settings,
            on_failure=self.metrics.webhook_failed,
        )

        self.ami: AmiClient | None = None
        if settings.ami_enabled:
            self.ami = AmiClient(
                settings,
                on_event=self.pipeline.on_ami_event,
                on_state=self.metrics.ami_state,
                on_resync=self.pipeline.on_resync,
                receipt=self.ami_receipt,
            )
        self.agents = AgentService(self.agent_states, lambda: self.ami, agent_settings)
        self.dialler = Dialler(
            self.session_maker,
            self.confirmation_settings,
            clock=clock,
            ami=lambda: self.ami,
            live_call=self.tracker.live_call,
            notify=notify_shop,
        )
        self.click_settings = load_section(ClickToCallSettings, "CTI_CALLBACK_")
        self.click_to_call = ClickToCall(
            self.session_maker,
            self.click_settings,
            phones=self.phones,
            clock=clock,
            ami=lambda: self.ami,
            agent_states=self.agent_states,
            interface_of=agent_settings.interface_of,
            live_call=self.tracker.live_call,
            on_a_call=self.tracker.on_a_call,
        )
        self.recording_pauses = RecordingPauses(
            self.tracker.live_call,
            lambda: self.ami,
            self.pipeline.annotate,
            self.agent_states.asterisk_now,
        )
        self.recording_metrics = RecordingMetrics(self.metrics.registry)
        self.recordings_root = RootProbe(
            self.recordings.store.local_root,
            self.recordings.settings.min_free_mb,
            self.recording_metrics.root,
        )
        self.readiness = Readiness(
            self.engine, settings.ami_enabled, lambda: self.ami, self.recordings_root
        )
        self.failed_logins = FailedLogins(
            burst=settings.auth_failure_burst,
            per_minute=settings.auth_failures_per_minute,
            clock=clock,
        )

        self.agi: FastAgiServer | None = None
        if settings.agi_enabled:
            self.agi = FastAgiServer.from_settings(
                settings,
                {
                    "hotline": hotline_app(
                        self.hotline.decide, settings.agi_deadline, on_decided=self.bus.publish
                    ),
                    "voicemail": voicemail_app(self.bus.deliver, settings.recordings_root),
                    "confirm": confirm_app(
                        self.dialler.facts,
                        self.dialler.record_answer,
                        digit_timeout_s=self.dialler.settings.digit_timeout_s,
                    ),
                    "csat": csat_app(self.bus.deliver),
                },
                self.metrics,
            )

        # Each domain hears what it needs; registration order is delivery order.
        calls_subscribers.register(self.bus, self.writer, self.metrics)
        customers_subscribers.register(self.writer, self.phones)
        screenpop_subscribers.register(self.bus, self.screenpop)
        queues_subscribers.register(self.bus, self.queue_board)
        acd_subscribers.register(self.bus, self.pipeline.annotate)
        stats_subscribers.register(
            self.bus, self.agent_state_writer, lambda: self.agent_states.last_timestamp
        )
        tickets_subscribers.register(self.bus, self.spool, self.jobs, self.phones, self.clock)
        csat_subscribers.register(
            self.bus,
            self.spool,
            self.jobs,
            self.clock,
            on_rated=self._rated,
        )
        confirmations_subscribers.register(self.bus, self.jobs, self.dialler, self.clock)
        clicktocall_subscribers.register(
            self.bus, self.spool, self.jobs, self.click_settings, self.clock
        )
        recordings_subscribers.register(
            self.bus,
            self.jobs,
            self.spool,
            self.recordings,
            self.phones,
            self.clock,
            metrics=self.recording_metrics,
        )
        webhooks_subscribers.register(self.jobs, self.webhooks, self.webhook_settings)

    async def _rated(self, session: AsyncSession, linkedid: str) -> None:
        await rollups.rating_written(session, linkedid)
        self.rollup_flusher.poke()

    def sessions(self) -> AsyncSession:
        """A new session (``async with container.sessions() as session``)."""
        return self.session_maker()

    def http_services(self) -> HttpServices:
        """What the HTTP routers may use, and nothing more."""
        return HttpServices(
            settings=self.settings,
            clock=self.clock,
            metrics=self.metrics,
            sessions=self.session_maker,
            phones=self.phones,
            readiness=self.readiness,
            live_calls=self.live_calls,
            agents=self.agents,
            agent_states=self.agent_states,
            hotline=self.hotline,
            screenpop=self.screenpop,
            failed_logins=self.failed_logins,
            recordings=self.recordings,
            recording_pauses=self.recording_pauses,
            confirmations=self.confirmation_settings,
            click_to_call=self.click_to_call,
            webhooks=self.webhook_settings,
            stats=self.stats_settings,
            queue_board=self.queue_board,
        )
