"""What every recordings part shares: its settings, the file store and the id/link key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cti.recordings.config import RecordingSettings
from cti.recordings.ids import load_key
from cti.recordings.scoresheets import ScoreSheets, load_scoresheets
from cti.recordings.store import RecordingStore


@dataclass(frozen=True, slots=True)
class RecordingContext:
    settings: RecordingSettings
    store: RecordingStore
    key: bytes
    """HMAC key of recording ids and signed playback links."""
    sheets: ScoreSheets = field(default_factory=lambda: load_scoresheets(""))
    """QA score sheets: the built-in one and those of ``scoresheets_file``."""

    @classmethod
    def build(
        cls, settings: RecordingSettings, asterisk_root: str, data_dir: Path
    ) -> RecordingContext:
        store = RecordingStore(asterisk_root, settings.local_root or None)
        return cls(
            settings,
            store,
            load_key(settings.link_key.get_secret_value(), data_dir),
            load_scoresheets(settings.scoresheets_file),
        )
