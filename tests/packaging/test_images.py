"""Issue 19 item 1: the container images build and run the hotline.

The service image (docker/Dockerfile) and the Asterisk image (docker/asterisk) are built
with podman from bases made on this machine (docker/containers/images: debootstrap, then
``podman import``; no registry), with a stand-in for postgres:15. docker/kube.yaml is
played as it ships except for its settings, moved next to a running devstack: the pod
uses the host's network, on 127.0.0.70 (the devstack is on 127.0.0.1) and its own RTP
ports. One SIPp call from the carrier (127.0.0.72) goes through the containers' Asterisk
and FastAGI to agent 1001's SIPp phone (127.0.0.71), logged in through the service's
API, and the recording Asterisk wrote into the shared volume is in the service's catalog.

Build: cold 5-7 minutes on the 2-core VM (two debootstraps, pip, apt), warm (layer cache)
9 s; the test itself about 50 s.
"""

from __future__ import annotations

import array
import hashlib
import io
import os
import shutil
import subprocess
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import REPO, need

IMAGES = REPO / "docker" / "containers" / "images"
KUBE = REPO / "docker" / "kube.yaml"
CONTAINERS_CONF = REPO / "docker" / "containers" / "containers.conf"

POD = "cti-imgtest"
STACK_IP = "127.0.0.70"  # every listener of the pod (host network)
AGENT_IP = "127.0.0.71"  # agent 1001's SIPp phone
CARRIER_IP = "127.0.0.72"  # the SIPp caller, as the carrier trunk
HTTP = f"http://{STACK_IP}:8080"
CALLER = "13800138000"

#: The site's endpoints, mounted at /etc/asterisk/site (declared from dialplans/pjsip.conf).
SITE_PJSIP = f"""\
[1001](cti-agent)
aors = 1001
callerid = "Agent 1001" <1001>
[1001](cti-agent-aor)
contact = sip:1001@{AGENT_IP}:5060
[1001-identify]
type = identify
endpoint = 1001
match = {AGENT_IP}

[carrier](cti-trunk)
[carrier-identify]
type = identify
endpoint = carrier
match = {CARRIER_IP}
"""

#: docker/kube.yaml's settings for this test.
SETTINGS = {
    "CTI_AMI_SECRET": "imgtest-ami-secret",
    "CTI_AMI_HOST": STACK_IP,
    "CTI_AGI_HOST": STACK_IP,
    "CTI_HTTP_HOST": STACK_IP,
    "CTI_DATABASE_URL": f"postgresql+asyncpg://cti:imgtest-db@{STACK_IP}:5432/cti",
    "POSTGRES_PASSWORD": "imgtest-db",
    "CTI_PBX_SIP_BIND": f"{STACK_IP}:5060",
    # Outside the devstack's 10000-20000 and the kernel's ephemeral ports.
    "CTI_PBX_RTP_START": "30000",
    "CTI_PBX_RTP_END": "30999",
    "CTI_RECORDINGS_SETTLE_S": "1",
}


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def podman(*args: str, check: bool = True, timeout: float = 120) -> str:
    res = subprocess.run(
        ["podman", *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and res.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} exited {res.returncode}: {res.stderr}")
    return res.stdout


def render_kube(site: Path) -> list[dict[str, Any]]:
    """docker/kube.yaml with this test's settings, names, site folder and PostgreSQL."""
    docs = [d for d in yaml.safe_load_all(KUBE.read_text(encoding="utf-8")) if d]
    kinds = [d["kind"] for d in docs]
    assert kinds.count("Pod") == 1 and kinds.count("ConfigMap") == 1, kinds
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] == "ConfigMap":
            unknown = set(SETTINGS) - set(doc["data"]) - {"CTI_RECORDINGS_SETTLE_S"}
            assert not unknown, f"kube.yaml has no setting {unknown}"
            doc["data"].update(SETTINGS)
        elif doc["kind"] == "PersistentVolumeClaim":
            meta["name"] = meta["name"].replace("cti-", f"{POD}-", 1)
        elif doc["kind"] == "Pod":
            meta["name"] = POD
            spec = doc["spec"]
            assert spec["hostNetwork"] is True
            for volume in spec["volumes"]:
                if "persistentVolumeClaim" in volume:
                    claim = volume["persistentVolumeClaim"]
                    claim["claimName"] = claim["claimName"].replace("cti-", f"{POD}-", 1)
                elif "hostPath" in volume:
                    volume["hostPath"]["path"] = str(site)
            containers = {c["name"]: c for c in spec["containers"]}
            assert set(containers) == {"db", "asterisk", "cti"}, set(containers)
            db = containers["db"]
            # No registry here: the stand-in for postgres:15 (docker/containers/postgres).
            assert db["image"].endswith("/postgres:15"), db["image"]
            db["image"] = "localhost/cti-postgres:15"
            db["args"] = [a.replace("=127.0.0.1", f"={STACK_IP}") for a in db["args"]]
    return docs


