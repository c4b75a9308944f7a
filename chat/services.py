"""The app's services, built once by ``create_app`` and found through ``services()``.

One typed object instead of string keys: presence, the rate limiter, the lifecycle (drain
state) and the Redis client. With REDIS_URL, presence and the limiter share that one
client (``chat.redisclient``); without it, both live in this process's memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Flask, current_app

from chat import redisclient
from chat.instrument import CountingLimiter
from chat.lifecycle import Lifecycle
from chat.presence import MemoryPresence, Presence
from chat.presence_redis import RedisPresence
from chat.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from chat.targets import KnownUsers

KEY = "chat.services"


@dataclass
class Services:
    """What handlers, pages and operations code need besides the database."""

    presence: Presence
    limiter: Limiter  # refusals counted (chat.instrument.CountingLimiter)
    lifecycle: Lifecycle
    redis: redis.Redis | None  # None: one process, no Redis
    known_users: KnownUsers  # the userIDs an event may name (chat.targets)


def create(config: dict) -> Services:
    """Services for ``config``: on Redis when REDIS_URL is set, in memory otherwise."""
    client = redisclient.create(config)
    presence: Presence
    limiter: Limiter
    if client is None:
        presence, limiter = MemoryPresence(), MemoryLimiter()
    else:
        prefix = str(config["REDIS_PREFIX"])
        presence = RedisPresence(
            client,
            prefix=f"{prefix}presence:",
            heartbeat=float(config["PRESENCE_HEARTBEAT_S"]),
            ttl=float(config["PRESENCE_TTL_S"]),
        )
        limiter = RedisLimiter(client, prefix=f"{prefix}rl:")
    return Services(
        presence=presence,
        limiter=CountingLimiter(limiter),
        lifecycle=Lifecycle(config),
        redis=client,
        known_users=KnownUsers(),
    )


def init_app(app: Flask) -> Services:
    """Builds the app's services from its config and keeps them on the app."""
    app.extensions[KEY] = built = create(app.config)
    return built


def services(app: Flask | None = None) -> Services:
    """The services of ``app``, or of the current app."""
    return (app or current_app).extensions[KEY]
