"""`cti shop …` and `cti dnc …` as an operator uses them, on both databases."""

from __future__ import annotations

from pathlib import Path

from cti.db.engine import create_engine, session_factory
from cti.shops.service import get_shop, is_blocked
from tests.db.test_cli_jobs import cti


async def test_shop_commands(database_url: str, tmp_path: Path) -> None:
    added = await cti(
        database_url,
        tmp_path,
        "shop",
        "add",
        "shop-a",
        "--webhook-url",
        "https://shop-a.example.com/hook",
        "--caller-id",
        "4008001234",
    )
    assert added.returncode == 0, added.stderr
    secret = next(
        line.split("\t")[1] for line in added.stdout.splitlines() if line.startswith("secret\t")
    )
    assert secret.startswith("whsec_")
    dup = await cti(database_url, tmp_path, "shop", "add", "shop-a")
    assert dup.returncode == 2 and "exists already" in dup.stderr
    bad = await cti(database_url, tmp_path, "shop", "set", "shop-a", "--webhook-url", "ftp://x")
    assert bad.returncode == 2 and "webhook_url" in bad.stderr
    window = await cti(database_url, tmp_path, "shop", "set", "shop-a", "--window-start", "22:00")
    assert window.returncode == 2 and "window" in window.stderr
    ok = await cti(database_url, tmp_path, "shop", "set", "shop-a", "--max-concurrent", "4")
    assert ok.returncode == 0, ok.stderr
    # A webhook into our own network only with the operator's setting.
    local = ("shop", "set", "shop-a", "--webhook-url", "http://127.0.0.1:9/hook")
    refused = await cti(database_url, tmp_path, *local)
    assert refused.returncode == 2 and "loopback" in refused.stderr, refused.stderr
    assert "CTI_WEBHOOKS_ALLOW_PRIVATE" in refused.stderr
    env_file = tmp_path / "cti.env"
    env_file.write_text("CTI_WEBHOOKS_ALLOW_PRIVATE=true\n")
    allowed = await cti(database_url, tmp_path, *local, "--env-file", str(env_file))
    assert allowed.returncode == 0 and "http://127.0.0.1:9/hook" in allowed.stdout, allowed.stderr
    back = ("shop", "set", "shop-a", "--webhook-url", "https://shop-a.example.com/hook")
    assert (await cti(database_url, tmp_path, *back)).returncode == 0
    missing = await cti(database_url, tmp_path, "shop", "set", "nope", "--max-concurrent", "4")
    assert missing.returncode == 2 and "cti shop add nope" in missing.stderr
    shown = await cti(database_url, tmp_path, "shop", "show", "shop-a")
    assert "max_concurrent\t4" in shown.stdout and "caller_id\t4008001234" in shown.stdout
    assert secret not in shown.stdout
    listed = await cti(database_url, tmp_path, "shop", "list")
    assert "shop-a\t-\t09:00-21:00\tAsia/Shanghai\t4" in listed.stdout
    assert secret not in listed.stdout
    rotated = await cti(database_url, tmp_path, "shop", "rotate-secret", "shop-a")
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert new.startswith("whsec_") and new != secret
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            row = await get_shop(s, "shop-a")
            assert row is not None and row.secret == new and row.previous_secret == secret
    finally:
        await engine.dispose()


async def test_dnc_commands(database_url: str, tmp_path: Path) -> None:
    r = await cti(database_url, tmp_path, "dnc", "add", "138 0013 8000", "--reason", "asked")
    assert r.returncode == 0 and "+8613800138000 added" in r.stdout and "every shop" in r.stdout
    r = await cti(database_url, tmp_path, "dnc", "add", "12345")
    assert r.returncode == 2 and "not a valid phone number" in r.stderr
    numbers = tmp_path / "dnc.txt"
    numbers.write_text("13900139000\nnonsense\n13700000001,投诉\n", encoding="utf-8")
    r = await cti(database_url, tmp_path, "dnc", "import", str(numbers), "--shop", "shop-b")
    assert r.returncode == 1 and "line 2:" in r.stderr and "imported 2 of 3" in r.stdout
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            assert await is_blocked(s, "+8613800138000", "shop-a")
            assert await is_blocked(s, "+8613900139000", "shop-b")
            assert not await is_blocked(s, "+8613900139000", "shop-a")
    finally:
        await engine.dispose()
    r = await cti(database_url, tmp_path, "dnc", "remove", "13900139000", "--shop", "shop-b")
    assert r.returncode == 0, r.stderr
    r = await cti(database_url, tmp_path, "dnc", "remove", "13900139000", "--shop", "shop-b")
    assert r.returncode == 2 and "not on the do-not-call list" in r.stderr
