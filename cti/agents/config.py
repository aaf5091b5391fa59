"""Agent settings, read from ``CTI_AGENT_*`` environment variables.

``CTI_AGENT_WRAPUP_S`` (default 10): wrap-up seconds after each queue call for
agents without their own ``wrapup_s``; sent to Asterisk as the member's
``Wrapuptime`` at login, so Asterisk does not ring an agent in wrap-up.
``CTI_AGENT_PAUSE_REASONS``: the reasons a pause may give, comma-separated
(``lunch,training,after_call_work,meeting,break``) or a JSON list.
``CTI_AGENT_CHANNEL_TECH`` (default ``PJSIP``): an agent's interface is
``<tech>/<extension>``.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_PAUSE_REASONS = ("lunch", "training", "after_call_work", "meeting", "break")
REASON_RE = re.compile(r"^[a-z0-9_]{1,40}$")


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTI_AGENT_", extra="ignore")

    wrapup_s: int = Field(default=10, ge=0, le=3600)
    pause_reasons: Annotated[tuple[str, ...], NoDecode] = DEFAULT_PAUSE_REASONS
    channel_tech: str = Field(default="PJSIP", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,19}$")

    @field_validator("pause_reasons", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("pause_reasons")
    @classmethod
    def _valid_reasons(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("give at least one pause reason")
        for reason in value:
            if not REASON_RE.match(reason):
                raise ValueError(f"pause reason {reason!r}: use a-z, 0-9 and _ (at most 40)")
        return tuple(dict.fromkeys(value))

    def interface_of(self, extension: str) -> str:
        return f"{self.channel_tech}/{extension}"
