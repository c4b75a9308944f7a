"""Configuration: safe defaults, overridden by environment variables."""

from __future__ import annotations

import functools
import ipaddress
import os
import secrets
from pathlib import Path

from gunicorn.errors import AppImportError


class StartupError(AppImportError):
    """Bad configuration found at start; the message is the one line an operator reads.

    A subclass of gunicorn's AppImportError because gunicorn prints exactly that message
    (no traceback) and halts the master instead of respawning a worker that cannot boot.
    """


DEFAULTS: dict[str, object] = {
    "MAX_MESSAGE_LENGTH": 4000,
    "HISTORY_PAGE": 50,
    # Users in the `users` event: self, recent conversations, online, then by name. Its
    # size is most of a connection's cost; search (GET /api/users) finds anyone else.
    "USERS_LIST_LIMIT": 100,
    "SESSION_IDLE_DAYS": 30,
    # Most messages, or new users (chat.store.signups), stored in one transaction
    # (chat.groupcommit); a lone one never waits.
    "GROUP_COMMIT_SIZE": 64,
    # Most presence changes announced in one pass (chat.announce); a lone one never waits.
    "ANNOUNCE_BATCH": 200,
    # While the database fails, a change whose audience needs it waits; tried again this often.
    "ANNOUNCE_RETRY_S": 2.0,
    "SEND_RATE": 20.0,  # messages per second, sustained
    "SEND_BURST": 40,
    "TYPING_RATE": 1.0,
    "TYPING_BURST": 3,
    "FETCH_RATE": 5.0,
    "FETCH_BURST": 10,
    "SEARCH_RATE": 2.0,  # message searches per second, sustained
    "SEARCH_BURST": 10,
    # Edits, deletes, blocks and unblocks, together, per user.
    "EDIT_RATE": 2.0,
    "EDIT_BURST": 20,
    # How long after sending a message its sender may edit it (PROTOCOL.md B7).
    "EDIT_WINDOW_S": 900.0,
    # Handshakes (docs/security.md): a resume of a live session is limited per session;
    # any other handshake per client address, and a login by name (a new user, a password
    # to check) also by SIGNUP per address. Behind one NAT, any number of people with live
    # sessions get back in at once after a restart.
    "RESUME_RATE": 1.0,  # per session: its tabs reconnecting
    "RESUME_BURST": 20,
    "CONNECT_RATE": 5.0,  # per address: handshakes that resume no live session
    "CONNECT_BURST": 100,
    "SIGNUP_RATE": 0.5,  # per address: users created and passwords tried (30 a minute)
    "SIGNUP_BURST": 30,
    # A killed process's users are announced offline within TTL + heartbeat (20 s).
    "PRESENCE_HEARTBEAT_S": 5.0,
    "PRESENCE_TTL_S": 15.0,
    # On SIGTERM: how long users may take to reconnect elsewhere before they are announced
    # offline, and how long in-flight events may take before the sockets are closed anyway.
    "PRESENCE_DRAIN_GRACE_S": 10.0,
    "DRAIN_TIMEOUT_S": 5.0,
    # How long a database may keep a user waiting (connect, lock wait) before "unavailable".
    "DB_TIMEOUT_S": 5.0,
    # SQLite under gunicorn: seconds between the checkpoints a native thread runs, off the
    # event loop (chat/checkpoint.py); 0 leaves them to the commits, SQLite's default.
    "SQLITE_CHECKPOINT_S": 1.0,
    # How long any Redis command (connect, answer, a free pooled connection) may take.
    "REDIS_TIMEOUT_S": 2.0,
    # Attachments (docs/attachments.md): bytes per file, per user (sent and unsent), pixels
    # per image frame (a decompression bomb's guard), uploads per second and burst, how long
    # an upload never sent is kept, and how often each process sweeps those.
    "MAX_ATTACHMENT_BYTES": 10 * 1024 * 1024,
    "ATTACHMENT_QUOTA_BYTES": 500 * 1024 * 1024,
    "ATTACHMENT_MAX_PIXELS": 40_000_000,
    "UPLOAD_RATE": 0.5,
    "UPLOAD_BURST": 20,
    "ATTACHMENT_UNSENT_TTL_S": 86400.0,
    "ATTACHMENT_SWEEP_S": 3600.0,
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (nginx: 1).
    "TRUSTED_PROXIES": 0,
}

_INT_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, int)}
_FLOAT_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, float)}


