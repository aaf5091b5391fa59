"""Disk per hour of talk for each stored recording format (issue 15).

Makes 60 s of a two-party phone conversation: Mandarin speech synthesised by
espeak-ng (the same engine as the IVR prompts), caller and agent taking turns
with short pauses, 8 kHz 16-bit like Asterisk's MixMonitor, a faint noise floor
on each leg as on a real line (digital silence would flatter the codec). From
it, with the service's own code (``cti.recordings.audio``):

* mono WAV: the mixed file Asterisk writes (the baseline);
* stereo WAV: dual-channel mode, the caller and agent legs merged by ``sox -M``;
* Opus (mono, and stereo): ``opusenc`` at the default ``CTI_RECORDINGS_OPUS_BITRATE_KBPS``
  per channel.

Prints bytes per hour of talk and the ratio to mono WAV, and how fast opusenc
encodes (seconds of audio per second of CPU, on a 10-minute file), which bounds
the longest call a catalog job converts within its lease (``CTI_JOBS_LEASE_S``).
Writes benchmarks/results/recording_formats.json and its section of
benchmarks/RESULTS.md (``--write-up`` rewrites the section from the JSON).

    python benchmarks/recording_formats.py
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import provenance  # noqa: E402

from cti.jobs.config import JobSettings  # noqa: E402
from cti.recordings.audio import merge_dual, read_opus, read_wav, run_tool, to_opus  # noqa: E402
from cti.recordings.config import RecordingSettings  # noqa: E402

NAME = "recording_formats"
LOW_COMPLEXITY = 5
"""The cheaper opusenc setting compared with the default (10): ``--comp 5``."""
LABELS = {
    "wav_mono": "WAV mono (baseline)",
    "wav_stereo": "WAV stereo (dual-channel)",
    "opus_mono": "Opus mono",
    "opus_stereo": "Opus stereo",
}
RATE = 8000
SECONDS = 60.0
GAP_S = 0.4
NOISE = 24
"""Noise floor amplitude (of 32767): about -63 dBFS, a quiet line."""
CALLER = [
    "你好，我上周买的保温杯还没有收到，订单号是一二三四五六。",
    "快递单号显示已经到了北京，但是一直没有派送。",
    "好的，那大概什么时候能送到？",
    "可以，我明天下午都在家。麻烦你们尽快处理。",
    "没有别的问题了，谢谢你。",
]
AGENT = [
    "您好，很高兴为您服务，请问有什么可以帮您？",
    "请稍等，我帮您查询一下这个订单的物流信息。",
    "查到了，您的包裹在朝阳区的配送站，我马上帮您联系快递员。",
    "预计明天下午送达，送货前快递员会先给您打电话。",
    "不客气，祝您生活愉快，再见。",
]


def speak(text: str, out: Path) -> list[int]:
    """One utterance as 8 kHz 16-bit samples (espeak-ng, resampled by sox)."""
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "cmn", "-s", "175", "-w", str(raw), text], check=True)
    # Normalised to -3 dBFS: espeak-ng's peaks would clip in the resampler.
    to_line = ["-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]
    subprocess.run(["sox", str(raw), *to_line, str(out), "gain", "-n", "-3"], check=True)
    with wave.open(str(out), "rb") as w:
        samples = array.array("h")
        samples.frombytes(w.readframes(w.getnframes()))
    return list(samples)


def conversation(work: Path) -> tuple[list[int], list[int]]:
    """Caller and agent legs of ``SECONDS`` of turn-taking talk (equal lengths)."""
    texts = [text for pair in zip(AGENT, CALLER, strict=True) for text in pair]
    turns = [speak(text, work / f"u{i}.wav") for i, text in enumerate(texts)]
    caller: list[int] = []
    agent: list[int] = []
    gap = [0] * round(GAP_S * RATE)
    total = round(SECONDS * RATE)
    i = 0
    while len(caller) < total:
        speech = turns[i % len(turns)]
        talking, listening = (agent, caller) if i % 2 == 0 else (caller, agent)
        talking.extend(speech + gap)
        listening.extend([0] * (len(speech) + len(gap)))
        i += 1
    rng = random.Random(15)

    def line(samples: list[int]) -> list[int]:
        return [max(-32768, min(32767, s + rng.randint(-NOISE, NOISE))) for s in samples[:total]]

    return line(caller), line(agent)


def write(path: Path, *channels: list[int]) -> Path:
    frames = array.array("h", [s for frame in zip(*channels, strict=True) for s in frame])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(len(channels))
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(frames.tobytes())
    return path


async def timed_child(run: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """Wall seconds and the child processes' CPU seconds of ``run()``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    await run()
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


