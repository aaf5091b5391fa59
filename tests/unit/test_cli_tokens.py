"""`cti token create/list/revoke` as an operator uses them (embedded SQLite)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def cti(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    env["CTI_DATA_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "cti", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_token_is_printed_once_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    listed = cti(tmp_path, "token", "list")
    assert listed.returncode == 0 and listed.stdout.splitlines() == [
        "id\tprefix\tname\tscopes\tagent\tshop\tstate\tlast_used"
    ]
    made = cti(
        tmp_path, "token", "create", "--name", "shop-a", "--scope", "orders:write", "--shop", "a"
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("cti_")
    listed = cti(tmp_path, "token", "list").stdout
    assert "shop-a\torders:write\t-\ta\tactive\tnever" in listed and token not in listed
    dump = "\n".join(sqlite3.connect(tmp_path / "cti.sqlite3").iterdump())
    # cti_<prefix>_<secret>; the secret is urlsafe base64 and may itself contain "_".
    _, prefix, secret = token.split("_", 2)
    assert token not in dump and secret not in dump
    assert cti(tmp_path, "token", "revoke", prefix).returncode == 0
    assert "shop-a\torders:write\t-\ta\trevoked\tnever" in cti(tmp_path, "token", "list").stdout


def test_token_list_shows_when_each_token_was_last_used(tmp_path: Path) -> None:
    """Issue 14, row 10: ``last_used_at`` is shown by ``cti token list``."""
    made = cti(
        tmp_path, "token", "create", "--name", "shop-a", "--scope", "orders:write", "--shop", "a"
    )
    assert made.returncode == 0, made.stderr
    with sqlite3.connect(tmp_path / "cti.sqlite3") as db:  # as the API leaves it after a request
        db.execute("UPDATE api_tokens SET last_used_at = '2026-11-23 01:02:03.000000'")
    listed = cti(tmp_path, "token", "list").stdout.splitlines()
    assert listed[0].split("\t")[-1] == "last_used"
    assert listed[1].split("\t")[-1] == "2026-11-23T01:02Z"


def test_bad_scope_or_unbound_agent_token_is_refused(tmp_path: Path) -> None:
    bad = cti(tmp_path, "token", "create", "--name", "x", "--scope", "everything")
    assert bad.returncode == 2 and "unknown scope(s) everything" in bad.stderr
    unbound = cti(tmp_path, "token", "create", "--name", "a", "--scope", "agent")
    assert unbound.returncode == 2 and "agent extension" in unbound.stderr
    assert cti(tmp_path, "token", "revoke", "nope").returncode == 2


def test_a_shop_scope_needs_a_shop_or_an_explicit_all_shops(tmp_path: Path) -> None:
    # An orders:write token for every shop is what let one shop overwrite another's
    # orders (issue 14, row 2): it is never what you get by leaving an option out.
    for scope in ("orders:write", "calls:originate"):
        unbound = cti(tmp_path, "token", "create", "--name", "s", "--scope", scope)
        assert unbound.returncode == 2 and "--shop SHOP" in unbound.stderr, unbound.stderr
    both = cti(
        tmp_path, "token", "create", "--name", "s", "--scope", "orders:write",
        "--shop", "a", "--all-shops",
    )  # fmt: skip
    assert both.returncode == 2 and "not both" in both.stderr
    # A shop backend has no business with tickets, calls or agents (every shop's data).
    mixed = cti(
        tmp_path, "token", "create", "--name", "s", "--scope", "orders:write",
        "--scope", "tickets:write", "--shop", "a",
    )  # fmt: skip
    assert mixed.returncode == 2 and "not tickets:write" in mixed.stderr, mixed.stderr
    bad = cti(
        tmp_path, "token", "create", "--name", "s", "--scope", "orders:write", "--shop", "a b"
    )
    assert bad.returncode == 2 and "shop must be" in bad.stderr
    admin = cti(
        tmp_path, "token", "create", "--name", "ops", "--scope", "orders:write", "--all-shops"
    )
    assert admin.returncode == 0, admin.stderr
    assert "ops\torders:write\t-\t-\tactive" in cti(tmp_path, "token", "list").stdout
