"""One settings object, read once: ``DATABASE_URL`` first, then ``GRIDPATROL_*``."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.core.timewindow import time_zone

DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
# The directory holding the ``gis`` package: a checkout's root for a development install.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def checkout_root(package_root: Path = PACKAGE_ROOT) -> Path | None:
    """The gridpatrol checkout the code runs from (an editable/development install), or None
    when it is installed as a package (``site-packages`` holds no ``pyproject.toml``)."""
    try:
        project = (package_root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return package_root if 'name = "gridpatrol"' in project else None


def default_home(
    *, package_root: Path = PACKAGE_ROOT, environ: Mapping[str, str] = os.environ
) -> Path:
    """Where gridpatrol keeps its state when ``GRIDPATROL_HOME`` is not set.

    The checkout's ``.gridpatrol/`` for a development install, else the user's data directory
    (``$XDG_DATA_HOME/gridpatrol``, by default ``~/.local/share/gridpatrol``). Never the
    working directory: a command run from elsewhere must find the same database, not make a
    new empty one where it stands.
    """
    checkout = checkout_root(package_root)
    if checkout is not None:
        return checkout / ".gridpatrol"
    # The XDG spec: a relative value is invalid and ignored.
    xdg = environ.get("XDG_DATA_HOME", "")
    user_home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    base = Path(xdg) if os.path.isabs(xdg) else user_home / ".local" / "share"
    return base / "gridpatrol"


class Settings(BaseSettings):
    """Runtime configuration of gridpatrol."""

    model_config = SettingsConfigDict(env_prefix="GRIDPATROL_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "GRIDPATROL_DATABASE_URL")
    )
    # Where the embedded PostGIS cluster and other local state live (see ``default_home``).
    home: Path = Field(default_factory=default_home)
    # Photos of reports (files named by their SHA-256); unset: ``<home>/photos``.
    photo_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # Basemap tiles for the maps; empty means no basemap (offline intranet).
    tile_url: str = DEFAULT_TILE_URL
    tile_attribution: str = "© OpenStreetMap contributors"
    # Largest page a list endpoint returns.
    max_page_size: int = 1000
    # Report categories and deadlines (TOML); validated when the app starts.
    categories_file: Path = Path(__file__).parents[1] / "reports" / "categories.toml"
    # Topology: gaps below this area (m²) are slivers, reported apart as warnings.
    sliver_area_m2: float = 1.0
    # Assignment: a building whose largest grid holds less than this share is "split".
    split_share: float = 0.9
    # IANA time zone in which a time given without an offset (``since=2025-01-01``) is read.
    timezone: str = "Asia/Shanghai"
    # Signs bearer tokens; unset: generated once into <home>/secret_key (0600). Never logged.
    secret_key: SecretStr | None = None
    # Lifetime of a token from POST /auth/token (a shift); `users token --days` sets its own.
    token_minutes: int = Field(default=480, ge=1, le=60 * 24 * 30)
    # Request bodies larger than this are refused with 413 before anything parses them.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # A GPS track (POST /patrols/{id}/track, `load --layer tracks`): a day of 1 Hz fixes as GPX
    # is ~10 MB. Refused while streaming once larger, by the API and the CLI alike.
    max_track_bytes: int = Field(default=24 * 1024 * 1024, ge=1024)
    # Anonymous report intake (POST /reports, Open311 POST) per client address: a burst,
    # then this many per minute; 0 turns the limit off (e.g. behind a proxy that limits).
    intake_rate_per_minute: float = Field(default=10.0, ge=0)
    intake_burst: int = Field(default=20, ge=1)
    # Sign-in attempts (POST /auth/token) per client address: a burst, then per minute.
    login_rate_per_minute: float = Field(default=10.0, ge=0)
    login_burst: int = Field(default=10, ge=1)
    # Heavy requests (hotspots, maps that compute, patrol plans): at most this many compute at
    # once per process (default: half the cores); another waits up to heavy_wait_s, then gets
    # 503 with Retry-After heavy_retry_after_s.
    heavy_slots: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1)
    heavy_wait_s: float = Field(default=1.0, ge=0, le=60)
    heavy_retry_after_s: int = Field(default=5, ge=1, le=3600)
    # Anonymous heavy GETs per client address: a burst, then this many per minute (0: off).
    heavy_rate_per_minute: float = Field(default=6.0, ge=0)
    heavy_burst: int = Field(default=3, ge=1)
    # A patrol plan's solver budget per mode (time_limit_s) is capped to this many seconds.
    plan_max_time_limit_s: float = Field(default=60.0, gt=0, le=600)
    # A report farther than this (metres) from every district is refused at intake (422
    # naming the distance); nearer but outside every grid, it is kept unlocated.
    max_report_distance_m: float = Field(default=20_000.0, gt=0, le=1_000_000)
    # The server's public base URL (https://gis.example.org) for the links of OGC documents
    # and TileJSON; empty: the address the server listens on. Never the request's Host header
    # (a client could point the links anywhere).
    public_url: str = Field(default="", pattern=r"^(https?://[^/?#\s]+(/[^?#\s]*)?)?$")

    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto name the client: addresses or
    # networks, comma-separated. Default none: the peer of the TCP connection is the client,
    # so a header cannot pick a new rate-limit bucket or write the access log's address.
    trusted_proxies: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        """Each entry an IP address or network (``10.0.0.0/8``), refused at start otherwise."""
        for entry in _entries(value):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"GRIDPATROL_TRUSTED_PROXIES: {entry!r} is not an IP address or network; "
                    "list the reverse proxies' addresses, comma-separated"
                ) from None
        return value

    @property
    def photo_path(self) -> Path:
        """Where photos of reports are stored: ``photo_dir``, else ``<home>/photos``."""
        return self.photo_dir if self.photo_dir is not None else self.home / "photos"

    @property
    def proxy_addresses(self) -> list[str]:
        """``trusted_proxies`` as a list (empty: forwarded headers are not read)."""
        return _entries(self.trusted_proxies)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """Refuse an unknown zone at start rather than at the first request."""
        time_zone(value)
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The configured time zone."""
        return time_zone(self.timezone)

    @field_validator("database_url")
    @classmethod
    def _normalise_driver(cls, value: str | None) -> str | None:
        """Accept ``postgres://`` and ``postgresql://`` URLs; use the psycopg 3 driver."""
        if not value:
            return None
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value


def _entries(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
