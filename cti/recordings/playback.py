"""Reading a catalogued recording's file for playback: safely opened, streamed in chunks.

The file is found by its catalog row only (:meth:`RecordingStore.path_of` checks the
row's path as text and after resolving links); the last component is opened without
following a link, without blocking on a FIFO, and must be a regular file whose size is
the catalogued one: the bytes served are the bytes the row's SHA-256 (the ETag) names.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import BinaryIO

from cti.errors import Gone
from cti.recordings.store import OutsideRoot, RecordingStore

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
MEDIA_TYPES = {"wav": "audio/wav", "opus": "audio/ogg"}


def media_type(fmt: str) -> str:
    return MEDIA_TYPES.get(fmt, "application/octet-stream")


@dataclass(slots=True)
class OpenRecording:
    file: BinaryIO
    """Closed by :func:`chunks`, or by whoever does not stream it (``close``)."""
    size: int
    mtime: float

    def close(self) -> None:
        self.file.close()


_GONE = "the recording's file is no longer available"
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def open_catalogued(store: RecordingStore, relative: str, size_bytes: int) -> OpenRecording:
    """Open the file of a catalog row, or raise :class:`Gone` (410)."""
    try:
        path = store.path_of(relative)
    except OutsideRoot:
        # Only a tampered or corrupted row gets here: the service writes relative paths.
        log.warning("a recording row's path is outside the recordings root: %r", relative)
        raise Gone(_GONE) from None
    try:
        fd = os.open(path, _FLAGS)
    except OSError:  # missing, a link (ELOOP), unreadable
        raise Gone(_GONE) from None
    file = os.fdopen(fd, "rb", buffering=0)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size != size_bytes:
        file.close()
        if stat.S_ISREG(info.st_mode):
            log.warning(
                "recording file %r is %d bytes, catalogued as %d",
                relative,
                info.st_size,
                size_bytes,
            )
        raise Gone(_GONE)
    return OpenRecording(file, info.st_size, info.st_mtime)


async def chunks(recording: OpenRecording, start: int, length: int) -> AsyncIterator[bytes]:
    """``length`` bytes from ``start``, read in a thread a chunk at a time; closes the file."""
    try:
        fd = recording.file.fileno()
        position, remaining = start, length
        while remaining > 0:
            data = await asyncio.to_thread(os.pread, fd, min(CHUNK, remaining), position)
            if not data:
                break  # shrunk under us: the server ends the response short
            position += len(data)
            remaining -= len(data)
            yield data
    finally:
        recording.close()
