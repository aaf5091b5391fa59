"""Facts about recording files, and the two conversions the catalog makes.

Reading is pure Python (the WAV header, the Ogg pages of an Opus file,
SHA-256); merging two legs into stereo (``sox -M``) and encoding Opus
(``opusenc``, opus-tools) run the Debian tools as child processes with an
argument list (no shell), a time limit, and their stderr in the error. Every
output is written under a temporary name in the target's own folder and renamed
into place once complete, so a crash never leaves a half file under a final name.

When is a WAV written by Asterisk complete? Asterisk 22's ``formats/format_wav.c``
(read at tag 22.9.0): ``wav_rewrite`` writes a 44-byte header whose RIFF size
and ``data`` size are both 0 ("ignoring sizes which will be filled in later");
``wav_write`` only appends samples (older releases rewrote the sizes after
every frame, 22 no longer does); ``wav_close`` calls ``update_header``, which
sets the ``data`` size to ``file length - 44`` and the RIFF size to ``36 +
that``, then appends one zero pad byte when the data length is odd (never for
16-bit samples). So while Asterisk writes, the header's sizes disagree with the
file length; once it closed the file they agree (the RIFF chunk ends at the end
of the file, or one byte before it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cti.fsutil import fsync_dir

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_RIFF_UNKNOWN = 0xFFFFFFFF
"""What streaming writers (sox to a pipe) put in a size they cannot know."""
_CHUNK_LIMIT = 64
"""Chunks looked at before ``data``; a real header has a handful."""
TMP_MARK = ".tmp-"
"""In every temporary name (hidden: ``.<name>.tmp-<random>``); the orphan check skips them."""
DEFAULT_TOOL_TIMEOUT_S = 3600.0


class AudioError(ValueError):
    """A file that is not what it should be (not a WAV, not an Ogg Opus stream)."""


class AudioToolError(RuntimeError):
    """An external tool (sox, opusenc) failed, timed out or is not installed."""


@dataclass(frozen=True, slots=True)
class WavInfo:
    channels: int
    rate: int
    bits: int
    data_offset: int
    """Where the samples start (44 for Asterisk's files; more with extra chunks)."""
    data_bytes: int
    """The ``data`` chunk's size as the header states it."""
    riff_size: int
    file_size: int

    @property
    def bytes_per_second(self) -> int:
        return self.rate * self.channels * self.bits // 8

    @property
    def duration_s(self) -> float:
        """Length of the audio the header declares (0 while Asterisk still writes)."""
        per_second = self.bytes_per_second
        return self.data_bytes / per_second if per_second else 0.0

    @property
    def complete(self) -> bool:
        """The header's sizes agree with the file: its writer closed it."""
        riff_end = 8 + self.riff_size
        return (
            self.riff_size != _RIFF_UNKNOWN
            and self.file_size - riff_end in (0, 1)
            and self.data_offset + self.data_bytes <= riff_end
        )


def parse_wav_header(head: bytes, file_size: int) -> WavInfo:
    """The format and sizes of a WAV file from its first bytes (``head``, up to 64 KiB).

    Chunks other than ``fmt `` and ``data`` (``LIST``, ``fact``...) are skipped
    wherever they are. Raises :class:`AudioError` for anything that is not PCM WAV.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise AudioError("not a RIFF/WAVE file")
    (riff_size,) = struct.unpack_from("<I", head, 4)
    offset = 12
    fmt: tuple[int, int, int, int] | None = None
    for _ in range(_CHUNK_LIMIT):
        if offset + 8 > len(head):
            break
        chunk_id = head[offset : offset + 4]
        (size,) = struct.unpack_from("<I", head, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(head):
                raise AudioError("fmt chunk too short")
            tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from(
                "<HHIIHH", head, body
            )
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError("data chunk before the fmt chunk")
            tag, channels, rate, bits = fmt
            if tag not in (WAVE_FORMAT_PCM, WAVE_FORMAT_EXTENSIBLE):
                raise AudioError(f"not PCM (format tag {tag:#x})")
            if channels < 1 or rate < 1 or bits not in (8, 16, 24, 32):
                raise AudioError(f"odd PCM format: {channels} ch, {rate} Hz, {bits} bit")
            return WavInfo(channels, rate, bits, body, size, riff_size, file_size)
        # Chunks are padded to an even length (RIFF); the pad is not in the size.
        offset = body + size + (size & 1)
    raise AudioError("no data chunk in the header")


def read_wav(path: Path) -> WavInfo:
    with path.open("rb") as fh:
        head = fh.read(65536)
        size = os.fstat(fh.fileno()).st_size
    return parse_wav_header(head, size)


def wav_complete(path: Path) -> bool:
    """Whether ``path`` is a WAV whose writer closed it (see the module's note on Asterisk)."""
    try:
        return read_wav(path).complete
    except (OSError, AudioError):
        return False


def finish_wav_header(path: Path) -> WavInfo:
    """Write the sizes a writer that never closed the file would have written.

    What Asterisk's ``update_header`` does at close, for a recording left open
    by a crash (only ``cti recordings check --repair`` uses it): the ``data``
    chunk runs to the end of the file, whole samples only.
    """
    info = read_wav(path)
    block = max(1, info.channels * info.bits // 8)
    data = (info.file_size - info.data_offset) // block * block
    with path.open("r+b") as fh:
        fh.truncate(info.data_offset + data)
        fh.seek(4)
        fh.write(struct.pack("<I", info.data_offset - 8 + data))
        fh.seek(info.data_offset - 4)
        fh.write(struct.pack("<I", data))
        fh.flush()
        os.fsync(fh.fileno())
    return read_wav(path)


# --- Ogg Opus ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpusInfo:
    channels: int
    pre_skip: int
    granule: int
    """Granule position of the last page: samples at 48 kHz, pre-skip included."""

    @property
    def duration_s(self) -> float:
        return max(0, self.granule - self.pre_skip) / 48000.0


def read_opus(path: Path) -> OpusInfo:
    """Channels and length of an Ogg Opus file (RFC 7845) without decoding it."""
    with path.open("rb") as fh:
        head = fh.read(512)
        size = os.fstat(fh.fileno()).st_size
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    if head[:4] != b"OggS" or len(head) < 28:
        raise AudioError("not an Ogg file")
    segments = head[26]
    packet = 27 + segments
    if head[packet : packet + 8] != b"OpusHead" or len(head) < packet + 19:
        raise AudioError("not an Ogg Opus stream")
    channels = head[packet + 9]
    (pre_skip,) = struct.unpack_from("<H", head, packet + 10)
    granule = _last_granule(tail)
    if granule is None:
        raise AudioError("no complete Ogg page at the end of the file (cut short?)")
    return OpusInfo(channels, pre_skip, max(0, granule))


def _last_granule(tail: bytes) -> int | None:
    """Granule position of the page that ends exactly at the end of ``tail``.

    The page's own length (header, lacing values) must reach the end of the
    file, so ``OggS`` inside audio data is not taken for a page, and a file cut
    in the middle of a page has none.
    """
    at = tail.rfind(b"OggS")
    while at >= 0:
        if at + 27 <= len(tail) and tail[at + 4] == 0:
            segments = tail[at + 26]
            lacing = tail[at + 27 : at + 27 + segments]
            if len(lacing) == segments and at + 27 + segments + sum(lacing) == len(tail):
                (granule,) = struct.unpack_from("<q", tail, at + 6)
                return int(granule)
        at = tail.rfind(b"OggS", 0, at)
    return None


# --- hashing -----------------------------------------------------------------------------


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# --- writing, atomically -----------------------------------------------------------------


def temp_name(final: Path) -> Path:
    """A hidden temporary file beside ``final``, for one writer."""
    return final.with_name(f".{final.name}{TMP_MARK}{secrets.token_hex(4)}")


def publish(tmp: Path, final: Path) -> None:
    """Make a finished temporary file ``final``: on disk first, then one rename."""
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def remove_stale_temps(final: Path) -> int:
    """Remove temporary files of ``final`` a crashed writer left; return how many."""
    removed = 0
    for stale in final.parent.glob(f".{final.name}{TMP_MARK}*"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
            removed += 1
    return removed


async def run_tool(args: Sequence[str], timeout: float) -> None:
    """Run ``args`` (no shell); raise :class:`AudioToolError` with its stderr on failure.

    The child is killed if it outlives ``timeout`` or the caller is cancelled
    (the job runner cuts a handler off at the end of its lease).
    """
    name = Path(args[0]).name
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise AudioToolError(f"{name} is not installed") from None
    try:
        async with asyncio.timeout(timeout):
            _, stderr = await proc.communicate()
    except BaseException as exc:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if isinstance(exc, TimeoutError):
            raise AudioToolError(f"{name} did not finish within {timeout:g} s") from None
        raise
    if proc.returncode != 0:
        lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
        said = lines[-1][:200] if lines else "no message"
        raise AudioToolError(f"{name} failed (exit {proc.returncode}): {said}")


async def _write_with(tool: Sequence[str], tmp: Path, final: Path, timeout: float) -> None:
    try:
        await run_tool(tool, timeout)
        await asyncio.to_thread(publish, tmp, final)
    finally:
        await asyncio.to_thread(tmp.unlink, missing_ok=True)


async def merge_dual(
    caller_wav: Path, agent_wav: Path, out: Path, *, timeout: float = DEFAULT_TOOL_TIMEOUT_S
) -> None:
    """Stereo WAV ``out``: left = caller, right = agent (``sox -M``).

    sox pads the shorter leg with silence to the longer one's length, so the two
    sides stay aligned from their common start (MixMonitor opens both legs at
    once). An existing ``out`` (the mono mix) is replaced in one rename.
    """
    tmp = temp_name(out)
    # -V1: only errors on stderr. The output type is given: the temp name has no suffix.
    args = ["sox", "-V1", "-M", str(caller_wav), str(agent_wav)]
    args += ["-b", "16", "-e", "signed-integer", "-t", "wav", str(tmp)]
    await _write_with(args, tmp, out, timeout)


async def to_opus(
    wav: Path, out: Path, bitrate_kbps: int, *, timeout: float = DEFAULT_TOOL_TIMEOUT_S
) -> None:
    """Ogg Opus ``out`` from ``wav`` at ``bitrate_kbps`` (VBR target, whole file) by opusenc."""
    tmp = temp_name(out)
    args = ["opusenc", "--quiet", "--bitrate", str(bitrate_kbps), str(wav), str(tmp)]
    await _write_with(args, tmp, out, timeout)
