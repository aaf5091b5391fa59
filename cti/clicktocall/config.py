"""``CTI_CALLBACK_*``: how an agent's click-to-call is placed."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClickToCallSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTI_CALLBACK_", extra="ignore")

    dial_template: str = Field(
        default="PJSIP/{national}@cti-trunk", pattern=r"^[A-Za-z0-9/@._{}+-]{1,200}$"
    )
    """How the customer's number is dialled: ``{national}`` or ``{e164}`` (as for
    confirmation calls, ``CTI_CONFIRM_DIAL_TEMPLATE``)."""
    context: str = Field(default="cti-callback", pattern=r"^[A-Za-z0-9_-]{1,80}$")
    """The dialplan context run once the agent answers (``dialplans/extensions.conf``)."""
    agent_ring_s: float = Field(default=20.0, gt=0, le=120)
    """How long the agent's own phone rings before the call is given up."""
    customer_ring_s: int = Field(default=40, ge=5, le=180)
    """How long the customer's phone rings."""
    caller_id: str = Field(default="", max_length=32, pattern=r"^\+?[0-9]{0,31}$")
    """The number shown to the customer when the call has no shop, or the shop no
    ``caller_id`` (empty: the trunk's own)."""
    requeue_after_s: int = Field(default=1800, ge=60, le=7 * 86400)
    """A callback task whose customer was not reached is due again after this long."""