async def measure(work: Path) -> dict[str, Any]:
    kbps = RecordingSettings().opus_bitrate_kbps
    caller, agent = conversation(work)
    mixed = [max(-32768, min(32767, a + b)) for a, b in zip(caller, agent, strict=True)]
    mono = write(work / "mono.wav", mixed)
    legs = write(work / "caller.wav", caller), write(work / "agent.wav", agent)
    stereo = work / "stereo.wav"
    await merge_dual(*legs, stereo)
    opus_mono, opus_stereo = work / "mono.opus", work / "stereo.opus"
    await to_opus(mono, opus_mono, kbps)
    await to_opus(stereo, opus_stereo, kbps * 2)

    # Encoding speed, on 10 minutes (the 60 s repeated) so start-up cost does not dominate.
    long_wav = write(work / "long.wav", mixed * 10)
    audio_s = read_wav(long_wav).duration_s
    wall, cpu = await timed_child(lambda: to_opus(long_wav, work / "long.opus", kbps))
    # The cheaper setting, same file, same bitrate: what it would save and cost.
    low = work / "long-low.opus"
    low_args = ["opusenc", "--quiet", "--bitrate", str(kbps), "--comp", str(LOW_COMPLEXITY)]
    low_wall, low_cpu = await timed_child(
        lambda: run_tool([*low_args, str(long_wav), str(low)], 600)
    )
    default_bytes = (work / "long.opus").stat().st_size

    durations = {
        "wav_mono": read_wav(mono).duration_s,
        "wav_stereo": read_wav(stereo).duration_s,
        "opus_mono": read_opus(opus_mono).duration_s,
        "opus_stereo": read_opus(opus_stereo).duration_s,
    }
    sizes = {
        "wav_mono": mono.stat().st_size,
        "wav_stereo": stereo.stat().st_size,
        "opus_mono": opus_mono.stat().st_size,
        "opus_stereo": opus_stereo.stat().st_size,
    }
    base = sizes["wav_mono"] / durations["wav_mono"]
    formats: dict[str, dict[str, float]] = {}
    for name, size in sizes.items():
        per_s = size / durations[name]
        formats[name] = {
            "bytes": size,
            "duration_s": round(durations[name], 3),
            "bytes_per_hour": round(per_s * 3600),
            "mib_per_hour": round(per_s * 3600 / 2**20, 2),
            "ratio_to_wav_mono": round(per_s / base, 4),
        }
    return {
        "benchmark": NAME,
        "opusenc": _version(["opusenc", "--version"]),
        "sox": _version(["sox", "--version"]),
        "audio": f"{SECONDS:g} s Mandarin conversation (espeak-ng), 8 kHz 16-bit, "
        f"noise floor ±{NOISE}",
        "audio_seconds": SECONDS,
        "noise_floor": NOISE,
        "opus_bitrate_kbps_per_channel": kbps,
        "formats": formats,
        "opus_encode": {
            "audio_s": audio_s,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "realtime_factor": round(audio_s / wall, 1),
            "realtime_factor_cpu": round(audio_s / cpu, 1),
        },
        "opus_encode_low_complexity": {
            "complexity": LOW_COMPLEXITY,
            "wall_s": round(low_wall, 3),
            "cpu_s": round(low_cpu, 3),
            "speedup_cpu": round(cpu / low_cpu, 2),
            "bytes_ratio": round(low.stat().st_size / default_bytes, 3),
        },
        "jobs_lease_s_default": JobSettings.model_fields["lease_s"].default,
    }


