"""Opaque recording ids and signed playback links, both keyed by one secret.

A recording's id is known from the moment Asterisk starts writing it (the HMAC
of its call and segment), so a live call can name its recordings and the audio
route can say "still being written" for one that is not in the catalog yet;
without the key nobody can compute or guess another call's ids.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cti.bounds import is_public_id

ID_PREFIX = "rec_"
KEY_FILE = "recordings.key"


def _b32(digest: bytes, length: int) -> str:
    return base64.b32encode(digest).decode("ascii").lower().rstrip("=")[:length]


def recording_id(key: bytes, linkedid: str, segment: int) -> str:
    """The public id of segment ``segment`` (1-based) of call ``linkedid``."""
    mac = hmac.new(key, f"id\x00{linkedid}\x00{segment}".encode(), hashlib.sha256).digest()
    return ID_PREFIX + _b32(mac, 26)


def looks_like_id(value: str) -> bool:
    """Cheap shape check before any lookup (the route also bounds the length)."""
    return is_public_id(value, ID_PREFIX)


def link_signature(key: bytes, public_id: str, expires: int) -> str:
    """Signature of a playback link for ``public_id`` valid until ``expires`` (unix seconds)."""
    mac = hmac.new(key, f"link\x00{public_id}\x00{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def link_valid(key: bytes, public_id: str, expires: int, signature: str, now: float) -> bool:
    if now > expires:
        return False
    return hmac.compare_digest(link_signature(key, public_id, expires), signature)


def load_key(configured: str, data_dir: Path) -> bytes:
    """The configured key, or a random one created once in ``data_dir`` (mode 0600).

    Several service instances sharing recordings must share the key: configure
    ``CTI_RECORDINGS_LINK_KEY`` for them (ids and links are then the same everywhere).
    """
    if configured:
        return configured.encode()
    path = data_dir / KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key.hex())
        out.flush()
        os.fsync(out.fileno())
    try:
        # Two processes starting at once: the first link wins, both read it back.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())
