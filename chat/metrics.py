"""Instrumentation: Prometheus metrics and the matching structured log lines.

Handlers call one function per observation (``acked``, ``handshake``, ``disconnected``,
``relayed``); everything else (database errors, rate-limit refusals, unexpected exceptions)
is hooked here without touching them.

With ``PROMETHEUS_MULTIPROC_DIR`` set (it must be set before this module is imported, so
in the process environment), prometheus-client's multiprocess mode keeps every value in a
per-process memory-mapped file in that directory and ``/metrics`` on any process sums the
files of all processes sharing it: one scrape sees the whole host. Unset, values live in
this process and ``/metrics`` shows only it.
"""

from __future__ import annotations

import functools
import glob
import hmac
import ipaddress
import logging
import os
import re
from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from flask import Flask, Request, request
from flask_socketio import ConnectionRefusedError
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import event
from sqlalchemy.engine import Engine

from chat.config import StartupError
from chat.logs import fields

# The lines written here are about Socket.IO events: they carry that logger's name.
log = logging.getLogger("chat.events")

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
if MULTIPROC_DIR and not (os.path.isdir(MULTIPROC_DIR) and os.access(MULTIPROC_DIR, os.W_OK)):
    # Checked here, not with the other settings: the metrics below open their files now.
    raise StartupError(f"PROMETHEUS_MULTIPROC_DIR={MULTIPROC_DIR} is not a writable directory")

# The *_created series double the exposition and nothing here needs them.
disable_created_metrics()

# Metrics register here, not in prometheus-client's global registry, so that /metrics
# shows exactly the chat's and importing this module twice in tests cannot collide.
REGISTRY = CollectorRegistry(auto_describe=True)

