"""Is the recordings root usable: there, writable, with room left?

Asked by ``/readyz`` and by the gauge ticker, in a worker thread: a hung
network mount must not stop the event loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RootHealth:
    ok: bool
    reason: str | None
    free_bytes: int | None
    """Space this service's user may still write; None when it cannot be told."""


def check_root(root: Path, min_free_mb: int) -> RootHealth:
    """Missing, not a directory, not writable, or below ``min_free_mb`` MiB free: not ok."""
    try:
        if not root.is_dir():
            what = "not a directory" if root.exists() else "missing"
            return RootHealth(False, f"recordings root {root} is {what}", None)
        stats = os.statvfs(root)
    except OSError as exc:
        return RootHealth(False, f"recordings root {root}: {exc.strerror or exc}", None)
    free = stats.f_bavail * stats.f_frsize
    # access() also answers EROFS for a read-only mount, without writing anything.
    if not os.access(root, os.W_OK | os.X_OK):
        return RootHealth(False, f"recordings root {root} is not writable by this service", free)
    if free < min_free_mb * MIB:
        return RootHealth(
            False,
            f"recordings root {root} has {free // MIB} MiB free, below the minimum of "
            f"{min_free_mb} MiB (CTI_RECORDINGS_MIN_FREE_MB)",
            free,
        )
    return RootHealth(True, None, free)


class RootProbe:
    """:func:`check_root` for one root, telling each answer to ``on_result`` (the gauges).

    Blocking (file system calls): run it in a thread.
    """

    def __init__(
        self,
        root: Path,
        min_free_mb: int,
        on_result: Callable[[RootHealth], None] | None = None,
    ) -> None:
        self.root = root
        self.min_free_mb = min_free_mb
        self._on_result = on_result

    def __call__(self) -> RootHealth:
        health = check_root(self.root, self.min_free_mb)
        if self._on_result is not None:
            self._on_result(health)
        return health
