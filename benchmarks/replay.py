"""Replay benchmark: the full parse + track path against panoramisk's own parsing.

Builds a large AMI byte stream from the traces we recorded from the real
Asterisk 22 (tests/fixtures/traces/*.ami), each copy with fresh Uniqueids,
Linkedids and channel names, then measures in the same process:

* baseline: panoramisk 1.4's ``AMIProtocol.data_received`` (decode, split,
  ``Message.from_line``) dispatching every event to a no-op handler;
* ours: ``AmiDecoder.feed`` + ``CallTracker.feed`` (domain events and finished
  call summaries included).

Prints events/s and the ratio ours/baseline (aim >= 1.0), then feeds 100k calls
through decoder + tracker while sampling RSS (aim: growth <= 10 MB).
Results go to benchmarks/results/replay.json.

    python benchmarks/replay.py [--copies 300] [--calls 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cti.ami.codec import AmiDecoder  # noqa: E402
from cti.tracking.events import DomainEventType  # noqa: E402
from cti.tracking.tracker import CallTracker  # noqa: E402

TRACES = REPO / "tests" / "fixtures" / "traces"
RESULTS = REPO / "benchmarks" / "results" / "replay.json"
CHUNK = 65536
_ID_KEYS = re.compile(r"(Uniqueid|Linkedid)$", re.IGNORECASE)
_CHANNEL_KEYS = re.compile(r"Channel$", re.IGNORECASE)
_CHANNEL_SUFFIX = re.compile(r"^(.*-[0-9a-f]{8})(;\d)?$")


def load_block() -> tuple[bytes, list[tuple[bytes, bytes]], int]:
    """All recorded traces as one block, plus the id values to rewrite per copy."""
    block = b""
    ids: set[str] = set()
    channels: set[str] = set()
    calls = 0
    for path in sorted(TRACES.glob("*.ami")):
        messages = AmiDecoder().feed(path.read_bytes())
        tracker = CallTracker()
        ended: set[str] = set()
        for msg in messages:
            for e in tracker.feed(msg):
                if e.type is DomainEventType.ENDED:
                    ended.add(e.linkedid)
        calls += len(ended)
        # Keep only calls that end inside the trace, so copies never pile up live calls.
        for msg in messages:
            linkedid = msg.get("Linkedid")
            if linkedid is not None and linkedid not in ended:
                continue
            for key, value in msg.headers:
                if _ID_KEYS.search(key) and value:
                    ids.add(value)
                elif _CHANNEL_KEYS.search(key) and _CHANNEL_SUFFIX.match(value):
                    channels.add(value)
            block += b"".join(f"{k}: {v}\r\n".encode() for k, v in msg.headers) + b"\r\n"
    pairs = [(f": {v}\r\n".encode(), f": {v}#{{n}}\r\n".encode()) for v in ids]
    for ch in channels:
        m = _CHANNEL_SUFFIX.match(ch)
        assert m is not None
        new = f"{m.group(1)}{{n}}{m.group(2) or ''}"
        pairs.append((f": {ch}\r\n".encode(), f": {new}\r\n".encode()))
    # Longest first, so a value never rewrites the prefix of a longer one.
    pairs.sort(key=lambda p: -len(p[0]))
    return block, pairs, calls


def copy_of(block: bytes, pairs: list[tuple[bytes, bytes]], n: int) -> bytes:
    tag = f"{n:x}".encode()
    out = block
    for old, new in pairs:
        out = out.replace(old, new.replace(b"{n}", tag))
    return out


def stream(block: bytes, pairs: list[tuple[bytes, bytes]], copies: int) -> Iterator[bytes]:
    for n in range(copies):
        yield copy_of(block, pairs, n)


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def run_panoramisk(parts: list[bytes]) -> tuple[float, int]:
    from panoramisk.ami_protocol import AMIProtocol
    from panoramisk.manager import Manager

    loop = asyncio.new_event_loop()
    manager = Manager(loop=loop)
    count = 0

    def noop(_manager: Any, _event: Any) -> None:
        nonlocal count
        count += 1

    manager.register_event("*", noop)
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    protocol.factory = manager
    protocol.encoding = "utf-8"
    t0 = time.perf_counter()
    for part in parts:
        protocol.data_received(part)
    elapsed = time.perf_counter() - t0
    loop.close()
    return elapsed, count


def run_ours(parts: list[bytes]) -> tuple[float, int, int]:
    decoder = AmiDecoder()
    tracker = CallTracker()
    events = ended = 0
    t0 = time.perf_counter()
    for part in parts:
        for msg in decoder.feed(part):
            events += 1
            for ev in tracker.feed(msg):
                if ev.type is DomainEventType.ENDED:
                    ended += 1
    elapsed = time.perf_counter() - t0
    return elapsed, events, ended


def rss_over_calls(
    block: bytes, pairs: list[tuple[bytes, bytes]], calls_per_block: int, target_calls: int
) -> dict[str, float]:
    proc = psutil.Process()
    decoder = AmiDecoder()
    tracker = CallTracker()
    ended = 0
    n = 0
    samples: list[tuple[int, float]] = []
    warmup = max(1, 1000 // max(calls_per_block, 1))
    baseline_rss = 0.0
    while ended < target_calls:
        for part in chunks(copy_of(block, pairs, n)):
            for msg in decoder.feed(part):
                for ev in tracker.feed(msg):
                    ended += ev.type is DomainEventType.ENDED
        n += 1
        if n == warmup:
            gc.collect()
            baseline_rss = proc.memory_info().rss / 2**20
        if n % 50 == 0:
            samples.append((ended, proc.memory_info().rss / 2**20))
    gc.collect()
    final = proc.memory_info().rss / 2**20
    return {
        "calls": ended,
        "rss_after_warmup_mb": round(baseline_rss, 1),
        "rss_final_mb": round(final, 1),
        "rss_growth_mb": round(final - baseline_rss, 1),
        "live_calls_left": len(tracker.active_calls()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=300, help="trace copies for the throughput run")
    ap.add_argument("--calls", type=int, default=100_000, help="calls for the memory run")
    ap.add_argument("--rounds", type=int, default=3, help="best of N rounds each")
    args = ap.parse_args()

    block, pairs, calls_per_block = load_block()
    if not block:
        print("no traces under tests/fixtures/traces", file=sys.stderr)
        return 2
    data = b"".join(stream(block, pairs, args.copies))
    parts = chunks(data)
    print(f"stream: {len(data) / 2**20:.1f} MiB, {args.copies} copies of {calls_per_block} calls")

    base_best = ours_best = float("inf")
    base_events = our_events = ended = 0
    for _ in range(args.rounds):
        gc.collect()
        t, base_events = run_panoramisk(parts)
        base_best = min(base_best, t)
        gc.collect()
        t, our_events, ended = run_ours(parts)
        ours_best = min(ours_best, t)
    base_rate = base_events / base_best
    our_rate = our_events / ours_best
    ratio = our_rate / base_rate
    print(f"panoramisk parse+dispatch (no-op): {base_rate:12,.0f} events/s ({base_events} events)")
    print(f"cti decode+track:                  {our_rate:12,.0f} events/s ({our_events} msgs)")
    print(f"ratio ours/panoramisk: {ratio:.2f}  (aim >= 1.0); calls ended: {ended}")

    stream_mib = round(len(data) / 2**20, 1)
    del data, parts  # measure the memory run without the throughput stream resident
    gc.collect()
    memory = rss_over_calls(block, pairs, calls_per_block, args.calls)
    print(
        f"memory over {memory['calls']} calls: RSS {memory['rss_after_warmup_mb']} -> "
        f"{memory['rss_final_mb']} MiB, growth {memory['rss_growth_mb']} MiB (aim <= 10); "
        f"live calls left {memory['live_calls_left']}"
    )
    result = {
        "benchmark": "replay",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "stream_mib": stream_mib,
        "baseline_events_per_s": round(base_rate),
        "ours_events_per_s": round(our_rate),
        "ratio": round(ratio, 2),
        "calls_ended": ended,
        "memory": memory,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
