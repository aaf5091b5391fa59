"""Service settings, read from ``CTI_*`` environment variables and an optional file.

A wrong value stops the service at start with one line naming the setting
(see :func:`load_settings`).
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(check_timezone)]
"""An IANA time zone name, e.g. ``Asia/Shanghai``."""

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK: tuple[IpNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
"""Who may talk FastAGI when ``CTI_AGI_ALLOWED`` is not set."""


class SettingsError(Exception):
    """A setting has a wrong value; the message names it."""


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "cti"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CTI_",
        env_file=None,
        extra="ignore",
        validate_default=True,
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str = ""
    """SQLAlchemy async URL. Empty means SQLite under ``data_dir``."""
    db_pool_size: int = Field(default=10, ge=1, le=500)
    """Database connections the service keeps open (as many more for bursts)."""

    ami_enabled: bool = True
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_username: str = "cti"
    ami_secret: SecretStr = SecretStr("")
    ami_ping_interval: float = Field(default=10.0, gt=0)
    ami_ping_timeout: float = Field(default=5.0, gt=0)
    ami_reconnect_min: float = Field(default=0.5, gt=0)
    ami_reconnect_max: float = Field(default=30.0, gt=0)
    ami_action_timeout: float = Field(default=10.0, gt=0)

    agi_enabled: bool = True
    agi_host: str = "127.0.0.1"
    agi_port: int = Field(default=4573, ge=1, le=65535)
    agi_deadline: float = Field(default=1.0, gt=0, le=10)
    """Seconds the hotline AGI may take to decide; past it the dialplan's defaults apply."""
    agi_allowed: Annotated[tuple[IpNetwork, ...], NoDecode] = ()
    """Addresses/networks FastAGI peers may come from; empty means loopback only."""
    agi_max_connections: int = Field(default=200, ge=1, le=100_000)
    """FastAGI sessions at once; one more is closed at once (Asterisk then queues the call)."""
    agi_request_timeout: float = Field(default=5.0, gt=0, le=60)
    """Seconds a FastAGI peer has to send its whole request (every ``agi_*`` line)."""
    agi_session_timeout: float = Field(default=900.0, gt=0, le=86_400)
    """Seconds one FastAGI session may last in all (a voicemail takes a few minutes)."""
    recordings_root: str = "/var/spool/asterisk/monitor"
    """Where Asterisk writes recordings (its own file system); paths outside are refused."""

    http_enabled: bool = True
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    http_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=2**31 - 1)
    """Largest request body (JSON routes); a larger one is refused with 413, unread."""
    http_max_import_bytes: int = Field(default=1024**3, ge=1024, le=2**40)
    """Largest NDJSON import body (``POST /api/v1/orders:import``, read as a stream)."""
    http_header_timeout: float = Field(default=10.0, gt=0, le=300)
    """Seconds a client has to send a request's line and headers; then it is disconnected."""
    http_body_timeout: float = Field(default=30.0, gt=0, le=3600)
    """Seconds a client has to send a whole request body; then 408."""
    http_import_timeout: float = Field(default=3600.0, gt=0, le=86400)
    """Seconds a client has to send a whole NDJSON import body; then 408."""
    http_keep_alive_timeout: int = Field(default=5, ge=1, le=300)
    """Seconds an idle keep-alive connection is kept open."""
    http_max_connections: int = Field(default=1000, ge=1, le=100_000)
    """Open connections (WebSockets included) beyond which new requests get 503."""
    http_ws_max_message_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    """Largest WebSocket message a client may send; a larger one closes the socket (1009)."""
    http_ws_compression: bool = False
    """permessage-deflate on WebSockets: off by default, the desktops' frames are small
    and on a LAN; zlib on every frame to every desktop costs the event loop more than
    it saves."""

    auth_failure_burst: int = Field(default=20, ge=1, le=100_000)
    """Wrong tokens a client address may present in a row before it gets 429."""
    auth_failures_per_minute: float = Field(default=10.0, gt=0, le=100_000)
    """How fast a client address earns back attempts after wrong tokens."""

    timezone: TimeZoneName = "Asia/Shanghai"
    default_region: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    """The event loop ``cti serve`` runs on: uvloop (libuv; faster AMI reads, WebSocket
    writes and database round trips) or the standard library's."""

    @field_validator("agi_allowed", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        """``10.0.0.5,192.168.10.0/24``: comma-separated addresses and networks."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            return value
        networks: list[IpNetwork] = []
        for item in value:
            try:
                networks.append(ipaddress.ip_network(item))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"not an address or network: {exc}") from None
        return tuple(dict.fromkeys(networks))

    @field_validator("recordings_root")
    @classmethod
    def _recordings_root(cls, value: str) -> str:
        root = value.rstrip("/")
        if not root.startswith("/") or posixpath.normpath(root) != root:
            raise ValueError("must be an absolute path below / without '.', '..' or '//'")
        if not re.fullmatch(r"[0-9A-Za-z/_.-]{1,200}", root):
            raise ValueError("use letters, digits, '/', '_', '.' and '-' only")
        return root

    @property
    def agi_allowed_networks(self) -> tuple[IpNetwork, ...]:
        """The FastAGI allow list in force: ``CTI_AGI_ALLOWED``, or loopback."""
        return self.agi_allowed or LOOPBACK

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'cti.sqlite3'}"


def settings_error(exc: ValidationError, prefix: str) -> SettingsError:
    """One line per wrong setting, naming its environment variable, never its value."""
    lines = []
    for err in exc.errors():
        name = prefix + "_".join(str(p) for p in err["loc"]).upper()
        lines.append(f"invalid setting {name}: {err['msg']}")
    return SettingsError("; ".join(lines))


M = TypeVar("M", bound=BaseSettings)


def load_section(cls: type[M], prefix: str) -> M:
    """Build a settings section (``CTI_ACD_*``, ``CTI_AGENT_*`` …) from the environment."""
    try:
        return cls()
    except ValidationError as exc:
        raise settings_error(exc, prefix) from None
    except PydanticSettingsError as exc:
        # Raised for a complex (JSON) value that does not parse.
        m = re.search(r'field "([^"]+)"', str(exc))
        name = prefix + (m.group(1).upper() if m else "?")
        cause = exc.__cause__
        raise SettingsError(f"invalid setting {name}: not valid JSON ({cause})") from None


def apply_env_file(env_file: Path) -> None:
    """Put a settings file's ``CTI_*`` lines into the environment; real variables win."""
    if not env_file.is_file():
        raise SettingsError(f"settings file {env_file} does not exist")
    for key, value in dotenv_values(env_file).items():
        if key.startswith("CTI_") and value is not None:
            os.environ.setdefault(key, value)


def load_settings(env_file: Path | None = None) -> Settings:
    """Build settings from the environment (and ``env_file`` if given).

    Raises :class:`SettingsError` with one line per wrong setting, each naming
    the environment variable, never echoing a secret value.
    """
    if env_file is not None:
        apply_env_file(env_file)
    return load_section(Settings, "CTI_")
