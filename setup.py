"""Packaging hook: the wheel carries the migrations and the dialplans.

The project's metadata is in pyproject.toml. The repository keeps ``migrations/``
and ``dialplans/`` at its top level (Alembic and Asterisk people look for them
there); an installed ``cti`` needs them too (``cti db upgrade``, ``cti serve`` on an
empty database; a deployer copies the dialplans), so the build copies them into
the package as ``cti/_migrations`` and ``cti/_dialplans``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = {"migrations": "_migrations", "dialplans": "_dialplans"}


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        for source, target in BUNDLED.items():
            dest = Path(self.build_lib) / "cti" / target
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(
                HERE / source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )


setup(cmdclass={"build_py": BuildWithData})
