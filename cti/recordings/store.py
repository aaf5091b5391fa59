"""Where recording files live, and the only way from a name to a file.

Asterisk names a file by its own path (``MIXMONITOR_FILENAME``, below
``CTI_RECORDINGS_ROOT``); this service may see that directory elsewhere
(``CTI_RECORDINGS_LOCAL_ROOT``: the devstack's chroot, a container volume). The
catalog stores paths relative to the root. Every path is checked twice: as text
(absolute, below the root, no ``..``) and after resolving symbolic links (still
below the root), so neither a crafted name nor a planted link reaches outside.
No request ever supplies a path: the API finds files by catalog row only.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path


class OutsideRoot(ValueError):
    """A path that is not a file below the recordings root."""


class RecordingStore:
    def __init__(self, asterisk_root: str, local_root: str | Path | None = None) -> None:
        self.asterisk_root = asterisk_root.rstrip("/") or "/"
        self.local_root = Path(local_root or asterisk_root)

    def relative_of_asterisk(self, asterisk_path: str) -> str:
        """``MIXMONITOR_FILENAME`` as a path relative to the root, or :class:`OutsideRoot`."""
        if not asterisk_path.startswith("/") or "\x00" in asterisk_path:
            raise OutsideRoot(f"not an absolute path: {asterisk_path!r}")
        normal = posixpath.normpath(asterisk_path)
        if normal != asterisk_path.rstrip("/") or asterisk_path.endswith("/"):
            raise OutsideRoot(f"not a plain path: {asterisk_path!r}")
        prefix = self.asterisk_root.rstrip("/") + "/"
        if not normal.startswith(prefix):
            raise OutsideRoot(f"outside the recordings root: {asterisk_path!r}")
        return self.check_relative(normal[len(prefix) :])

    @staticmethod
    def check_relative(relative: str) -> str:
        parts = relative.split("/")
        if (
            not relative
            or relative.startswith("/")
            or "\x00" in relative
            or any(p in ("", ".", "..") for p in parts)
        ):
            raise OutsideRoot(f"not a relative path below the root: {relative!r}")
        return relative

    def path_of(self, relative: str) -> Path:
        """The local file for a catalog path; refuses anything resolving outside the root."""
        self.check_relative(relative)
        path = self.local_root / relative
        root = os.path.realpath(self.local_root)
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root or real == root:
            raise OutsideRoot(f"resolves outside the recordings root: {relative!r}")
        return path

    def local_of_asterisk(self, asterisk_path: str) -> Path:
        return self.path_of(self.relative_of_asterisk(asterisk_path))

    def relative_of_local(self, path: Path) -> str:
        """A local path below the root as a catalog path."""
        try:
            relative = path.relative_to(self.local_root).as_posix()
        except ValueError:
            raise OutsideRoot(f"outside the recordings root: {str(path)!r}") from None
        return self.check_relative(relative)
