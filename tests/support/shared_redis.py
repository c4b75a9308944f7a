"""The Redis that suites share: a private key prefix per test, cleaned after, and presence read."""

from __future__ import annotations

import os
from uuid import uuid4

import redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unique_prefix() -> str:
    """A Redis prefix nobody else uses: keys and the message-queue channel stay private."""
    return f"test:{uuid4().hex}:"


def forget(prefix: str, url: str = REDIS_URL) -> None:
    """Deletes the keys under ``prefix``, and only those: other suites share this Redis."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def presence_sids(prefix: str, user_id: str) -> set[str]:
    """The sockets Redis presence holds for ``user_id``, on every process."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return {s.decode() for s in client.hkeys(f"{prefix}presence:user:{user_id}")}
    finally:
        client.close()
