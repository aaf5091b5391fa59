"""From Asterisk's files to the stored one: settle, merge, encode, and finish after a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.recordings.audio import read_opus, sha256_file, to_opus
from cti.recordings.finalise import (
    NotReady,
    RecordingFiles,
    check_settled,
    finalise,
)
from cti.recordings.health import check_root
from cti.recordings.store import OutsideRoot, RecordingStore
from tests.wavs import samples_silence, samples_tone, still_recording, tone, write_wav

STEM = "cti/20261123/1795432000.1-1795432005.3"


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    (tmp_path / "root").mkdir()
    return RecordingStore("/var/spool/asterisk/monitor", tmp_path / "root")


def files_of(store: RecordingStore) -> RecordingFiles:
    return RecordingFiles.of_asterisk(store, f"/var/spool/asterisk/monitor/{STEM}.wav")


def names(store: RecordingStore) -> list[str]:
    return sorted(p.name for p in (store.local_root / "cti/20261123").iterdir())


def test_settled_means_present_closed_and_unchanged_for_a_while(store: RecordingStore) -> None:
    files = files_of(store)
    with pytest.raises(NotReady, match="no recording file yet"):
        check_settled(files, now=0, settle_s=2)
    still_recording(files.mix, 1.0)
    with pytest.raises(NotReady, match="still being written"):
        check_settled(files, now=files.mix.stat().st_mtime + 60, settle_s=2)
    tone(files.mix, 1.0)
    mtime = files.mix.stat().st_mtime
    with pytest.raises(NotReady, match="changed less than 2 s ago"):
        check_settled(files, now=mtime + 1, settle_s=2)
    check_settled(files, now=mtime + 3, settle_s=2)


def test_paths_leaving_the_root_are_refused(store: RecordingStore, tmp_path: Path) -> None:
    with pytest.raises(OutsideRoot):
        RecordingFiles.of_asterisk(store, "/etc/passwd")
    with pytest.raises(OutsideRoot):
        RecordingFiles.of_asterisk(store, "/var/spool/asterisk/monitor/cti/../../../../etc/x.wav")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (store.local_root / "cti").mkdir()
    (store.local_root / "cti" / "20261124").symlink_to(outside)
    with pytest.raises(OutsideRoot):
        RecordingFiles.of_asterisk(store, "/var/spool/asterisk/monitor/cti/20261124/1.1-1.2.wav")
    with pytest.raises(ValueError, match="not a recording's name"):
        RecordingFiles.of_asterisk(store, f"/var/spool/asterisk/monitor/{STEM}.caller.wav")


async def test_mono_wav_is_kept_as_it_is(store: RecordingStore) -> None:
    files = files_of(store)
    tone(files.mix, 2.0)
    digest = sha256_file(files.mix)
    done = await finalise(files, stored_format="wav", opus_bitrate_kbps=16)
    assert (done.relative, done.format, done.channels, done.duration_s) == (
        f"{STEM}.wav",
        "wav",
        1,
        2.0,
    )
    assert done.sha256 == digest and done.size_bytes == files.mix.stat().st_size


async def test_dual_legs_replace_the_mix_with_stereo_then_opus(store: RecordingStore) -> None:
    files = files_of(store)
    write_wav(files.mix, samples_tone(3.0))
    write_wav(files.caller, samples_tone(3.0, 300))
    write_wav(files.agent, samples_silence(3.0))
    done = await finalise(files, stored_format="opus", opus_bitrate_kbps=16)
    assert names(store) == ["1795432000.1-1795432005.3.opus"]
    assert (done.format, done.channels, done.duration_s) == ("opus", 2, 3.0)
    assert read_opus(files.opus).channels == 2
    assert done.sha256 == sha256_file(files.opus)


async def test_a_crash_after_the_merge_does_not_merge_twice(store: RecordingStore) -> None:
    files = files_of(store)
    # Stereo already in place, legs not yet removed when the service stopped.
    write_wav(files.mix, samples_tone(2.0, 300), samples_silence(2.0))
    write_wav(files.caller, samples_silence(1.0))
    write_wav(files.agent, samples_silence(1.0))
    before = sha256_file(files.mix)
    done = await finalise(files, stored_format="wav", opus_bitrate_kbps=16)
    assert names(store) == ["1795432000.1-1795432005.3.wav"]
    assert done.sha256 == before and done.channels == 2 and done.duration_s == 2.0


async def test_a_crash_after_encoding_keeps_the_encoded_file_and_the_wavs_length(
    store: RecordingStore,
) -> None:
    files = files_of(store)
    tone(files.mix, 4.0)
    await to_opus(files.mix, files.opus, 16)
    encoded = files.opus.stat().st_ino
    done = await finalise(files, stored_format="opus", opus_bitrate_kbps=16)
    assert files.opus.stat().st_ino == encoded  # not encoded again
    assert names(store) == ["1795432000.1-1795432005.3.opus"]
    assert done.duration_s == 4.0


async def test_an_opus_file_alone_is_measured_from_its_pages(store: RecordingStore) -> None:
    files = files_of(store)
    tone(files.mix, 4.0)
    await to_opus(files.mix, files.opus, 16)
    files.mix.unlink()
    done = await finalise(files, stored_format="opus", opus_bitrate_kbps=16)
    assert done.format == "opus" and abs(done.duration_s - 4.0) < 0.05


async def test_stale_temporary_files_of_a_crashed_encoder_are_cleared(
    store: RecordingStore,
) -> None:
    files = files_of(store)
    tone(files.mix, 1.0)
    stale = files.opus.with_name(f".{files.opus.name}.tmp-deadbeef")
    stale.write_bytes(b"OggS half")
    await finalise(files, stored_format="opus", opus_bitrate_kbps=16)
    assert names(store) == ["1795432000.1-1795432005.3.opus"]


def test_root_health_names_what_is_wrong(tmp_path: Path) -> None:
    missing = check_root(tmp_path / "nope", 0)
    assert not missing.ok and "missing" in (missing.reason or "")
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert "not a directory" in (check_root(afile, 0).reason or "")
    full = check_root(tmp_path, 10**12)  # an exabyte minimum: always "too full"
    assert not full.ok and "below the minimum" in (full.reason or "")
    assert full.free_bytes is not None and full.free_bytes > 0
    fine = check_root(tmp_path, 1)
    assert fine.ok and fine.reason is None