def _kube_stack() -> dict[str, Any]:
    """kube.yaml as: settings, and per container its image, arguments and mounts."""
    docs = [d for d in yaml.safe_load_all(KUBE.read_text(encoding="utf-8")) if d]
    [settings] = [d["data"] for d in docs if d["kind"] == "ConfigMap"]
    [pod] = [d["spec"] for d in docs if d["kind"] == "Pod"]
    sources = {}
    for volume in pod["volumes"]:
        if "persistentVolumeClaim" in volume:
            sources[volume["name"]] = volume["persistentVolumeClaim"]["claimName"]
        else:
            sources[volume["name"]] = volume["hostPath"]["path"]
    containers = {
        c["name"]: {
            "image": c["image"],
            "args": c.get("args", []),
            "mounts": sorted(
                (sources[m["name"]], m["mountPath"], m.get("readOnly", False))
                for m in c.get("volumeMounts", [])
            ),
        }
        for c in pod["containers"]
    }
    return {"settings": settings, "host_network": pod["hostNetwork"], "containers": containers}


def _compose_stack() -> dict[str, Any]:
    """compose.yaml in the shape of :func:`_kube_stack` (named volumes as kube's claims)."""
    compose = yaml.safe_load((KUBE.parent / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    settings = [s["environment"] for s in services.values()]
    assert all(s == settings[0] for s in settings), "services with different settings"

    def mount(spec: str) -> tuple[str, str, bool]:
        source, target, *mode = spec.split(":")
        return (source if source.startswith("/") else f"cti-{source}", target, mode == ["ro"])

    return {
        "settings": settings[0],
        "host_network": all(s["network_mode"] == "host" for s in services.values()),
        "containers": {
            name: {
                "image": s["image"],
                "args": s.get("command", []),
                "mounts": sorted(mount(v) for v in s.get("volumes", [])),
            }
            for name, s in services.items()
        },
    }


def test_compose_and_kube_describe_the_same_stack() -> None:
    """compose.yaml (for docker compose) is what kube.yaml (played here) is."""
    kube, compose = _kube_stack(), _compose_stack()
    assert compose["containers"] == kube["containers"]
    assert compose["host_network"] and kube["host_network"]
    assert set(compose["settings"]) == set(kube["settings"])
    # Same values, but for the secrets compose takes from the environment.
    differ = {k for k, v in compose["settings"].items() if v != kube["settings"][k]}
    assert differ == {"CTI_AMI_SECRET", "CTI_DATABASE_URL", "POSTGRES_PASSWORD"}, differ
    password = "${CTI_DB_PASSWORD:?set CTI_DB_PASSWORD}"
    url = compose["settings"]["CTI_DATABASE_URL"].replace(password, "change-me-db-password")
    assert url == kube["settings"]["CTI_DATABASE_URL"]


@dataclass
class Pod:
    volumes: list[str]

    def cti(self, *args: str) -> str:
        return podman("exec", f"{POD}-cti", "cti", *args).strip()

    def logs(self) -> str:
        out = []
        for name in ("db", "asterisk", "cti"):
            res = subprocess.run(
                ["podman", "logs", "--tail", "40", f"{POD}-{name}"],
                env=podman_env(),
                capture_output=True,
                text=True,
                check=False,
            )
            out.append(f"== {name}\n{res.stdout[-4000:]}{res.stderr[-4000:]}")
        return "\n".join(out)

    def volume_path(self, claim: str) -> Path:
        return Path(podman("volume", "inspect", "--format", "{{.Mountpoint}}", claim).strip())


def _remove_pod(rendered: Path, volumes: list[str]) -> None:
    if rendered.exists():
        podman("kube", "down", str(rendered), check=False)
    podman("pod", "rm", "--force", "--ignore", POD, check=False)
    for volume in volumes:
        podman("volume", "rm", "--force", volume, check=False)


@pytest.fixture(scope="module")
def images() -> None:
    """The three images, built from this tree (the layer cache makes a rebuild quick)."""
    need(os.geteuid() == 0, "rootful podman and debootstrap need root")
    need(shutil.which("podman") is not None, "podman is not installed (make install)")
    need(shutil.which("debootstrap") is not None, "debootstrap is not installed (make install)")
    need(shutil.which("sipp") is not None, "SIPp (Debian package sip-tester) is not installed")
    res = subprocess.run(
        [str(IMAGES), "build"], env=podman_env(), capture_output=True, text=True, timeout=1800
    )
    assert res.returncode == 0, f"images build failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"


@pytest.fixture
def pod(images: None, tmp_path: Path) -> Iterator[Pod]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "pjsip.conf").write_text(SITE_PJSIP, encoding="utf-8")
    docs = render_kube(site)
    rendered = tmp_path / "kube.yaml"
    volumes = [d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"]
    _remove_pod(rendered, volumes)  # what an interrupted run left
    rendered.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    podman("kube", "play", str(rendered))
    running = Pod(volumes)
    try:
        yield running
    finally:
        logs = running.logs()
        (tmp_path / "pod.log").write_text(logs, encoding="utf-8")
        _remove_pod(rendered, volumes)


def _ready(timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(f"{HTTP}/readyz", timeout=3)
            if last.status_code == 200:
                return last
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"/readyz not ready in {timeout}s: {last and last.text}")


def _api(method: str, path: str, token: str, **kw: Any) -> httpx.Response:
    return httpx.request(
        method, f"{HTTP}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30, **kw
    )


def _recordings(token: str) -> list[dict[str, Any]]:
    r = _api("GET", "/api/v1/recordings", token, params={"caller": CALLER})
    assert r.status_code == 200, r.text
    return [rec for rec in r.json()["items"] if rec["status"] == "available"]


def _measure(wav: bytes) -> tuple[float, int]:
    """A WAV recording's length in seconds and its loudest sample."""
    with wave.open(io.BytesIO(wav)) as w:
        frames = w.getnframes()
        samples = array.array("h", w.readframes(frames))
        return frames / w.getframerate(), max((abs(s) for s in samples), default=0)


@pytest.mark.timeout(1800)
def test_the_images_run_the_hotline_and_record_a_call(pod: Pod, tmp_path: Path) -> None:
    import cti_stack as stack

    try:
        _ready(timeout=180)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{pod.logs()}") from None
    token = pod.cti(
        "token", "create", "--name", "imgtest",
        "--scope", "agents:write", "--scope", "recordings:read", "--scope", "stats:read",
    )  # fmt: skip
    # Logged in to the containers' AMI, the database up, the shared recordings volume
    # writable by the service's user.
    checks = _api("GET", "/readyz", token).json()["checks"]
    assert all(checks[name]["ok"] for name in ("database", "ami", "recordings")), checks

    # Agent 1001 logs in through the service, which adds the phone to the queue over AMI.
    r = _api("PUT", "/api/v1/agents/1001", token, json={"name": "王芳", "skills": ["hotline"]})
    assert r.status_code in (200, 201), r.text
    r = _api("POST", "/api/v1/agents/1001/login", token)
    assert r.status_code == 200, r.text

    sip = f"{STACK_IP}:5060"
    (tmp_path / "agent").mkdir()
    (tmp_path / "caller").mkdir()
    phone = stack.start_sipp_agent(
        "1001", "agent_answer.xml", ip=AGENT_IP, asterisk=sip, log_dir=tmp_path / "agent"
    )
    try:
        caller = stack.run_sipp_caller(
            CALLER, "张伟", source_ip=CARRIER_IP, asterisk=sip, log_dir=tmp_path / "caller"
        )
    finally:
        stack._stop(phone)
    errors = tmp_path / "caller" / "errors.log"
    assert caller.returncode == 0, errors.exists() and errors.read_text(errors="replace")[-3000:]

    # Asterisk wrote the recording into the shared volume; the service catalogued it.
    [rec] = stack.wait_for(lambda: _recordings(token), timeout=60)
    assert rec["agent"] == "1001" and rec["queue"] == "hotline", rec
    assert rec["caller_number"] == "+86" + CALLER and rec["direction"] == "inbound"
    files = list((pod.volume_path(f"{POD}-recordings") / "cti").glob(f"*/{rec['call_id']}-*"))
    assert len(files) == 1, files
    audio = _api("GET", f"/api/v1/recordings/{rec['id']}/audio", token)
    assert audio.status_code == 200, audio.text
    assert hashlib.sha256(audio.content).hexdigest() == rec["sha256"]
    assert files[0].read_bytes() == audio.content
    # The talk is in it: as long as the catalog says, with the caller's speech (SIPp plays
    # a real recording), not silence.
    seconds, peak = _measure(audio.content)
    assert rec["duration_s"] > 0 and abs(seconds - rec["duration_s"]) < 0.1, (seconds, rec)
    assert peak > 3000, peak
