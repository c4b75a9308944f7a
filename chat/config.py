"""Configuration: safe defaults, overridden by environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEFAULTS: dict[str, object] = {
    "MAX_MESSAGE_LENGTH": 4000,
    "HISTORY_PAGE": 50,
    # Users in the `users` event: self, recent conversations, online, then by name. Its
    # size is most of a connection's cost; search (GET /api/users) finds anyone else.
    "USERS_LIST_LIMIT": 100,
    "SESSION_IDLE_DAYS": 30,
    "SEND_RATE": 20.0,  # messages per second, sustained
    "SEND_BURST": 40,
    "TYPING_RATE": 1.0,
    "TYPING_BURST": 3,
    "FETCH_RATE": 5.0,
    "FETCH_BURST": 10,
    "CONNECT_RATE": 5.0,  # handshakes per second per IP
    "CONNECT_BURST": 30,
    "PRESENCE_HEARTBEAT_S": 10,
    "PRESENCE_TTL_S": 25,
}

_INT_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, int)}
_FLOAT_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, float)}


def database_uri(url: str | None, instance_path: str) -> str:
    """Called by ``load``; turns DATABASE_URL into a SQLAlchemy URI (psycopg 3 for PostgreSQL)."""
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "chat.db")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def secret_key(instance_path: str) -> str:
    """Called by ``load``; returns SECRET_KEY or one generated once into ``instance/``."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL so that two processes starting together agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def load(
    instance_path: str, environ: os._Environ | dict | None = None, overrides: dict | None = None
) -> dict[str, object]:
    """Called by ``create_app``; defaults, then the environment, then ``overrides`` (tests)."""
    env = os.environ if environ is None else environ
    overrides = overrides or {}
    config: dict[str, object] = dict(DEFAULTS)
    for key in DEFAULTS:
        if key in env:
            raw = env[key]
            if key in _INT_KEYS:
                config[key] = int(raw)
            elif key in _FLOAT_KEYS:
                config[key] = float(raw)
    config["SQLALCHEMY_DATABASE_URI"] = database_uri(env.get("DATABASE_URL"), instance_path)
    config["REDIS_URL"] = env.get("REDIS_URL") or None
    # Every Redis key and the message-queue channel start with this, so that several
    # deployments (or test runs) can share one Redis without hearing each other.
    config["REDIS_PREFIX"] = env.get("REDIS_PREFIX", "chat:")
    config["SECRET_KEY"] = (
        overrides.get("SECRET_KEY") or env.get("SECRET_KEY") or secret_key(instance_path)
    )
    origins = env.get("CORS_ALLOWED_ORIGINS")
    # None means same-origin only in python-engineio; "*" must be asked for explicitly.
    config["CORS_ALLOWED_ORIGINS"] = origins.split(",") if origins else None
    config["LOG_FORMAT"] = env.get("LOG_FORMAT", "text")
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["SESSION_COOKIE_SECURE"] = env.get("SESSION_COOKIE_SECURE", "0") == "1"
    config.update(overrides)
    return config


def engine_options(config: dict) -> dict[str, object]:
    """Called by ``create_app``; pool settings that suit the configured database."""
    uri = str(config["SQLALCHEMY_DATABASE_URI"])
    if uri.startswith("sqlite"):
        # One connection: a writer waiting on SQLite's lock can't block the one holding it.
        return {"pool_size": 1, "max_overflow": 0, "pool_timeout": 10}
    # Every event checks a connection out and back in (the session ends with the event), so
    # the pool is sized for the greenlets working at once and never grows past it: an
    # overflow connection is closed on return and reopened by the next event, a new server
    # process each time (measured: 447 -> 1,136 relayed msg/s once gone). Waiting for a
    # connection is queueing: the timeout lets a burst of reconnects (5,000 after a restart)
    # drain instead of refusing some (measured: 52 of 5,000 refused at 10 s).
    return {
        "pool_pre_ping": True,
        "pool_size": 10,
        "max_overflow": 0,
        "pool_timeout": 30,
        "connect_args": {"connect_timeout": 5},
    }


def max_buffer_size(config: dict) -> int:
    """Called by ``create_app``; the largest valid event (6 bytes a character when escaped)."""
    return max(64 * 1024, int(config["MAX_MESSAGE_LENGTH"]) * 6 + 4096)
