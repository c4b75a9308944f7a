"""Prometheus metrics: their definitions, and the exposition ``GET /metrics`` serves.

``chat.instrument`` counts the socket events; this module also counts database errors
(a SQLAlchemy hook) and offers ``redis_error`` to every place that absorbs a Redis failure.

With ``PROMETHEUS_MULTIPROC_DIR`` set (it must be set before this module is imported, so
in the process environment), prometheus-client's multiprocess mode keeps every value in a
per-process memory-mapped file in that directory and ``/metrics`` on any process sums the
files of all processes sharing it: one scrape sees the whole host. Unset, values live in
this process and ``/metrics`` shows only it.
"""

from __future__ import annotations

import glob
import logging
import os

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
from chat.presence import Presence
from chat.procs import alive

log = logging.getLogger(__name__)

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
UNLOGGED_ACKS = Counter(
    "chat_error_acks_unlogged",
    "Error acks not logged: over a user's log budget (chat.instrument.ERROR_LOG_RATE).",
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
FROZEN_OBJECTS = Gauge(
    "chat_gc_frozen_objects",
    "Objects of a worker's startup kept out of the garbage collector's passes (gc.freeze).",
    registry=REGISTRY,
    multiprocess_mode="liveall",
)


def redis_error(where: str) -> None:
    """Counts one Redis failure that was absorbed at ``where`` (a fallback, a retry)."""
    REDIS_ERRORS.labels(where).inc()


@event.listens_for(Engine, "handle_error")
def _db_error(ctx) -> None:
    """SQLAlchemy calls this for every DBAPI error, connection failures included."""
    if ctx.is_pre_ping:
        return  # a stale pooled connection, replaced transparently
    exc = ctx.sqlalchemy_exception or ctx.original_exception
    DB_ERRORS.labels(type(exc).__name__).inc()


# --- exposition ------------------------------------------------------------------------


class _UsersCollector:
    """``chat_connected_users`` read from presence at scrape time (cluster-wide with Redis)."""

    def __init__(self, presence: Presence) -> None:
        self.presence = presence

    def collect(self):
        """Yields the gauge, or nothing (logged, counted) when presence cannot answer."""
        try:
            count = self.presence.count()
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
        if not alive(pid):
            mark_process_dead(pid, path)


def render(presence: Presence, accept: str = "") -> tuple[bytes, str]:
    """The exposition in the format ``accept`` asks for, and its content type.

    Without an Accept header that is the classic text format 0.0.4, which every Prometheus
    version reads; OpenMetrics when the scraper asks for it.
    """
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROC_DIR:
        _prune_dead(MULTIPROC_DIR)
        MultiProcessCollector(registry, MULTIPROC_DIR)
    else:
        registry.register(REGISTRY)
    registry.register(_UsersCollector(presence))
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type
