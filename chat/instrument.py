"""Socket-event instrumentation: each observation counted (chat.metrics) and logged once.

Handlers call one function per observation (``acked``, ``handshake``, ``disconnected``,
``relayed``); unexpected exceptions, rate-limit refusals and message-queue failures are
hooked here without touching them.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter
from typing import Any

import redis
from flask import request
from flask_socketio import ConnectionRefusedError

from chat import metrics
from chat.extensions import socketio
from chat.logs import fields
from chat.payloads import error_ack
from chat.ratelimit import Limiter, MemoryLimiter

# The lines written here are about Socket.IO events: they carry that logger's name.
log = logging.getLogger("chat.events")

# Receipt time of the event being handled: set by ``acked`` on entry, read by ``relayed``.
# A ContextVar is per greenlet under gevent and per thread otherwise.
_received: ContextVar[float | None] = ContextVar("chat_received", default=None)

# The identity of the connection whose event or handshake is being handled; set by events.
current: ContextVar[Any] = ContextVar("chat_identity", default=None)


def _child(metric, cache: dict, *labels: str):
    # labels() takes the metric's lock and builds a tuple each time; children are cached.
    child = cache.get(labels)
    if child is None:
        child = cache[labels] = metric.labels(*labels)
    return child


_ack_children: dict = {}
# Error acks logged per user: a burst of 20, then one every 6 s (10 a minute). Validation
# runs before any rate limit, so a client sending garbage could otherwise write a line per
# packet; the rest are counted (chat_acks, chat_error_acks_unlogged) and the next line
# written says how many were left out.
ERROR_LOG_RATE = 10 / 60
ERROR_LOG_BURST = 20
_log_budget = MemoryLimiter()
_unlogged: dict[str | None, int] = {}
_rl_children: dict = {}


def _code(text: object) -> str:
    """A reason code from free text: ``"invalid username"`` becomes ``invalid_username``."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")[:40] or "unknown"


def _user_id() -> str | None:
    return getattr(current.get(), "user_id", None)


def acked(event_name: str, fn: Callable) -> Callable:
    """Wraps an event handler: its ack is counted by code, an error ack is also logged."""
    ok = _child(metrics.ACKS, _ack_children, event_name, "ok")

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        _received.set(perf_counter())
        ack = fn(*args)
        if isinstance(ack, dict) and ack.get("ok") is False:
            code = str(ack.get("error"))
            _child(metrics.ACKS, _ack_children, event_name, code).inc()
            _log_error_ack(event_name, code)
        else:
            ok.inc()
        return ack

    return wrapper


def _log_error_ack(event_name: str, code: str) -> None:
    user_id = _user_id()
    if _log_budget.take(f"{user_id}", ERROR_LOG_RATE, ERROR_LOG_BURST):
        metrics.UNLOGGED_ACKS.inc()
        if len(_unlogged) > 100_000:
            _unlogged.clear()  # bounded memory; only the "not logged" note is lost
        _unlogged[user_id] = _unlogged.get(user_id, 0) + 1
        return
    skipped = _unlogged.pop(user_id, 0)
    level = logging.WARNING if code == "unavailable" else logging.INFO
    more = {"detail": f"{skipped} earlier error acks not logged"} if skipped else {}
    log.log(
        level,
        "error ack",
        extra=fields("error_ack", user_id, code, socketEvent=event_name, **more),
    )


def relayed(created: bool) -> None:
    """Counts one relayed message (and a stored one when new) and its latency since receipt."""
    if created:
        metrics.STORED.inc()
    metrics.RELAYED.inc()
    started = _received.get()
    if started is not None:
        metrics.RELAY_LATENCY.observe(perf_counter() - started)


def handshake(fn: Callable) -> Callable:
    """Decorates the connect handler: counts and logs each accepted or refused handshake."""

    @functools.wraps(fn)
    def wrapper(auth: object = None) -> Any:
        try:
            result = fn(auth)
        except ConnectionRefusedError as exc:
            reason = _code((exc.error_args or {}).get("message"))
            metrics.REFUSED.labels(reason).inc()
            log.info("handshake refused", extra=fields("refused", None, reason))
            raise
        metrics.SOCKETS.inc()
        metrics.CONNECTIONS.inc()
        log.info("connected", extra=fields("connect", _user_id(), "accepted"))
        return result

    return wrapper


def disconnected(user_id: str, reason: object) -> None:
    """Counts and logs the close of a socket whose handshake was accepted."""
    code = _code(reason) if reason else "unknown"
    metrics.SOCKETS.dec()
    metrics.DISCONNECTIONS.labels(code).inc()
    log.info("disconnected", extra=fields("disconnect", user_id, code))


def on_unexpected(exc: Exception, event_name: str | None = None) -> dict[str, Any] | bool:
    """Flask-SocketIO's default error handler: logs and counts an exception no handler caught.

    A failing ``connect`` is refused (returning False); any other event gets an
    ``unavailable`` ack rather than an empty one, so a client's retry logic applies.
    """
    name = event_name or str((getattr(request, "event", None) or {}).get("message", "unknown"))
    metrics.EXCEPTIONS.labels(name).inc()
    if isinstance(exc, redis.RedisError):
        metrics.redis_error("event")
    log.error(
        "unexpected exception",
        exc_info=exc,
        extra=fields("exception", _user_id(), _code(type(exc).__name__), socketEvent=name),
    )
    if name == "connect":
        metrics.REFUSED.labels("internal_error").inc()
        return False
    return error_ack("unavailable", "internal error; retry later")


class CountingLimiter:
    """Wraps a rate limiter to count refusals by action (the key's prefix)."""

    def __init__(self, inner: Limiter) -> None:
        self.inner = inner

    def take(self, key: str, rate: float, burst: int) -> int:
        """Same contract as the wrapped limiter's ``take``."""
        wait = self.inner.take(key, rate, burst)
        if wait:
            _child(metrics.RATE_LIMITED, _rl_children, key.split(":", 1)[0]).inc()
        return wait


class _QueueErrors(logging.Filter):
    """python-socketio's Redis queue only logs its failures; count them on the way."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Counts an error record about Redis; never drops a record."""
        if record.levelno >= logging.ERROR and "redis" in str(record.msg).lower():
            metrics.redis_error("queue")
        return True


_queue_filter = _QueueErrors()


def install() -> None:
    """Installs the Socket.IO default error handler and the message-queue error counting."""
    socketio.on_error_default(on_unexpected)
    queue_log = logging.getLogger("socketio.server")
    if _queue_filter not in queue_log.filters:
        queue_log.addFilter(_queue_filter)
