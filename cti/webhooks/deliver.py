"""The ``webhooks.deliver`` job: POST one event to its shop, signed, and log the attempt.

Each attempt is written in a transaction of its own, committed before the job's
outcome: the job's transaction is rolled back when the POST fails (that is how the
runner retries), and the delivery log must keep the failed attempt all the same.
A 2xx marks the delivery delivered; anything else (another status, a timeout, a
refused connection) raises, and the runner retries with the webhook backoff. The
last failed attempt marks the delivery failed. What no retry can fix (no such
shop, no webhook URL, a URL that is not http(s)) marks it failed at once and the
job dead: ``cti jobs retry <job id>`` sends it again once the shop is fixed.

Before each POST the host is resolved and every address checked: one that is loopback,
private, link-local, multicast or unspecified makes the attempt a failure (retried as
usual: the shop may fix its DNS) unless ``CTI_WEBHOOKS_ALLOW_PRIVATE`` is on. The
connection resolves the name again; a DNS answer that changes in between (rebinding)
is not caught here, the network's egress rules are the second wall.

Neither the secret, nor the signature, nor the URL (it may carry a token) is
ever logged or stored with an error.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.clock import Clock
from cti.jobs.errors import InvalidJob, describe
from cti.jobs.models import Job
from cti.jobs.runner import JobHandler
from cti.shops.models import Shop
from cti.shops.rules import ip_literal, non_public
from cti.webhooks.config import WebhookSettings
from cti.webhooks.models import ERROR_MAX, DeliveryStatus, WebhookDelivery
from cti.webhooks.service import log_attempt, webhook_key
from cti.webhooks.signing import sign

log = logging.getLogger(__name__)

USER_AGENT = "CTI-Webhooks/1"
SIGNATURE_HEADER = "X-CTI-Signature"
EVENT_ID_HEADER = "X-CTI-Event-Id"


class DeliveryFailed(Exception):
    """The shop did not take the event (non-2xx, timeout, no connection): retry later."""


class _DeliveryPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: str


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.error is None and self.status_code is not None


def check_url(url: str | None) -> str | None:
    """Why ``url`` cannot be posted to, or None when it can (http or https with a host)."""
    if not url:
        return "the shop has no webhook URL"
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return "the shop's webhook URL is not a valid URL"
    if parsed.scheme not in ("http", "https"):
        return "the shop's webhook URL must be http or https"
    if not parsed.host:
        return "the shop's webhook URL has no host"
    return None


Resolve = Callable[[str, int], Awaitable[list[str]]]
"""A host name and port to the addresses a connection would try."""


async def resolve_host(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def signing_secrets(shop: Shop, now: datetime) -> tuple[str, str | None]:
    """The current secret, and the previous one while its rotation grace lasts."""
    previous = shop.previous_secret
    if previous and (shop.previous_until is None or shop.previous_until <= now):
        previous = None
    return shop.secret, previous


def _bounded(text: str) -> str:
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"


class WebhookSender:
    """Builds the ``webhooks.deliver`` handler; ``transport`` replaces the network in tests."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: WebhookSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolve: Resolve = resolve_host,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._settings = settings
        self._transport = transport
        self._resolve = resolve
        self._on_failure = on_failure or (lambda reason: None)

    def handler(self) -> JobHandler:
        return self.deliver

    async def deliver(self, session: AsyncSession, payload: dict[str, Any]) -> None:
        try:
            event_id = _DeliveryPayload.model_validate(payload).event_id
        except ValidationError:
            raise InvalidJob("webhook payload has no event_id") from None
        delivery = (
            await session.execute(
                select(WebhookDelivery).where(WebhookDelivery.event_id == event_id)
            )
        ).scalar_one_or_none()
        if delivery is None:
            raise InvalidJob(f"no webhook delivery {event_id}")
        if delivery.status == DeliveryStatus.DELIVERED.value:
            return  # delivered, then the job's own commit was lost: not sent twice
        job = (
            await session.execute(
                select(Job.attempts, Job.max_attempts).where(Job.key == webhook_key(event_id))
            )
        ).first()
        last_try = job is None or job.attempts >= job.max_attempts
        shop = await session.get(Shop, delivery.shop)
        now = self._clock.now()
        url = shop.webhook_url if shop is not None else None
        reason = f"no shop {delivery.shop!r}" if shop is None else check_url(url)
        if reason is None and shop is not None and not shop.secret:
            reason = "the shop has no signing secret"
        if reason is not None or shop is None or url is None:
            reason = reason or "the shop has no webhook URL"
            self._on_failure("unsendable")
            await self._record(delivery.id, Outcome(None, reason, 0), now, final=True)
            log.error("webhook %s to shop %s not sent: %s", event_id, delivery.shop, reason)
            raise InvalidJob(f"webhook not sent: {reason}")
        outcome = await self._post(shop, url, event_id, delivery.body, now)
        await self._record(delivery.id, outcome, now, final=last_try)
        log.info(
            "webhook %s to shop %s: %s in %d ms",
            event_id,
            delivery.shop,
            f"HTTP {outcome.status_code}" if outcome.delivered else outcome.error,
            outcome.duration_ms,
        )
        if outcome.delivered:
            return
        self._on_failure("status" if outcome.status_code is not None else "error")
        raise DeliveryFailed(outcome.error or "not delivered")

    async def _post(
        self, shop: Shop, url: str, event_id: str, body_text: str, now: datetime
    ) -> Outcome:
        body = body_text.encode("utf-8")
        secret, previous = signing_secrets(shop, now)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: event_id,
            SIGNATURE_HEADER: sign(secret, body, int(self._clock.time()), previous=previous),
        }
        settings = self._settings
        timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        started = self._clock.monotonic()
        status: int | None = None
        error = await self._address_refused(url)
        if error is not None:
            return Outcome(None, _bounded(error), 0)
        try:
            # trust_env off: no proxy or .netrc credentials picked up from the host's
            # environment; redirects are not followed (a 3xx is not an answer).
            async with (
                asyncio.timeout(settings.timeout_s),
                httpx.AsyncClient(
                    timeout=timeout,
                    follow_redirects=False,
                    trust_env=False,
                    transport=self._transport,
                ) as client,
                # The answer's body is never read: a status is all a receiver owes us.
                client.stream("POST", url, content=body, headers=headers) as response,
            ):
                status = response.status_code
        except (TimeoutError, httpx.TimeoutException):
            error = f"timeout after {settings.timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"no answer: {describe(exc)}"
        duration_ms = max(0, round((self._clock.monotonic() - started) * 1000))
        if status is not None and not 200 <= status < 300:
            error = f"HTTP {status}"
            if 300 <= status < 400:
                error += " (redirects are not followed)"
        return Outcome(status, _bounded(error) if error else None, duration_ms)

    async def _address_refused(self, url: str) -> str | None:
        """Why the URL's host must not be posted to (a non-public address), or None."""
        if self._settings.allow_private:
            return None
        parsed = httpx.URL(url)
        literal = ip_literal(parsed.host)
        if literal is not None:
            found = [str(literal)]
        else:
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            try:
                async with asyncio.timeout(self._settings.connect_timeout_s):
                    found = await self._resolve(parsed.host, port)
            except TimeoutError:
                wait = self._settings.connect_timeout_s
                return f"no answer: the webhook host did not resolve within {wait:g} s"
            except OSError as exc:
                why = exc.strerror or describe(exc)
                return f"no answer: the webhook host does not resolve ({why})"
        for text in found:
            address = ip_literal(text)
            kind = non_public(address) if address is not None else "no IP address"
            if kind is not None:
                return (
                    f"refused: the webhook host is {kind} ({text}), not a public server "
                    "(CTI_WEBHOOKS_ALLOW_PRIVATE=true allows it)"
                )
        return None

    async def _record(
        self, delivery_id: int, outcome: Outcome, at: datetime, *, final: bool
    ) -> None:
        async with self._sessions() as session, session.begin():
            delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
            if delivery is None:  # pragma: no cover - the row was just read
                return
            log_attempt(
                session,
                delivery,
                at=at,
                status_code=outcome.status_code,
                error=outcome.error,
                final=final,
                duration_ms=outcome.duration_ms,
            )
