"""The hash-locked requirements match pyproject.toml, and everything installs from them.

A dependency added to pyproject.toml without ``make lock`` fails here, offline, before
``make venv`` would install an environment without it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
RUNTIME = PYPROJECT["project"]["dependencies"]
DEV = PYPROJECT["project"]["optional-dependencies"]["dev"]
BUILD = PYPROJECT["dependency-groups"]["build"]

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def pins(lock: str) -> dict[str, tuple[str, int]]:
    """``name -> (version, number of hashes)`` of a lock file."""
    found: dict[str, tuple[str, int]] = {}
    name = ""
    for line in (REPO / lock).read_text().splitlines():
        pin = _PIN.match(line)
        if pin:
            name = canonicalize_name(pin.group(1))
            found[name] = (pin.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = found[name]
            found[name] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            pytest.fail(f"{lock}: unexpected line {line!r}")
    return found


@pytest.mark.parametrize(
    ("lock", "wanted"),
    [("requirements.lock", RUNTIME + BUILD), ("requirements-dev.lock", RUNTIME + DEV + BUILD)],
)
def test_every_requirement_of_pyproject_is_pinned_with_hashes(lock: str, wanted: list[str]) -> None:
    locked = pins(lock)
    stale = []
    for text in wanted:
        req = Requirement(text)
        pinned = locked.get(canonicalize_name(req.name))
        if pinned is None or not req.specifier.contains(pinned[0], prereleases=True):
            stale.append(f"{text} (locked: {pinned[0] if pinned else 'nothing'})")
    assert not stale, f"{lock} does not satisfy pyproject.toml; run `make lock`: {stale}"
    unhashed = [name for name, (_, hashes) in locked.items() if hashes == 0]
    assert not unhashed, f"{lock}: pins without a hash: {unhashed}"


def test_the_two_locks_agree_on_every_shared_package() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert runtime.keys() <= dev.keys()
    assert {n: v for n, (v, _) in runtime.items()} == {n: dev[n][0] for n in runtime}


def test_every_install_goes_through_the_lock() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "pip install -q --require-hashes -r $(DEV_LOCK)" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all(
        "--require-hashes -r requirements.lock" in line or "--no-deps" in line for line in installs
    ), installs
