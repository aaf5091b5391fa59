"""Recording files: WAV facts, "is Asterisk done with it", stereo merge, Opus, crash safety."""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from cti.recordings.audio import (
    AudioError,
    AudioToolError,
    finish_wav_header,
    merge_dual,
    read_opus,
    read_wav,
    run_tool,
    sha256_file,
    to_opus,
    wav_complete,
)
from tests.wavs import (
    channel_rms,
    close_like_asterisk,
    samples_silence,
    samples_tone,
    silence,
    still_recording,
    tone,
    write_wav,
)

LOUD = 1000.0  # RMS of the test tone is ~8500; silence is 0


def opusinfo(path: Path) -> str:
    return subprocess.run(
        ["opusinfo", str(path)], capture_output=True, text=True, check=True
    ).stdout


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_closed_wav_states_its_format_and_length(tmp_path: Path) -> None:
    info = read_wav(tone(tmp_path / "a.wav", 2.5))
    assert (info.channels, info.rate, info.bits) == (1, 8000, 16)
    assert info.data_bytes == 2.5 * 8000 * 2 and info.duration_s == 2.5
    assert info.complete


def test_a_file_asterisk_still_writes_is_not_complete_until_closed(tmp_path: Path) -> None:
    path = still_recording(tmp_path / "live.wav", 1.0)
    assert not wav_complete(path)
    assert read_wav(path).duration_s == 0  # the header does not know yet
    close_like_asterisk(path)
    assert wav_complete(path)
    assert read_wav(path).duration_s == 1.0


def test_asterisks_pad_byte_after_the_header_update_still_counts_as_closed(
    tmp_path: Path,
) -> None:
    path = still_recording(tmp_path / "odd.wav", 0.5)
    close_like_asterisk(path)
    with path.open("ab") as fh:
        fh.write(b"\x00")  # wav_close pads an odd length after update_header
    assert wav_complete(path)


def test_a_header_promising_more_than_the_file_holds_is_not_complete(tmp_path: Path) -> None:
    path = tone(tmp_path / "cut.wav", 1.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])  # copied while still being written
    assert not wav_complete(path)


def test_extra_chunks_before_the_data_are_skipped(tmp_path: Path) -> None:
    samples = struct.pack("<4h", 1, 2, 3, 4)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    chunks = b"fmt " + struct.pack("<I", 16) + fmt
    chunks += b"LIST" + struct.pack("<I", 5) + b"INFOx\x00"  # odd size: one pad byte
    chunks += b"fact" + struct.pack("<I", 4) + struct.pack("<I", 4)
    chunks += b"data" + struct.pack("<I", len(samples)) + samples
    path = tmp_path / "chunks.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
    info = read_wav(path)
    assert info.data_bytes == 8 and info.data_offset == path.stat().st_size - 8
    assert info.complete


def test_what_is_not_a_wav_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"OggS" + bytes(100))
    with pytest.raises(AudioError):
        read_wav(path)
    assert not wav_complete(path)
    assert not wav_complete(tmp_path / "absent.wav")


def test_an_abandoned_file_gets_the_sizes_asterisk_would_have_written(tmp_path: Path) -> None:
    path = still_recording(tmp_path / "crashed.wav", 1.5)
    with path.open("ab") as fh:
        fh.write(b"\x01")  # half a sample, cut by the crash
    info = finish_wav_header(path)
    assert info.complete and info.duration_s == 1.5


def test_sha256_is_of_the_whole_file(tmp_path: Path) -> None:
    path = tone(tmp_path / "a.wav", 3.0)
    assert sha256_file(path, chunk=4096) == hashlib.sha256(path.read_bytes()).hexdigest()


async def test_dual_legs_become_one_stereo_file_caller_left_agent_right(tmp_path: Path) -> None:
    # The caller talks for 1 s then hangs up; the agent's leg is silent for 2 s.
    caller = tone(tmp_path / "c.caller.wav", 1.0)
    agent = silence(tmp_path / "c.agent.wav", 2.0)
    out = tmp_path / "c.wav"
    await merge_dual(caller, agent, out)
    info = read_wav(out)
    assert info.channels == 2 and info.complete
    assert info.duration_s == 2.0  # the shorter leg is padded, not the longer cut
    left, right = channel_rms(out, 0.1, 0.9)
    assert left > LOUD and right == 0
    assert channel_rms(out, 1.1, 1.9) == [0, 0]


async def test_the_agent_leg_is_on_the_right(tmp_path: Path) -> None:
    caller = write_wav(tmp_path / "c.caller.wav", samples_silence(1.0))
    agent = write_wav(tmp_path / "c.agent.wav", samples_tone(1.0, 300))
    out = tmp_path / "c.wav"
    await merge_dual(caller, agent, out)
    left, right = channel_rms(out, 0.1, 0.9)
    assert left == 0 and right > LOUD


async def test_opus_is_an_ogg_opus_stream_of_the_same_length_and_much_smaller(
    tmp_path: Path,
) -> None:
    wav = tone(tmp_path / "a.wav", 5.0)
    out = tmp_path / "a.opus"
    await to_opus(wav, out, 16)
    data = out.read_bytes()
    assert data[:4] == b"OggS" and b"OpusHead" in data[:100]
    info = read_opus(out)
    assert info.channels == 1
    assert abs(info.duration_s - 5.0) < 0.05
    assert len(data) < wav.stat().st_size / 5
    if shutil.which("opusinfo"):
        assert "Playback length: 0m:05." in opusinfo(out)


def test_an_opus_file_cut_short_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.opus"
    path.write_bytes(b"OggS" + bytes(200))
    with pytest.raises(AudioError):
        read_opus(path)


async def test_a_failing_tool_leaves_neither_final_nor_temporary_file(tmp_path: Path) -> None:
    caller = tone(tmp_path / "c.caller.wav", 1.0)
    out = tmp_path / "c.wav"
    with pytest.raises(AudioToolError, match=r"sox failed \(exit \d+\): .*missing"):
        await merge_dual(caller, tmp_path / "missing.agent.wav", out)
    assert listing(tmp_path) == ["c.caller.wav"]


async def test_a_tool_that_hangs_is_stopped_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AudioToolError, match=r"sleep did not finish within 0\.2 s"):
        await run_tool(["sleep", "30"], timeout=0.2)


async def test_a_tool_that_is_not_installed_says_so() -> None:
    with pytest.raises(AudioToolError, match="no-such-encoder is not installed"):
        await run_tool(["no-such-encoder"], timeout=5)
