"""Issue 19 item 0: the package installs like a package.

`pip install .` (what pipx, a wheel or a plain Dockerfile do) must give a `cti` that
creates its database and serves: the migrations and every runtime file travel in the
wheel. The wheel is built from the working tree's files, installed into a fresh venv
outside the repository (its dependencies come from this venv's site-packages by
PYTHONPATH: no network), and `cti serve` starts on an empty database from there.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def source_copy(dest: Path) -> Path:
    """The repository's tracked files (as they are in the working tree), outside it, so the
    build writes nothing into the repository."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = REPO / name.decode()
        if src.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def test_the_wheel_installs_and_serves_on_an_empty_database(tmp_path: Path) -> None:
    source = source_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(dist), str(source)],
        check=True, cwd=tmp_path,
    )  # fmt: skip
    [wheel] = dist.glob("cti_hotline-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "cti/_migrations/env.py" in names
    assert any(n.startswith("cti/_migrations/versions/0001") for n in names)
    assert "cti/_dialplans/extensions.conf" in names
    assert "cti/static/agent.html" in names and "cti/static/swagger/swagger-ui.css" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "-q", "--no-deps", str(wheel)],
        check=True, cwd=tmp_path,
    )  # fmt: skip
    data = tmp_path / "data"
    (data / "recordings").mkdir(parents=True)
    port = _free_port()
    env = {
        # Dependencies from this venv; its editable install of cti is not on the path
        # (PYTHONPATH entries run no .pth files), so `cti` is the wheel's.
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CTI_DATA_DIR": str(data),
        "CTI_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'cti.sqlite3'}",
        "CTI_AMI_ENABLED": "false",
        "CTI_AGI_ENABLED": "false",
        "CTI_HTTP_PORT": str(port),
        "CTI_RECORDINGS_ROOT": str(data / "recordings"),
    }
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import cti; print(cti.__file__)"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), where

    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(venv / "bin" / "cti"), "serve"], env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        base = f"http://127.0.0.1:{port}"
        ready = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
        assert ready is not None and ready.status_code == 200, ready and ready.text
        page = httpx.get(f"{base}/agent", timeout=5)
        assert page.status_code == 200 and "坐席工作台" in page.text
        assert httpx.get(f"{base}/static/common.js", timeout=5).status_code == 200
        # The schema is there: a token made by the installed `cti` opens the API.
        token = subprocess.run(
            [str(venv / "bin" / "cti"), "token", "create", "--name", "ops", "--scope",
             "stats:read"],
            env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        calls = httpx.get(
            f"{base}/api/v1/calls", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert calls.status_code == 200 and calls.json()["total"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert os.path.exists(data / "cti.sqlite3")
