"""Where the engine keeps its data, and how it is configured."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 5555
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_JSON_BYTES = 16 * 1024 * 1024


def env_number(name: str, default: float) -> float:
    """A number from the environment (seconds, counts); `default` when unset or not a number."""
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def parse_origins(text: str) -> tuple[str, ...]:
    """Comma-separated web origins (`https://app.example`, or `*`), as browsers send them in
    `Origin`: scheme, host and port in lower case, without a trailing slash."""
    return tuple(o.strip().rstrip("/").lower() for o in text.split(",") if o.strip())


def default_data_dir() -> Path:
    """`$NYLAS_ENGINE_HOME`, else the XDG data directory of the current user."""
    if env := os.environ.get("NYLAS_ENGINE_HOME"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nylas-engine"


@dataclass
class Settings:
    """Everything a running engine needs to know; built once by the CLI."""

    data_dir: Path = field(default_factory=default_data_dir)
    db_url: str | None = None
    auth_mode: str = "open"  # "open": account id is the token; "token": OAuth tokens only
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    # Failed sign-ins (client secret, password, code) allowed per client IP and target in
    # `auth_failure_window` seconds before 429 (api/ratelimit.py); 0 turns the limit off.
    auth_failure_limit: int = field(
        default_factory=lambda: int(env_number("NYLAS_ENGINE_AUTH_FAILURE_LIMIT", 10))
    )
    auth_failure_window: float = field(
        default_factory=lambda: env_number("NYLAS_ENGINE_AUTH_FAILURE_WINDOW", 60.0)
    )
    # Mail hosts that POST /connect/authorize may connect to in token mode besides public
    # ones: comma-separated names, addresses and networks, "*" for any (sync/hosts.py).
    allow_mail_hosts: str = field(
        default_factory=lambda: os.environ.get("NYLAS_ENGINE_ALLOW_MAIL_HOSTS", "")
    )

    # Web origins whose pages may call the API from a browser (CORS); none by default, so no
    # other site can read a reply. `*` allows any origin, but never with credentials.
    cors_origins: tuple[str, ...] = field(
        default_factory=lambda: parse_origins(os.environ.get("NYLAS_ENGINE_CORS_ORIGINS", ""))
    )
    # Idempotency-Key (api/idempotency.py): how long a key and its reply are kept, and how
    # long a request that never finished (its engine died) holds its key before a retry runs.
    idempotency_ttl: float = field(
        default_factory=lambda: env_number("NYLAS_ENGINE_IDEMPOTENCY_TTL", 24 * 3600.0)
    )
    idempotency_lease: float = field(
        default_factory=lambda: env_number("NYLAS_ENGINE_IDEMPOTENCY_LEASE", 60.0)
    )

    # Admission control (api/admission.py): short requests worked on at once; more wait, first
    # come first served, `max_queued` at most and each `queue_timeout` seconds at most, then
    # get 503 + Retry-After. Long-lived requests (delta longpoll/streaming) count apart, up
    # to `max_streams`. Worker threads and the database pool are sized from these.
    max_in_flight: int = field(
        default_factory=lambda: max(1, int(env_number("NYLAS_ENGINE_MAX_IN_FLIGHT", 32)))
    )
    max_queued: int = field(
        default_factory=lambda: max(0, int(env_number("NYLAS_ENGINE_MAX_QUEUED", 1000)))
    )
    queue_timeout: float = field(
        default_factory=lambda: max(0.0, env_number("NYLAS_ENGINE_QUEUE_TIMEOUT", 10.0))
    )
    # Seconds a request body may stop arriving before the request is answered 408.
    body_timeout: float = field(
        default_factory=lambda: max(0.1, env_number("NYLAS_ENGINE_BODY_TIMEOUT", 30.0))
    )
    max_streams: int = field(
        default_factory=lambda: max(1, int(env_number("NYLAS_ENGINE_MAX_STREAMS", 256)))
    )

    # Where blobs live: None for the data dir's `blobs/`, or `s3://bucket/prefix` (endpoint
    # and credentials from the environment, store/s3_blobs.py).
    blobs_url: str | None = field(default_factory=lambda: os.environ.get("NYLAS_ENGINE_BLOBS"))

    @property
    def worker_threads(self) -> int:
        """Threads for blocking work: one per admitted request, plus some for the short
        database checks of long-lived requests."""
        return self.max_in_flight + 8

    # "all", "api" or "worker" (`serve --role`): a fleet worker serves no requests, and keeps
    # fewer connections (`NYLAS_ENGINE_WORKER_DB_POOL`) so that many fit one PostgreSQL.
    role: str = "all"
    worker_db_pool: int = field(
        default_factory=lambda: max(2, int(env_number("NYLAS_ENGINE_WORKER_DB_POOL", 8)))
    )

    @property
    def db_pool_size(self) -> int:
        """Connections kept: one per worker thread, plus some for sync and webhook threads,
        so that a thread never waits for a connection another request holds."""
        if self.role == "worker":
            return self.worker_db_pool
        return self.worker_threads + 8

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'engine.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @classmethod
    def from_env(cls) -> Settings:
        """Settings passed to a server process through the environment (see cli.serve)."""
        settings = cls()
        if url := os.environ.get("NYLAS_ENGINE_DB"):
            settings.db_url = url
        if mode := os.environ.get("NYLAS_ENGINE_AUTH"):
            settings.auth_mode = mode
        if limit := os.environ.get("NYLAS_ENGINE_MAX_UPLOAD"):
            settings.max_upload_bytes = int(limit)
        return settings