SOCKETS = Gauge(
    "chat_connected_sockets",
    "Socket.IO connections open now (summed over live processes).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
CONNECTIONS = Counter("chat_connections", "Handshakes accepted.", registry=REGISTRY)
REFUSED = Counter(
    "chat_handshakes_refused", "Handshakes refused, by reason.", ["reason"], registry=REGISTRY
)
DISCONNECTIONS = Counter(
    "chat_disconnections", "Sockets closed, by reason.", ["reason"], registry=REGISTRY
)
STORED = Counter("chat_messages_stored", "Messages newly stored.", registry=REGISTRY)
RELAYED = Counter(
    "chat_messages_relayed",
    "Messages relayed (one emit to both users' rooms; retries included).",
    registry=REGISTRY,
)
ACKS = Counter(
    "chat_acks",
    "Handler results (the ack, when the client asked for one), by event and code.",
    ["event", "code"],
    registry=REGISTRY,
)
RELAY_LATENCY = Histogram(
    "chat_relay_latency_seconds",
    "From the handler receiving a private message to the return of its relay emit.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
DB_ERRORS = Counter(
    "chat_db_errors",
    "Database errors, by SQLAlchemy exception class.",
    ["kind"],
    registry=REGISTRY,
)
REDIS_ERRORS = Counter(
    "chat_redis_errors", "Redis errors, by where they happened.", ["where"], registry=REGISTRY
)
RATE_LIMITED = Counter(
    "chat_rate_limited", "Rate-limit refusals, by action.", ["action"], registry=REGISTRY
)
EXCEPTIONS = Counter(
    "chat_unexpected_exceptions",
    "Unhandled exceptions in Socket.IO handlers, by event.",
    ["event"],
    registry=REGISTRY,
)

# Receipt time of the event being handled: set by ``acked`` on entry, read by ``relayed``.
# A ContextVar is per greenlet under gevent and per thread otherwise.
_received: ContextVar[float | None] = ContextVar("chat_received", default=None)


def _child(metric, cache: dict, *labels: str):
    # labels() takes the metric's lock and builds a tuple each time; children are cached.
    child = cache.get(labels)
    if child is None:
        child = cache[labels] = metric.labels(*labels)
    return child


_ack_children: dict = {}
_rl_children: dict = {}


def _code(text: object) -> str:
    """A reason code from free text: ``"invalid username"`` becomes ``invalid_username``."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")[:40] or "unknown"


# The identity of the connection whose event or handshake is being handled; set by events.
current: ContextVar[Any] = ContextVar("chat_identity", default=None)


def _user_id() -> str | None:
    return getattr(current.get(), "user_id", None)


# --- handler hooks ---------------------------------------------------------------------


def acked(event_name: str, fn: Callable) -> Callable:
    """Called by ``events.handler``; wraps a handler to count its ack and log error acks."""
    ok = _child(ACKS, _ack_children, event_name, "ok")

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        _received.set(perf_counter())
        ack = fn(*args)
        if isinstance(ack, dict) and ack.get("ok") is False:
            code = str(ack.get("error"))
            _child(ACKS, _ack_children, event_name, code).inc()
            level = logging.WARNING if code == "unavailable" else logging.INFO
            log.log(
                level,
                "error ack",
                extra=fields("error_ack", _user_id(), code, socketEvent=event_name),
            )
        else:
            ok.inc()
        return ack

    return wrapper


def relayed(created: bool) -> None:
    """Called by the send handler after its emit: stored (when new), relayed, latency."""
    if created:
        STORED.inc()
    RELAYED.inc()
    started = _received.get()
    if started is not None:
        RELAY_LATENCY.observe(perf_counter() - started)


def handshake(fn: Callable) -> Callable:
    """Decorates the connect handler: counts and logs each accepted or refused handshake."""

    @functools.wraps(fn)
    def wrapper(auth: object = None) -> Any:
        try:
            result = fn(auth)
        except ConnectionRefusedError as exc:
            reason = _code((exc.error_args or {}).get("message"))
            REFUSED.labels(reason).inc()
            log.info("handshake refused", extra=fields("refused", None, reason))
            raise
        SOCKETS.inc()
        CONNECTIONS.inc()
        log.info("connected", extra=fields("connect", _user_id(), "accepted"))
        return result

    return wrapper


def disconnected(user_id: str, reason: object) -> None:
    """Called by the disconnect handler for a socket whose handshake was accepted."""
    code = _code(reason) if reason else "unknown"
    SOCKETS.dec()
    DISCONNECTIONS.labels(code).inc()
    log.info("disconnected", extra=fields("disconnect", user_id, code))


def redis_error(where: str) -> None:
    """Called where a Redis failure is absorbed (rate limiter fallback, presence heartbeat)."""
    REDIS_ERRORS.labels(where).inc()


def on_unexpected(exc: Exception, event_name: str | None = None) -> dict[str, Any] | bool:
    """Flask-SocketIO's default error handler: logs and counts an exception no handler caught.

    A failing ``connect`` is refused (returning False); any other event gets an
    ``unavailable`` ack rather than an empty one, so a client's retry logic applies.
    """
    import redis

    name = event_name or str((getattr(request, "event", None) or {}).get("message", "unknown"))
    EXCEPTIONS.labels(name).inc()
    if isinstance(exc, redis.RedisError):
        redis_error("event")
    log.error(
        "unexpected exception",
        exc_info=exc,
        extra=fields("exception", _user_id(), _code(type(exc).__name__), socketEvent=name),
    )
    if name == "connect":
        REFUSED.labels("internal_error").inc()
        return False
    return {"ok": False, "error": "unavailable", "detail": "internal error; retry later"}


class CountingLimiter:
    """Wraps the app's rate limiter to count refusals by action (the key's prefix)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def take(self, key: str, rate: float, burst: int) -> int:
        """Same contract as the wrapped limiter's ``take``."""
        wait = self.inner.take(key, rate, burst)
        if wait:
            _child(RATE_LIMITED, _rl_children, key.split(":", 1)[0]).inc()
        return wait

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@event.listens_for(Engine, "handle_error")
def _db_error(ctx) -> None:
    """SQLAlchemy calls this for every DBAPI error, connection failures included."""
    if ctx.is_pre_ping:
        return  # a stale pooled connection, replaced transparently
    exc = ctx.sqlalchemy_exception or ctx.original_exception
    DB_ERRORS.labels(type(exc).__name__).inc()


class _QueueErrors(logging.Filter):
    """python-socketio's Redis queue only logs its failures; count them on the way."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Called for each record of the ``socketio.server`` logger; never drops one."""
        if record.levelno >= logging.ERROR and "redis" in str(record.msg).lower():
            redis_error("queue")
        return True


_queue_filter = _QueueErrors()


# --- exposition ------------------------------------------------------------------------


class _UsersCollector:
    """``chat_connected_users`` read from presence at scrape time (cluster-wide with Redis)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):
        """Called by the registry on each scrape."""
        try:
            count = len(self.app.extensions["chat.presence"].online())
        except Exception:
            redis_error("metrics")
            log.warning(
                "connected users unavailable",
                exc_info=True,
                extra=fields("metrics", None, "presence"),
            )
            return
        yield GaugeMetricFamily(
            "chat_connected_users", "Users with at least one open socket.", value=count
        )


def _prune_dead(path: str) -> None:
    # Live gauges of a process that died without cleanup (kill -9, OOM) would stay in the
    # sum; a scrape drops the files of pids that no longer exist on this host.
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        pid = int(name.rsplit("_", 1)[1][:-3])
        if not _alive(pid):
            mark_process_dead(pid, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:  # a killed process whose parent died too may linger as a zombie (Linux)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def render(app: Flask, accept: str = "") -> tuple[bytes, str]:
    """Called by ``GET /metrics``; the exposition in the format ``accept`` asks for, and its type.

    Without an Accept header that is the classic text format 0.0.4, which every Prometheus
    version reads; OpenMetrics when the scraper asks for it.
    """
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROC_DIR:
        _prune_dead(MULTIPROC_DIR)
        MultiProcessCollector(registry, MULTIPROC_DIR)
    else:
        registry.register(REGISTRY)
    registry.register(_UsersCollector(app))
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


def allowed(req: Request, config: dict) -> bool:
    """Called by ``GET /metrics``: the bearer token, or a direct client on an allowed network.

    A request that came through a proxy (forwarding headers) is not "direct": behind nginx
    on the same host every client would otherwise look like loopback.
    """
    token = config.get("METRICS_TOKEN")
    if token:
        given = req.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    if any(h in req.headers for h in ("X-Forwarded-For", "X-Real-IP", "Forwarded")):
        return False
    try:
        addr = ipaddress.ip_address(req.remote_addr or "")
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return any(addr in net for net in _networks(str(config.get("METRICS_ALLOWED_NETWORKS", ""))))


@functools.cache
def _networks(spec: str) -> tuple:
    """The allowed networks of METRICS_ALLOWED_NETWORKS; raises ValueError when malformed."""
    return tuple(ipaddress.ip_network(n.strip()) for n in spec.split(",") if n.strip())


def init_app(app: Flask) -> None:
    """Called by ``create_app``: rate-limit counting, the Socket.IO error handler, queue errors."""
    from chat.extensions import socketio

    app.extensions["chat.limiter"] = CountingLimiter(app.extensions["chat.limiter"])
    socketio.on_error_default(on_unexpected)
    queue_log = logging.getLogger("socketio.server")
    if _queue_filter not in queue_log.filters:
        queue_log.addFilter(_queue_filter)
