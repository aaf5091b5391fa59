"""Drive the local stack (docker/devstack): used by `make demo` and by the tests.

The devstack runs Asterisk 22 in a chroot and a private PostgreSQL; SIPp runs
on the host.  Callers send from 127.0.0.2 .. 127.0.0.9 (the "callers" trunk),
agents' phones listen on 127.0.0.11 .. 127.0.0.13 (PJSIP/1001 .. 1003).

Every SIPp process started here is remembered and ended by PID in
:func:`cleanup` (registered with atexit; tests should also call it in a
fixture finaliser).
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import os
import signal
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DEVSTACK = HERE / "devstack"
SIPP_DIR = HERE / "sipp"
ASTERISK_SIP = "127.0.0.1:5060"

#: agent extension -> the loopback address its SIPp phone listens on
AGENT_IPS: dict[str, str] = {"1001": "127.0.0.11", "1002": "127.0.0.12", "1003": "127.0.0.13"}
#: source addresses Asterisk identifies as the callers trunk
CALLER_IPS: tuple[str, ...] = tuple(f"127.0.0.{i}" for i in range(2, 10))
#: the address of the customers trunk (confirmation calls); see sipp/customer.xml
CUSTOMERS_IP = "127.0.0.20"
#: CTI_CONFIRM_DIAL_TEMPLATE that dials the customers trunk
CONFIRM_DIAL_TEMPLATE = "PJSIP/{national}@customers"

QUEUE_LOG_FIELDS = ("time", "callid", "queue", "agent", "event")
CDR_FIELDS = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "uniqueid",
    "userfield",
)  # cdr_csv with loguniqueid=yes, loguserfield=yes

#: speech for SIPp's rtp_stream (scenarios name it relative to the SIPp process's folder)
SPEECH_PCAP = Path("/usr/share/sip-tester/g711a.pcap")
MEDIA_DIR = Path(os.environ.get("CTI_DEVSTACK_RUN") or REPO / ".devstack") / "media"
SPEECH_FILE = "speech.alaw"

_procs: list[subprocess.Popen[bytes]] = []
_caller_ip_index = 0


def devstack(*args: str, check: bool = True, timeout: float = 900) -> str:
    """Run ``docker/devstack/devstack ARGS`` and return its stdout."""
    res = subprocess.run(
        [str(DEVSTACK), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and res.returncode != 0:
        raise RuntimeError(
            f"devstack {' '.join(args)} exited {res.returncode}: {res.stderr.strip()}"
        )
    return res.stdout


def devstack_running() -> bool:
    """``devstack status``: Asterisk and PostgreSQL are both up."""
    res = subprocess.run([str(DEVSTACK), "status"], capture_output=True, timeout=60, check=False)
    return res.returncode == 0


def devstack_env() -> dict[str, str]:
    """The ``export NAME=value`` lines of ``devstack env`` as a dict."""
    env: dict[str, str] = {}
    for line in devstack("env").splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export ") :].partition("=")
            env[name] = value
    return env


def asterisk_cli(cmd: str) -> str:
    """Run one Asterisk CLI command (``asterisk -rx``) and return its output."""
    return devstack("asterisk-cli", cmd)


def add_queue_member(ext: str, queue: str = "hotline", penalty: int = 0) -> str:
    return asterisk_cli(
        f"queue add member PJSIP/{ext} to {queue} penalty {penalty} as {ext} "
        f"state_interface PJSIP/{ext}"
    )


def remove_queue_member(ext: str, queue: str = "hotline") -> str:
    return asterisk_cli(f"queue remove member PJSIP/{ext} from {queue}")


def hangup_channels(prefixes: tuple[str, ...]) -> list[str]:
    """Hang up every channel whose name starts with one of ``prefixes`` (``PJSIP/callers-``).

    A SIPp ended by a signal sends no BYE: its channels would stay up in Asterisk.
    Returns the channels hung up.
    """
    names = [
        line.split("!", 1)[0]
        for line in asterisk_cli("core show channels concise").splitlines()
        if "!" in line
    ]
    gone = [name for name in names if name.startswith(prefixes)]
    for name in gone:
        asterisk_cli(f"channel request hangup {name}")
    return gone


def hang_up_every_call(timeout: float = 10) -> list[str]:
    """Hang up every PJSIP channel (agents' and callers') and wait until they are gone:
    a call a test left behind (an ``originate ... Wait 25``, a caller SIPp still in a
    queue) must not ring into, or keep busy an agent of, the next test. Returns the
    channels hung up."""
    gone = hangup_channels(("PJSIP/",))
    if gone:
        wait_for(
            lambda: (
                not any(
                    line.startswith("PJSIP/")
                    for line in asterisk_cli("core show channels concise").splitlines()
                )
            ),
            timeout=timeout,
        )
    return gone


def reset_logs() -> None:
    """Empty queue_log and Master.csv (between tests)."""
    devstack("reset-logs")


def _scenario(scenario: str) -> str:
    path = Path(scenario)
    if not path.is_absolute():
        path = SIPP_DIR / scenario
    if not path.is_file():
        raise FileNotFoundError(path)
    return str(path)


def caller_with_patience(seconds: float) -> str:
    """A caller scenario that hangs up ``seconds`` after Asterisk answers (abandons).

    Made from ``caller_hangup_after_6s.xml``, whose only difference from the others
    of its kind is that number; returns the path of the scenario, in a cache folder.
    """
    ms = round(seconds * 1000)
    target = MEDIA_DIR.parent / "sipp" / f"caller_hangup_after_{ms}ms.xml"
    if not target.exists():
        text = (SIPP_DIR / "caller_hangup_after_6s.xml").read_text(encoding="utf-8")
        marker = '<recv request="BYE" timeout="6000" ontimeout="hangup"/>'
        if marker not in text:
            raise RuntimeError("caller_hangup_after_6s.xml no longer has its BYE timeout")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text.replace(marker, marker.replace("6000", str(ms))), encoding="utf-8")
        tmp.replace(target)
    return str(target)


def speech_media() -> Path:
    """The folder holding :data:`SPEECH_FILE`: 7 s of real speech as raw A-law.

    Taken from the RTP payloads of sip-tester's own g711a.pcap. SIPp's
    ``play_pcap_audio`` replays that capture's sequence numbers and timestamps,
    so a second play is dropped by Asterisk as old packets; ``rtp_stream`` loops a
    raw file with fresh ones, so a party can talk for as long as a test needs.
    """
    target = MEDIA_DIR / SPEECH_FILE
    if not target.exists():
        data = SPEECH_PCAP.read_bytes()
        link = struct.unpack("<I", data[20:24])[0]
        header = {1: 14, 113: 16}.get(link)  # Ethernet, Linux cooked capture
        if header is None:
            raise RuntimeError(f"{SPEECH_PCAP}: unexpected link type {link}")
        payload = bytearray()
        offset = 24
        while offset + 16 <= len(data):
            length = struct.unpack("<I", data[offset + 8 : offset + 12])[0]
            packet = data[offset + 16 : offset + 16 + length]
            offset += 16 + length
            ihl = (packet[header] & 0x0F) * 4
            rtp = packet[header + ihl + 8 :]  # IPv4 + UDP
            if len(rtp) > 12 and rtp[1] & 0x7F == 8:  # PCMA
                payload += rtp[12 + (rtp[0] & 0x0F) * 4 :]
        MEDIA_DIR.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(bytes(payload))
        tmp.replace(target)
    return MEDIA_DIR


def _spawn(cmd: list[str], log_dir: Path) -> subprocess.Popen[bytes]:
    # The child keeps its own copy of the log file descriptor. Its own process group:
    # a Ctrl-C in the terminal reaches only the program that started it (the demo),
    # which then ends it in order (cleanup) instead of all at once.
    with open(log_dir / "stderr.log", "wb") as err:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=speech_media(),
            process_group=0,
        )
    return _track(proc)


def _track(proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    _procs.append(proc)
    return proc


def start_sipp_agent(
    ext: str,
    scenario: str = "agent_answer.xml",
    *,
    log_dir: Path | None = None,
    ip: str | None = None,
    asterisk: str = ASTERISK_SIP,
) -> subprocess.Popen[bytes]:
    """Start a SIPp UAS acting as agent ``ext``'s phone (handles calls forever).

    ``ip`` and ``asterisk`` default to the devstack's (another Asterisk: the images' test).
    """
    return _start_uas(
        ip or AGENT_IPS[ext],
        scenario,
        log_dir or Path(tempfile.mkdtemp(prefix=f"sipp-agent-{ext}-")),
        asterisk,
    )


def start_sipp_customers(
    scenario: str = "customer.xml", *, log_dir: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start the SIPp UAS that answers confirmation calls as every customer (127.0.0.20)."""
    return _start_uas(
        CUSTOMERS_IP, scenario, log_dir or Path(tempfile.mkdtemp(prefix="sipp-customers-"))
    )


