"""Issue 19 item 2: the README's "Install on a Debian 12 host", followed on a fresh Debian 12.

The steps are read from the README's code block (the README cannot drift from what is
tested) and run one by one, as root, under chroot in a copy of a Debian 12 root made by
debootstrap: bookworm, minbase, with systemd as a server has it and the packages the
README's ``apt-get install`` names (``docker/devstack/devstack host-root``, cached in
/var/cache/cti-devstack/bookworm-host; its first build takes a minute or two and needs the
Debian mirror, like the devstack's Asterisk root).

What a chroot cannot do, and what the test does instead:

* systemd cannot run in a chroot (and is not PID 1 on this machine either), so
  ``systemctl daemon-reload`` is skipped and ``systemctl enable --now cti`` is done the way
  the unit's [Service] section does it: ``ExecStart=`` run as ``User=``/``Group=``, in
  ``WorkingDirectory=``, with only the variables of ``EnvironmentFile=`` (read by systemd's
  rules). The sandbox (``ProtectSystem=``, ``SystemCallFilter=`` ...) is not applied here:
  ``systemd-analyze verify`` (the root's own systemd, a README step) checks the unit, and
  ``systemd-analyze security --offline`` rates its hardening.
* No network: apt-get finds the README's packages installed (the cached root has them);
  pip takes the hash-locked dependencies from a wheelhouse downloaded once into
  /var/cache/cti-devstack/wheelhouse (``PIP_NO_INDEX``/``PIP_FIND_LINKS``: the README's
  commands are run unchanged).
* The ``editor`` step writes the test's values: every ``CHANGE_ME`` replaced (a database of
  its own on the devstack's PostgreSQL), free ports, and AMI off (the devstack's Asterisk
  belongs to the integration tests); the ``curl`` step asks the port chosen.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dotenv import dotenv_values

from tests.conftest import DEVSTACK, REPO, _create_pg_database, _drop_pg_database, need
from tests.packaging.test_wheel import source_copy
from tests.serving import free_port

README = REPO / "README.md"
UNIT = REPO / "deploy" / "systemd" / "cti.service"
ENV_EXAMPLE = REPO / "deploy" / "systemd" / "cti.env.example"
CACHE = Path(os.environ.get("CTI_DEVSTACK_CACHE", "/var/cache/cti-devstack"))
WHEELHOUSE = CACHE / "wheelhouse"
CHECKOUT = "/usr/local/src/cti"
"""Where the release's checkout is in the Debian root: the steps run there."""
IN_ROOT_WHEELHOUSE = "/var/cache/cti-wheelhouse"
TEST_ONLY = {"CTI_AMI_ENABLED": "false"}
"""Settings the test adds that the example has no line for (see the module's docstring)."""
ENV_LINE = re.compile(r"^(?P<key>[A-Z][A-Z0-9_]*)=(?P<value>'[^'\\]*'|[^'\"\\\s#][^\\]*?|)$")
"""The env file's lines, in the subset where systemd and python-dotenv read the same."""