def database_uri(url: str | None, instance_path: str) -> str:
    """The SQLAlchemy URI for DATABASE_URL (psycopg 3 for PostgreSQL; SQLite in instance/)."""
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "chat.db")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def secret_key(instance_path: str) -> str:
    """The key in ``instance/secret_key``, generated there once (atomically) if missing."""
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
    """The settings: defaults, then the environment, then ``overrides`` (tests)."""
    env = os.environ if environ is None else environ
    overrides = overrides or {}
    config: dict[str, object] = dict(DEFAULTS)
    for key in DEFAULTS:
        if key in env:
            raw = env[key]
            try:
                if key in _INT_KEYS:
                    config[key] = int(raw)
                elif key in _FLOAT_KEYS:
                    config[key] = float(raw)
            except ValueError:
                raise StartupError(f"{key} must be a number, not {raw!r}") from None
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
    config["LOG_LEVEL"] = env.get("LOG_LEVEL", "INFO").upper()
    # /metrics answers these networks (no proxy headers) or the bearer token; see README.
    config["METRICS_ALLOWED_NETWORKS"] = env.get("METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1")
    config["METRICS_TOKEN"] = env.get("METRICS_TOKEN") or None
    # purge-messages' default; unset keeps messages forever.
    config["RETENTION_DAYS"] = env.get("RETENTION_DAYS") or None
    # auto: check at start when serving (not in tests or flask CLI commands); 1 always; 0 never.
    config["STARTUP_CHECKS"] = env.get("STARTUP_CHECKS", "auto")
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["SESSION_COOKIE_SECURE"] = env.get("SESSION_COOKIE_SECURE", "0") == "1"
    config.update(overrides)
    return config


def engine_options(config: dict) -> dict[str, object]:
    """Pool settings and timeouts that suit the configured database.

    Every wait on the database is bounded by DB_TIMEOUT_S, so that a database that is down,
    unreachable or locked is answered with "unavailable" instead of a hang.
    """
    uri = str(config["SQLALCHEMY_DATABASE_URI"])
    timeout = float(config["DB_TIMEOUT_S"])
    if uri.startswith("sqlite"):
        # One connection: a writer waiting on SQLite's lock can't block the one holding it.
        # ``timeout`` is SQLite's busy timeout: how long a write waits for another process's lock.
        # hide_parameters: error messages (and so logs) never carry message content.
        return {
            "pool_size": 1,
            "max_overflow": 0,
            "pool_timeout": timeout * 2,
            "connect_args": {"timeout": timeout},
            "hide_parameters": True,
        }
    ms = int(timeout * 1000)
    # Every event checks a connection out and back in, so the pool is sized for the greenlets
    # working at once and never grows past it: an overflow connection is closed on return and
    # reopened by the next event, a new server process each time (measured: 447 -> 1,136
    # relayed msg/s without overflow). Waiting for a connection is queueing, bounded by
    # DB_TIMEOUT_S x 2: a burst of 5,000 reconnects had 52 refused at 10 s (they retry).
    return {
        # No ping per checkout: it was a round trip per event. A connection the server has
        # closed fails its first statement instead; SQLAlchemy then replaces the pool's
        # connections, and the send path runs its statement again (chat/store/batch.py).
        "hide_parameters": True,
        "pool_pre_ping": False,
        "pool_size": 10,
        "max_overflow": 0,
        "pool_timeout": timeout * 2,
        "connect_args": {
            "connect_timeout": max(1, round(timeout)),
            # A lock held elsewhere (a migration, a stuck transaction) cancels the statement
            # instead of queueing every send behind it. Not statement_timeout: that would also
            # cancel a long migration run with these settings.
            "options": f"-c lock_timeout={ms}",
            # A peer that vanished without a FIN (network partition) is noticed by the kernel
            # within this many ms instead of TCP's default of minutes.
            "tcp_user_timeout": ms,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        },
    }


def max_buffer_size(config: dict) -> int:
    """Bytes of the largest valid event, the limit of any packet.

    Worst case per character: 12 bytes, a JSON-escaped surrogate pair as python-socketio's
    client writes an emoji; 4 KiB more carries the rest of the packet.
    """
    return int(config["MAX_MESSAGE_LENGTH"]) * 12 + 4096


@functools.cache
def metrics_networks(spec: str) -> tuple:
    """The networks of METRICS_ALLOWED_NETWORKS; raises ValueError when malformed."""
    return tuple(ipaddress.ip_network(n.strip()) for n in spec.split(",") if n.strip())