def _start_uas(
    ip: str, scenario: str, log_dir: Path, asterisk: str = ASTERISK_SIP
) -> subprocess.Popen[bytes]:
    cmd = [
        "sipp",
        "-sf",
        _scenario(scenario),
        "-i",
        ip,
        "-p",
        "5060",
        "-mi",
        ip,
        "-nostdin",
        "-trace_err",
        "-trace_msg",
        "-message_file",
        str(log_dir / "messages.log"),
        "-error_file",
        str(log_dir / "errors.log"),
        asterisk,
    ]
    proc = _spawn(cmd, log_dir)
    time.sleep(0.3)  # let it bind before Asterisk calls it
    if proc.poll() is not None:
        raise RuntimeError(f"sipp on {ip} exited {proc.returncode}, see {log_dir}")
    return proc


def run_sipp_caller(
    number: str,
    name: str,
    dnis: str = "4008001234",
    scenario: str = "caller.xml",
    *,
    source_ip: str | None = None,
    wait: bool = True,
    timeout: float = 180,
    log_dir: Path | None = None,
    asterisk: str = ASTERISK_SIP,
) -> subprocess.CompletedProcess[bytes] | subprocess.Popen[bytes]:
    """Place one call from ``"name" <number>`` to ``dnis``.

    ``wait=True`` returns the CompletedProcess (returncode 0 = call went as the
    scenario expects); ``wait=False`` returns the running Popen.
    """
    global _caller_ip_index
    if source_ip is None:
        source_ip = CALLER_IPS[_caller_ip_index % len(CALLER_IPS)]
        _caller_ip_index += 1
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="sipp-caller-"))
    inf = log_dir / "caller.csv"
    with open(inf, "w", encoding="utf-8", newline="") as fh:
        fh.write("SEQUENTIAL\n")
        csv.writer(fh, delimiter=";", lineterminator=";\n").writerow([number, name])
    cmd = [
        "sipp",
        "-sf",
        _scenario(scenario),
        "-inf",
        str(inf),
        "-s",
        dnis,
        "-i",
        source_ip,
        "-p",
        "0",
        "-mi",
        source_ip,
        "-m",
        "1",
        "-nostdin",
        "-trace_err",
        "-error_file",
        str(log_dir / "errors.log"),
        asterisk,
    ]
    proc = _spawn(cmd, log_dir)
    if not wait:
        return proc
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        _stop(proc)
    return subprocess.CompletedProcess(cmd, rc)


