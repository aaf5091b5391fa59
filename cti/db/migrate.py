"""Run Alembic migrations from code (``cti db upgrade``, ``cti serve``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

PACKAGE = Path(__file__).resolve().parent.parent
REPO_ROOT = PACKAGE.parent


def migrations_dir() -> Path:
    """The Alembic scripts: in the package when installed from a wheel (setup.py bundles
    them as ``cti/_migrations``), else the repository's ``migrations/``."""
    bundled = PACKAGE / "_migrations"
    return bundled if (bundled / "env.py").is_file() else REPO_ROOT / "migrations"


def alembic_config(database_url: str) -> Config:
    # No alembic.ini needed (an installed package has none): the service configures its
    # own logging, and the rest is set here.
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Raise if the models and the migrations disagree (``alembic check``)."""
    command.check(alembic_config(database_url))


async def upgrade_async(database_url: str) -> None:
    # env.py runs its own event loop, so it must run in a thread without one.
    await asyncio.to_thread(upgrade, database_url)
