"""From what Asterisk left to the one file the catalog lists, safely across crashes.

For a recording ``<stem>.wav`` (``MIXMONITOR_FILENAME``) Asterisk writes the
mono mix, and in dual-channel mode also ``<stem>.caller.wav`` and
``<stem>.agent.wav``. Finalising makes the stored file:

1. wait until every file present is closed (complete header) and settled;
2. legs present: merge them into a stereo ``<stem>.wav`` (replacing the mono
   mix in one rename), then remove the legs;
3. format ``opus``: encode ``<stem>.opus``, then remove ``<stem>.wav``.

Each step looks at what is on disk first, so a crash at any point is finished
by the next attempt: a stereo ``<stem>.wav`` next to its legs means the merge
was done, an ``<stem>.opus`` next to its ``<stem>.wav`` that the encoding was
(both were renamed into place only once complete). The duration is read from
the WAV header before it is encoded away; an Opus file already alone is
measured from its last Ogg page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cti.fsutil import fsync_dir
from cti.recordings.audio import (
    DEFAULT_TOOL_TIMEOUT_S,
    AudioError,
    merge_dual,
    read_opus,
    read_wav,
    remove_stale_temps,
    sha256_file,
    to_opus,
)
from cti.recordings.store import OutsideRoot, RecordingStore

log = logging.getLogger(__name__)

SUFFIXES = (".wav", ".opus")
LEG_SUFFIXES = (".caller", ".agent")


class NotReady(Exception):
    """Asterisk has not finished the files yet (missing, still open, or just closed)."""


class RecordingFileError(Exception):
    """The files are there but cannot become a recording (e.g. one leg without its mix)."""


@dataclass(frozen=True, slots=True)
class RecordingFiles:
    """Every file one recording may have on disk, checked to lie below the root."""

    stem: str
    """Relative to the root, without suffix: ``cti/20261123/<linkedid>-<uniqueid>``."""
    mix: Path
    caller: Path
    agent: Path
    opus: Path

    @classmethod
    def of(cls, store: RecordingStore, relative: str) -> RecordingFiles:
        """The files of catalog path ``relative`` (its ``.wav`` or ``.opus``).

        Raises :class:`OutsideRoot` for a path (or a symbolic link on the way)
        leading outside the root, ValueError for a name that is not a recording's.
        """
        store.check_relative(relative)
        suffix = next((s for s in SUFFIXES if relative.endswith(s)), None)
        if suffix is None:
            raise ValueError(f"not a .wav or .opus recording: {relative!r}")
        stem = relative[: -len(suffix)]
        if stem.endswith(LEG_SUFFIXES) or not stem.rpartition("/")[2]:
            raise ValueError(f"not a recording's name: {relative!r}")
        return cls(
            stem,
            store.path_of(stem + ".wav"),
            store.path_of(stem + ".caller.wav"),
            store.path_of(stem + ".agent.wav"),
            store.path_of(stem + ".opus"),
        )

    @classmethod
    def of_asterisk(cls, store: RecordingStore, asterisk_path: str) -> RecordingFiles:
        return cls.of(store, store.relative_of_asterisk(asterisk_path))

    def relative(self, path: Path) -> str:
        return self.stem + (".opus" if path == self.opus else ".wav")

    @property
    def catalog_paths(self) -> tuple[str, str]:
        return (self.stem + ".wav", self.stem + ".opus")


@dataclass(frozen=True, slots=True)
class Finalised:
    path: Path
    relative: str
    format: str
    channels: int
    duration_s: float
    size_bytes: int
    sha256: str


def _regular(path: Path) -> os.stat_result | None:
    """The file's status when it is a regular file (a FIFO or device is never read)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def check_settled(files: RecordingFiles, *, now: float, settle_s: float) -> None:
    """Raise :class:`NotReady` unless some file exists and every WAV is closed and settled."""
    present = {p: st for p in (files.mix, files.caller, files.agent) if (st := _regular(p))}
    if not present and _regular(files.opus) is None:
        raise NotReady("no recording file yet")
    for path, st in present.items():
        try:
            info = read_wav(path)
        except AudioError as exc:
            # Asterisk writes the header first: a file shorter than it is still opening.
            if st.st_size < 44:
                raise NotReady(f"{path.name} is still being written") from None
            raise RecordingFileError(f"{path.name}: {exc}") from None
        if not info.complete:
            raise NotReady(f"{path.name} is still being written (header not final)")
        if now - st.st_mtime < settle_s:
            raise NotReady(f"{path.name} changed less than {settle_s:g} s ago")


def _unlink(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    fsync_dir(paths[0].parent)


async def _merge_legs(files: RecordingFiles, timeout: float) -> None:
    caller, agent = _regular(files.caller), _regular(files.agent)
    if caller is None and agent is None:
        return
    mix_channels = read_wav(files.mix).channels if _regular(files.mix) else None
    if caller is not None and agent is not None:
        if mix_channels != 2:
            await asyncio.to_thread(remove_stale_temps, files.mix)
            await merge_dual(files.caller, files.agent, files.mix, timeout=timeout)
        await asyncio.to_thread(_unlink, files.caller, files.agent)
        return
    lone = files.caller if caller is not None else files.agent
    if mix_channels is None:
        raise RecordingFileError(f"{lone.name} has no other leg and no mixed recording")
    if mix_channels == 1:
        # The mix holds both voices; a lone leg adds nothing a listener would miss.
        log.warning("recording %s: only %s was written; keeping the mixed file", files.stem, lone)
    await asyncio.to_thread(_unlink, lone)


async def finalise(
    files: RecordingFiles,
    *,
    stored_format: str,
    opus_bitrate_kbps: int,
    tool_timeout_s: float = DEFAULT_TOOL_TIMEOUT_S,
) -> Finalised:
    """Bring the files to their stored form (see the module's note); return its facts.

    Call :func:`check_settled` first. Raises :class:`RecordingFileError`,
    :class:`~cti.recordings.audio.AudioError` or
    :class:`~cti.recordings.audio.AudioToolError` when it cannot.
    """
    await _merge_legs(files, tool_timeout_s)
    if _regular(files.mix) is not None:
        info = await asyncio.to_thread(read_wav, files.mix)
        channels, duration = info.channels, info.duration_s
        if stored_format == "opus":
            if _regular(files.opus) is None:
                await asyncio.to_thread(remove_stale_temps, files.opus)
                # The configured bitrate is per channel: a stereo file keeps each voice as good.
                await to_opus(
                    files.mix, files.opus, opus_bitrate_kbps * channels, timeout=tool_timeout_s
                )
            await asyncio.to_thread(_unlink, files.mix)
            final = files.opus
        else:
            if _regular(files.opus) is not None:
                # Encoded under an earlier CTI_RECORDINGS_FORMAT=opus, never catalogued.
                await asyncio.to_thread(_unlink, files.opus)
            final = files.mix
    elif _regular(files.opus) is not None:
        opus = await asyncio.to_thread(read_opus, files.opus)
        channels, duration, final = opus.channels, opus.duration_s, files.opus
    else:
        raise RecordingFileError(f"{files.stem}: no recording file")
    size = final.stat().st_size
    digest = await asyncio.to_thread(sha256_file, final)
    return Finalised(
        path=final,
        relative=files.relative(final),
        format="opus" if final == files.opus else "wav",
        channels=channels,
        duration_s=round(duration, 3),
        size_bytes=size,
        sha256=digest,
    )


__all__ = [
    "Finalised",
    "NotReady",
    "OutsideRoot",
    "RecordingFileError",
    "RecordingFiles",
    "check_settled",
    "finalise",
]