def read_queue_log() -> list[list[str]]:
    """queue_log rows: [time, callid, queue, agent, event, data1, ...]."""
    path = Path(devstack_env()["CTI_ASTERISK_QUEUE_LOG"])
    return [line.split("|") for line in path.read_text(encoding="utf-8").splitlines() if line]


def read_cdr() -> list[dict[str, str]]:
    """Master.csv rows as dicts keyed by :data:`CDR_FIELDS`."""
    path = Path(devstack_env()["CTI_ASTERISK_CDR_CSV"])
    with open(path, encoding="utf-8", newline="") as fh:
        return [dict(zip(CDR_FIELDS, row, strict=False)) for row in csv.reader(fh) if row]


def wait_for(predicate, timeout: float = 30, interval: float = 0.25):  # type: ignore[no-untyped-def]
    """Poll ``predicate()`` until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End one SIPp process started here (by PID): SIGTERM, then SIGKILL after 5 s."""
    _stop(proc)


# --- faults (issue 18): only while holding /work/devstack.lock, always undone ---------------


def asterisk_pid() -> int:
    """The PID of the devstack's Asterisk, from its pidfile, checked to be the chrooted one."""
    env = devstack_env()
    pid = int((Path(env["CTI_DEVSTACK_RUN"]) / "asterisk.pid").read_text().strip())
    if os.readlink(f"/proc/{pid}/root") != env["CTI_DEVSTACK_ROOTFS"]:
        raise RuntimeError(f"pid {pid} is not the devstack's Asterisk")
    return pid


