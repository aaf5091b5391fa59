"""WAV files for the recording tests, written with the stdlib ``wave`` module.

``tone`` and ``silence`` make 8 kHz 16-bit PCM as Asterisk's MixMonitor writes
it; ``still_recording`` writes a file as Asterisk has it open (sizes 0 in the
header, samples after it); ``channel_rms`` measures each channel of a window.
"""

from __future__ import annotations

import array
import math
import struct
import wave
from pathlib import Path

RATE = 8000


def samples_tone(seconds: float, freq: float = 440.0, amplitude: int = 12000) -> list[int]:
    n = round(seconds * RATE)
    return [round(amplitude * math.sin(2 * math.pi * freq * i / RATE)) for i in range(n)]


def samples_silence(seconds: float) -> list[int]:
    return [0] * round(seconds * RATE)


def write_wav(path: Path, *channels: list[int], rate: int = RATE) -> Path:
    """A closed PCM WAV with one list of samples per channel (equal lengths)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = array.array("h", [s for frame in zip(*channels, strict=True) for s in frame])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(len(channels))
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames.tobytes())
    return path


def tone(path: Path, seconds: float, freq: float = 440.0) -> Path:
    return write_wav(path, samples_tone(seconds, freq))


def silence(path: Path, seconds: float) -> Path:
    return write_wav(path, samples_silence(seconds))


def still_recording(path: Path, seconds: float) -> Path:
    """What Asterisk 22's format_wav has on disk before ``wav_close``: sizes still 0."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = b"RIFF" + struct.pack("<I", 0) + b"WAVEfmt " + struct.pack("<I", 16)
    header += struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
    header += b"data" + struct.pack("<I", 0)
    path.write_bytes(header + array.array("h", samples_tone(seconds)).tobytes())
    return path


def close_like_asterisk(path: Path) -> None:
    """``update_header``: data size = length - 44, RIFF size = 36 + that."""
    data = path.stat().st_size - 44
    with path.open("r+b") as fh:
        fh.seek(4)
        fh.write(struct.pack("<I", 36 + data))
        fh.seek(40)
        fh.write(struct.pack("<I", data))


def channel_rms(path: Path, start_s: float, end_s: float) -> list[float]:
    """RMS of each channel between two times, 0 for digital silence."""
    with wave.open(str(path), "rb") as w:
        channels, rate = w.getnchannels(), w.getframerate()
        w.setpos(round(start_s * rate))
        raw = w.readframes(round((end_s - start_s) * rate))
    samples = array.array("h")
    samples.frombytes(raw)
    out = []
    for c in range(channels):
        chan = samples[c::channels]
        out.append(math.sqrt(sum(s * s for s in chan) / len(chan)) if chan else 0.0)
    return out
