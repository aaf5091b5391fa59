"""Recording settings, read from ``CTI_RECORDINGS_*`` environment variables.

``CTI_RECORDINGS_ROOT`` (in :class:`cti.settings.Settings`) is where Asterisk
writes; ``CTI_RECORDINGS_LOCAL_ROOT`` is where this service sees that same
directory (the devstack's chroot, a container volume), by default the same path.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class RecordingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTI_RECORDINGS_", extra="ignore")

    local_root: str = ""
    """Where this service reads the recordings root; empty means ``CTI_RECORDINGS_ROOT``."""
    format: Literal["wav", "opus"] = "wav"
    """Stored format: WAV as Asterisk wrote it, or Ogg Opus made by ``opusenc`` (opus-tools)."""
    opus_bitrate_kbps: int = Field(default=16, ge=6, le=256)
    retention_days: int = Field(default=180, ge=0, le=36500)
    """Recordings older than this are deleted by the retention job; 0 keeps them forever."""
    min_free_mb: int = Field(default=1024, ge=0)
    """Below this much free space on the recordings root, ``/readyz`` says not ready."""
    settle_s: float = Field(default=2.0, ge=0, le=600)
    """A file unchanged this long after its call ended counts as closed by Asterisk."""
    link_ttl_s: int = Field(default=300, ge=10, le=86400)
    """Lifetime of a signed playback link."""
    link_key: SecretStr = SecretStr("")
    """HMAC key of signed links; empty means a random key kept in ``data_dir``."""
    scoresheets_file: str = ""
    """JSON file of QA score sheets; empty means the built-in sheet."""