@contextlib.contextmanager
def asterisk_frozen() -> Iterator[int]:
    """Asterisk stopped with SIGSTOP (a half-open AMI peer), continued on the way out."""
    pid = asterisk_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


def asterisk_booted() -> bool:
    """Asterisk answers its CLI and has finished booting."""
    res = subprocess.run(
        [str(DEVSTACK), "asterisk-cli", "core waitfullybooted"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return res.returncode == 0 and "fully booted" in res.stdout


def restart_asterisk() -> None:
    """``devstack restart-asterisk``: the config written again, ``core restart now`` (every
    call is hung up, Asterisk starts again with the same PID), back once fully booted.

    Should it not come back, the devstack starts it, and this raises.
    """
    try:
        devstack("restart-asterisk", timeout=120)
    except (RuntimeError, subprocess.TimeoutExpired):
        devstack("start")
        raise


@contextlib.contextmanager
def postgres_stopped() -> Iterator[None]:
    """The devstack's PostgreSQL stopped (``pg_ctl stop -m fast``), started on the way out."""
    devstack("postgres-stop", timeout=90)
    try:
        yield
    finally:
        devstack("postgres-start", timeout=90)


@contextlib.contextmanager
def recordings_on_tmpfs(size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``2m``) mounted over the recordings root that Asterisk writes to.

    The files already there are hidden, not touched, while it is mounted. On the way
    out every call is hung up (Asterisk closes its files) and it is unmounted.
    """
    env = devstack_env()
    root = Path(env["CTI_RECORDINGS_LOCAL_ROOT"])
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "cti-recordings", str(root)],
        check=True,
    )
    try:
        (root / "cti" / "voicemail").mkdir(parents=True)
        yield root
    finally:
        asterisk_cli("channel request hangup all")
        for _ in range(20):
            if subprocess.run(["umount", str(root)], check=False).returncode == 0:
                break
            time.sleep(0.5)
        else:
            subprocess.run(["umount", "-l", str(root)], check=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc in _procs:
        _procs.remove(proc)


def cleanup() -> None:
    """End every SIPp process started by this module (by PID)."""
    for proc in list(_procs):
        _stop(proc)


atexit.register(cleanup)

__all__ = [
    "AGENT_IPS",
    "CALLER_IPS",
    "CDR_FIELDS",
    "CONFIRM_DIAL_TEMPLATE",
    "add_queue_member",
    "asterisk_booted",
    "asterisk_cli",
    "asterisk_frozen",
    "asterisk_pid",
    "caller_with_patience",
    "cleanup",
    "devstack",
    "devstack_env",
    "devstack_running",
    "hang_up_every_call",
    "hangup_channels",
    "postgres_stopped",
    "read_cdr",
    "read_queue_log",
    "recordings_on_tmpfs",
    "remove_queue_member",
    "reset_logs",
    "restart_asterisk",
    "run_sipp_caller",
    "start_sipp_agent",
    "start_sipp_customers",
    "stop",
    "wait_for",
]