def _version(args: list[str]) -> str:
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-up", action="store_true", help="only rewrite RESULTS.md from the JSON")
    if ap.parse_args().write_up:
        stored = json.loads((provenance.RESULTS_DIR / f"{NAME}.json").read_text("utf-8"))
        provenance.write_section(NAME, write_up(stored))
        return
    for tool in ("espeak-ng", "sox", "opusenc"):
        if shutil.which(tool) is None:
            sys.exit(
                f"recording_formats: {tool} is not installed (Debian: espeak-ng sox opus-tools)"
            )
    code = provenance.commit()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(Path(tmp)))
    result["provenance"] = provenance.provenance(code)
    formats: dict[str, dict[str, float]] = result["formats"]
    enc: dict[str, float] = result["opus_encode"]
    print(
        f"{result['audio']}; Opus at {result['opus_bitrate_kbps_per_channel']} kbit/s per channel"
    )
    print(f"{'format':<14}{'bytes/hour':>14}{'MiB/hour':>10}{'ratio':>9}")
    for name, row in formats.items():
        print(
            f"{name:<14}{row['bytes_per_hour']:>14,.0f}{row['mib_per_hour']:>10.2f}"
            f"{row['ratio_to_wav_mono']:>9.3f}"
        )
    print(
        f"opusenc: {enc['audio_s']:g} s of audio in {enc['wall_s']:.2f} s "
        f"({enc['realtime_factor']:g}x real time, {enc['realtime_factor_cpu']:g}x per CPU second)"
    )
    path = provenance.write_json(NAME, result)
    print(f"wrote {path.relative_to(REPO)}")
    provenance.write_section(NAME, write_up(result))
    print(f"wrote benchmarks/RESULTS.md ({NAME})")


def write_up(r: dict[str, Any]) -> str:
    """The section of RESULTS.md, from a run's JSON."""
    enc, low = r["opus_encode"], r["opus_encode_low_complexity"]
    rows = [
        f"| {LABELS.get(name, name)} | {row['bytes_per_hour']:,} | {row['mib_per_hour']:.2f} "
        f"| {row['ratio_to_wav_mono']:.3f} |"
        for name, row in r["formats"].items()
    ]
    lease = r["jobs_lease_s_default"]
    longest_min = lease * enc["realtime_factor"] / 60
    return f"""## Recording formats: `benchmarks/recording_formats.py` (issue 15)

{r["audio_seconds"]:g} s of a two-party Mandarin conversation (espeak-ng, turns with pauses,
8 kHz 16-bit, a ±{r["noise_floor"]} noise floor on each leg as on a real line), stored
through the service's own code
(`cti.recordings.audio`: `sox -M` for stereo, `opusenc` for Opus at the default
{r["opus_bitrate_kbps_per_channel"]} kbit/s per channel). Baseline: the mono WAV
Asterisk's MixMonitor writes; each format's bytes per hour of talk from its size and
its duration as read back from the file.

| format | bytes per hour of talk | MiB/hour | ratio to mono WAV |
|---|---|---|---|
{chr(10).join(rows)}

{r["opusenc"]} encoded {enc["audio_s"]:g} s of the same audio (mono) in {enc["wall_s"]:.2f} s
wall, {enc["cpu_s"]:.2f} s of its CPU: {enc["realtime_factor"]:g}x real time
({enc["realtime_factor_cpu"]:g}x per CPU second). The catalog job encodes within its lease
(`CTI_JOBS_LEASE_S`, default {lease:g} s): at this run's speed, calls up to about
{longest_min:.0f} minutes. A lower complexity (`--comp {low["complexity"]}`, same bitrate) took
{low["cpu_s"]:.2f} s of CPU ({low["speedup_cpu"]:g}x faster) for {low["bytes_ratio"]:.3f} times
the bytes; the service uses opusenc's default complexity.

{provenance.describe(r["provenance"])}

Reproduce: `python benchmarks/recording_formats.py` (needs `espeak-ng`, `sox`, `opus-tools`).
"""


if __name__ == "__main__":
    main()
