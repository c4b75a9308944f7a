"""The process's Redis connection: one configured pool, shared by every part that uses Redis.

Presence, the rate limiter, the message queue's publisher and the readiness probe all send
their commands through the client ``create`` builds, so every command has the same bounds:
``REDIS_TIMEOUT_S`` to connect, to get an answer, and to wait for a free pooled connection.
A hung Redis therefore costs a caller that long and never more. The message queue's
subscriber is the one connection apart (``subscriber_options``): it waits for messages
without end, so it has no read timeout.
"""

from __future__ import annotations

from pathlib import Path

import redis

# A greenlet per connecting socket may want Redis at once: callers queue for one of these
# (a blocking pool) instead of opening connections without bound or failing past the cap.
MAX_CONNECTIONS = 100
LUA_DIR = Path(__file__).with_name("lua")


def connect(url: str, timeout_s: float = 2.0) -> redis.Redis:
    """A client on a blocking pool for ``url``; every wait on it is bounded by ``timeout_s``."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        socket_keepalive=True,
    )
    return redis.Redis(connection_pool=pool)


def create(config: dict) -> redis.Redis | None:
    """The client for REDIS_URL with REDIS_TIMEOUT_S, or None when one process runs alone."""
    url = config.get("REDIS_URL")
    if not url:
        return None
    return connect(str(url), float(config["REDIS_TIMEOUT_S"]))


def subscriber_options(client: redis.Redis) -> dict:
    """``Redis.from_url`` options for a pub/sub listener: ``client``'s, minus the read timeout.

    A subscriber waits for messages indefinitely; keepalive notices a vanished peer instead.
    """
    kwargs = client.connection_pool.connection_kwargs
    return {"socket_keepalive": True, "socket_connect_timeout": kwargs["socket_connect_timeout"]}


def check_url(url: str) -> None:
    """Raises ValueError (or TypeError) when ``url`` is not a Redis URL."""
    redis.ConnectionPool.from_url(url)


def where(url: str) -> str:
    """host:port/db (or the socket path) of a Redis URL, never its password."""
    kw = redis.connection.parse_url(url)
    if "path" in kw:
        return str(kw["path"])
    return f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


def lua(name: str) -> str:
    """The source of the Lua script ``chat/lua/<name>.lua``."""
    return (LUA_DIR / f"{name}.lua").read_text()
