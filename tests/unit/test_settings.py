"""A wrong setting stops the service with one clear line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cti.settings import SettingsError, load_settings


def run_cti(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "cti", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CTI_AMI_PORT", "70000", "CTI_AMI_PORT"),
        ("CTI_HTTP_PORT", "web", "CTI_HTTP_PORT"),
        ("CTI_TIMEZONE", "Mars/Olympus", "CTI_TIMEZONE"),
        ("CTI_DATABASE_URL", "mysql://x", "CTI_DATABASE_URL"),
        ("CTI_LOG_LEVEL", "LOUD", "CTI_LOG_LEVEL"),
        ("CTI_ACD_PRIORITY_VIP", "high", "CTI_ACD_PRIORITY_VIP"),
        ("CTI_ACD_HOTLINES", "{not json", "CTI_ACD_HOTLINES"),
        ("CTI_AGENT_WRAPUP_S", "-5", "CTI_AGENT_WRAPUP_S"),
        ("CTI_AGI_ALLOWED", "10.0.0.5/8", "CTI_AGI_ALLOWED"),
        ("CTI_AGI_ALLOWED", "pbx.example", "CTI_AGI_ALLOWED"),
        ("CTI_RECORDINGS_ROOT", "/var/spool/../../etc", "CTI_RECORDINGS_ROOT"),
        ("CTI_DB_POOL_SIZE", "0", "CTI_DB_POOL_SIZE"),
        ("CTI_EVENT_LOOP", "trio", "CTI_EVENT_LOOP"),
        ("CTI_HTTP_WS_COMPRESSION", "maybe", "CTI_HTTP_WS_COMPRESSION"),
    ],
)
def test_serve_refuses_a_wrong_setting(
    name: str, value: str, expected: str, tmp_path: Path
) -> None:
    proc = run_cti("serve", env={name: value, "CTI_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"cti: invalid setting {expected}:")
    assert "Traceback" not in proc.stderr


def test_secret_value_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_AMI_SECRET", "s3cr3t-value")
    monkeypatch.setenv("CTI_AMI_PORT", "0")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "s3cr3t-value" not in str(info.value)
    assert "CTI_AMI_PORT" in str(info.value)


def test_defaults_are_an_embedded_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("CTI_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CTI_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/cti.sqlite3"
    assert (settings.ami_host, settings.ami_port) == ("127.0.0.1", 5038)


def test_settings_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CTI_AMI_PORT", raising=False)
    env_file = tmp_path / "cti.env"
    env_file.write_text("CTI_AMI_PORT=6038\nCTI_AMI_HOST=10.1.2.3\n")
    settings = load_settings(env_file)
    assert (settings.ami_host, settings.ami_port) == ("10.1.2.3", 6038)
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.env")


def test_database_pool_size_is_set_by_the_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    from cti.db.engine import create_engine

    monkeypatch.setenv("CTI_DB_POOL_SIZE", "40")
    settings = load_settings()
    engine = create_engine(
        "postgresql+asyncpg://cti@127.0.0.1/cti", pool_size=settings.db_pool_size
    )
    assert engine.pool.size() == 40  # type: ignore[attr-defined]
    monkeypatch.delenv("CTI_DB_POOL_SIZE")
    assert create_engine("postgresql+asyncpg://cti@127.0.0.1/cti").pool.size() == 10  # type: ignore[attr-defined]


def test_the_agi_lookup_pool_is_sized_like_the_service_pool(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A burst of calls reuses the lookup pool's connections instead of opening one per
    lookup (a connection costs a TLS attempt and a backend start, more than the lookup)."""
    from cti.container import Container

    monkeypatch.setenv("CTI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CTI_DATABASE_URL", "postgresql+asyncpg://cti@127.0.0.1/cti")
    monkeypatch.setenv("CTI_DB_POOL_SIZE", "25")
    container = Container(load_settings())
    pool = container.lookup_engine.pool
    assert pool.size() == 25  # type: ignore[attr-defined]
    assert pool._max_overflow == 25  # type: ignore[attr-defined]


def test_serve_runs_on_the_event_loop_the_operator_chose() -> None:
    import asyncio

    import uvloop

    from cti.app import event_loop_factory

    for name, kind in (("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)):
        loop = event_loop_factory(name)()
        try:
            assert isinstance(loop, kind), name
        finally:
            loop.close()