def readme_steps() -> list[str]:
    section = README.read_text(encoding="utf-8").split("\n## Install on a Debian 12 host\n")[1]
    section = section.split("\n## ")[0]
    m = re.search(r"```sh\n(.*?)```", section, re.S)
    assert m, 'README "Install on a Debian 12 host" has no ```sh block'
    return [
        line
        for line in m.group(1).replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def apt_packages(steps: list[str]) -> list[str]:
    [line] = [s for s in steps if s.startswith("apt-get install")]
    return [w for w in shlex.split(line)[2:] if not w.startswith("-")]


def read_env_file(path: Path) -> dict[str, str]:
    """An ``EnvironmentFile=`` as systemd reads it, for the lines :data:`ENV_LINE` allows
    (anything else fails: it might be read differently by systemd and by ``--env-file``)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        m = ENV_LINE.match(line)
        assert m, f"{path}:{number}: not KEY=value in the form systemd and dotenv share"
        value = m.group("value")
        values[m.group("key")] = value[1:-1] if value.startswith("'") else value
    return values


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_the_env_example_reads_the_same_for_systemd_and_cti_env_file() -> None:
    ours = read_env_file(ENV_EXAMPLE)
    theirs = {k: v for k, v in dotenv_values(ENV_EXAMPLE).items() if v is not None}
    assert ours == theirs
    # Secrets are placeholders, never values that would work.
    assert ours["CTI_AMI_SECRET"] == "CHANGE_ME"
    assert ":CHANGE_ME@" in ours["CTI_DATABASE_URL"]


def test_the_unit_lets_the_service_write_where_its_settings_say() -> None:
    """Under ProtectSystem=strict only ReadWritePaths= (and the StateDirectory=) are
    writable: the data directory and the recordings root of the example must be."""
    unit = unit_settings(UNIT)
    writable = [p.lstrip("-") for p in unit["ReadWritePaths"]]
    writable += [f"/var/lib/{d}" for d in unit["StateDirectory"]]
    env = read_env_file(ENV_EXAMPLE)
    for key in ("CTI_DATA_DIR", "CTI_RECORDINGS_ROOT"):
        path = Path(env[key])
        assert any(path.is_relative_to(w) for w in writable), f"{key}={path} is read-only"
    assert unit["ProtectSystem"] == ["strict"] and unit["CapabilityBoundingSet"] == [""]
    assert unit["User"] == ["cti"] and unit["EnvironmentFile"] == ["/etc/cti/cti.env"]


def test_systemd_rates_the_units_hardening_ok() -> None:
    analyze = shutil.which("systemd-analyze")
    need(analyze is not None, "systemd-analyze missing (Debian package systemd)")
    assert analyze is not None
    out = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    m = re.search(r"Overall exposure level for cti\.service: ([0-9.]+) (\w+)", out)
    assert m, out[-2000:]
    assert float(m.group(1)) <= 2.0 and m.group(2) == "OK", out[-3000:]


# ------------------------------------------------------------- on Debian 12 ---


def mounted_under(path: Path) -> list[str]:
    with open("/proc/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts]
    return [p for p in points if p == str(path) or p.startswith(f"{path}/")]


@pytest.fixture
def debian_root(tmp_path: Path) -> Iterator[Path]:
    """A fresh copy of the cached Debian 12 root, /proc mounted, removed afterwards."""
    need(sys.platform == "linux" and os.geteuid() == 0, "chroot and mount need root")
    need(shutil.which("debootstrap") is not None, "debootstrap missing (devstack install)")
    proc = subprocess.run(
        [str(DEVSTACK), "host-root", *apt_packages(readme_steps())],
        capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    cached = Path(proc.stdout.strip().splitlines()[-1])
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", "--reflink=auto", str(cached), str(root)], check=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    try:
        yield root
    finally:
        subprocess.run(["umount", str(root / "proc")], check=False)
        # Never delete through a mount point.
        if not mounted_under(root):
            shutil.rmtree(root)


def fill_wheelhouse() -> None:
    """The locked wheels, downloaded once (offline when all are there already)."""
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "pip", "download", "-q", "--require-hashes", "--no-deps",
            "-r", str(REPO / "requirements.lock"), "-d", str(WHEELHOUSE)]  # fmt: skip
    offline = subprocess.run(
        [*base, "--no-index", "--find-links", str(WHEELHOUSE)], capture_output=True, check=False
    )
    if offline.returncode != 0:
        subprocess.run(base, check=True, capture_output=True, timeout=900)


class Host:
    """The Debian root: runs the README's lines as root in the checkout, like an admin."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.service: subprocess.Popen[bytes] | None = None
        self.log = root.parent / "cti-service.log"

    def sh(self, line: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root", "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive",
            "PIP_NO_INDEX=1", f"PIP_FIND_LINKS={IN_ROOT_WHEELHOUSE}",
            "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1",
        ]  # fmt: skip
        proc = subprocess.run(
            ["chroot", str(self.root), "/usr/bin/env", "-i", *env, "/bin/bash", "-c",
             f"cd {CHECKOUT} && {line}"],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if check:
            assert proc.returncode == 0, f"{line}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def start_like_the_unit(self) -> None:
        """``systemctl start cti``, without systemd: see the module's docstring."""
        unit = unit_settings(self.path("/etc/systemd/system/cti.service"))
        [user], [group], [workdir] = unit["User"], unit["Group"], unit["WorkingDirectory"]
        [env_file], [exec_start] = unit["EnvironmentFile"], unit["ExecStart"]
        home = self.sh(f"getent passwd {user} | cut -d: -f6").stdout.strip()
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
            "LANG": "C.UTF-8", "HOME": home, "USER": user, "LOGNAME": user,
            "SHELL": "/usr/sbin/nologin",
            **read_env_file(self.path(env_file)),
        }  # fmt: skip
        with self.log.open("wb") as log:
            self.service = subprocess.Popen(
                ["chroot", f"--userspec={user}:{group}", str(self.root), "/usr/bin/env", "-i",
                 "-C", workdir, *(f"{k}={v}" for k, v in env.items()), *shlex.split(exec_start)],
                stdout=log, stderr=log,
            )  # fmt: skip

    def stop(self) -> int | None:
        if self.service is None:
            return None
        self.service.send_signal(signal.SIGTERM)  # what systemctl stop sends (KillSignal=)
        try:
            return self.service.wait(60)
        except subprocess.TimeoutExpired:
            self.service.kill()
            self.service.wait()
            return None

    def service_log(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def edit_env(host: Host, database_url: str, http_port: int, agi_port: int) -> None:
    """The ``editor`` step: what an admin types over the example's placeholders."""
    path = host.path("/etc/cti/cti.env")
    values = {
        "CTI_DATABASE_URL": database_url,
        "CTI_AMI_SECRET": "the-pbx-manager-secret",
        "CTI_HTTP_PORT": str(http_port),
        "CTI_AGI_PORT": str(agi_port),
    }
    lines = path.read_text(encoding="utf-8").splitlines()
    for key, value in values.items():
        at = [i for i, line in enumerate(lines) if line.startswith(f"{key}=")]
        assert len(at) == 1, f"the example has no single line for {key}"
        lines[at[0]] = f"{key}={value}"
    lines += [f"{k}={v}" for k, v in TEST_ONLY.items()]
    text = "\n".join(lines) + "\n"
    active = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in active if "CHANGE_ME" in line], "a placeholder is left"
    path.write_text(text, encoding="utf-8")


@pytest.mark.timeout(1800)
def test_the_readme_steps_install_and_start_the_service_on_debian_12(
    debian_root: Path, postgres_url: str
) -> None:
    steps = readme_steps()
    fill_wheelhouse()
    shutil.copytree(WHEELHOUSE, debian_root / IN_ROOT_WHEELHOUSE.lstrip("/"))
    source_copy(debian_root / CHECKOUT.lstrip("/"))
    host = Host(debian_root)
    database_url = asyncio.run(_create_pg_database(postgres_url))
    http_port, agi_port = free_port(), free_port()
    token = ""
    try:
        for step in steps:
            if step.startswith("editor "):
                edit_env(host, database_url, http_port, agi_port)
            elif step == "systemctl daemon-reload":
                pass
            elif step == "systemctl enable --now cti":
                host.start_like_the_unit()
            elif step.startswith("curl "):
                assert ":8080/" in step, step
                ready = step.replace(":8080/", f":{http_port}/")
                # Migrating an empty database on a busy 2-core machine can take a while.
                deadline = time.monotonic() + 300
                while host.sh(ready, check=False).returncode != 0:
                    assert host.service and host.service.poll() is None, host.service_log()
                    assert time.monotonic() < deadline, host.service_log()
                    time.sleep(0.5)
            elif step.startswith("systemctl "):
                pytest.fail(f"a README step this test cannot follow: {step}")
            else:
                done = host.sh(step)
                if step.startswith("systemd-analyze verify"):
                    # It answers 0 to some findings too, and prints them.
                    assert done.stdout + done.stderr == "", done.stdout + done.stderr
                if "token create" in step:
                    token = done.stdout.strip().splitlines()[-1]

        # What the admin sees next: the service as the user "cti", ready, its token works.
        assert host.service is not None and host.service.poll() is None, host.service_log()
        uid = host.sh("id -u cti").stdout.strip()
        status = Path(f"/proc/{host.service.pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{uid}\s", status, re.M), "not running as cti"
        base = f"http://127.0.0.1:{http_port}"
        auth = {"Authorization": f"Bearer {token}"}
        ready = httpx.get(f"{base}/readyz", headers=auth, timeout=30)
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) == {"database", "recordings"}
        assert httpx.get(f"{base}/agent", timeout=30).status_code == 200
        data = host.path("/var/lib/cti")
        assert {p.stat().st_uid for p in data.rglob("*")} <= {int(uid)}, "files not cti's"
        assert host.stop() == 0, host.service_log()
    finally:
        host.stop()
        asyncio.run(_drop_pg_database(postgres_url, database_url))
