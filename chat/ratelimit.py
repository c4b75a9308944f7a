"""Token-bucket rate limits, in memory for one process or in Redis shared by all.

In Redis, the takes that callers (greenlets) make at the same moment go to Redis together:
one script call takes from every bucket of the batch, in order (``chat.groupcommit``'s
leader/follower scheme, no timer), so under load a process pays one round trip per batch
instead of one per event. Each take is still decided by Redis, atomically, against the
bucket every process shares: the limit is exactly the one-take-per-call limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from typing import Protocol

import redis

from chat import metrics
from chat.groupcommit import GroupCommit
from chat.redisclient import lua

# Most takes in one script call; a lone take never waits for others.
BATCH = 64


class Limiter(Protocol):
    """Per-key token buckets."""

    def take(self, key: str, rate: float, burst: int) -> int:
        """Takes a token from ``key``'s bucket: 0 when allowed, else milliseconds to wait."""
        ...


class MemoryLimiter:
    """Per-key token buckets in a dict; enough for one process."""

    def __init__(self, clock=time.monotonic) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def take(self, key: str, rate: float, burst: int) -> int:
        """Takes a token from ``key``'s bucket: 0 when allowed, else milliseconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, ts = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - ts) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 100_000:
                self._buckets.clear()  # bounded memory; a reset only forgives
            return math.ceil((1 - tokens) * 1000 / rate)


Take = tuple[str, float, int]  # key, rate, burst


class RedisLimiter:
    """Token buckets in Redis so every process shares one limit per user."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "chat:rl:",
        pause=lambda: time.sleep(0),  # gevent's under the worker: lets concurrent takes queue
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self._take_many = self.redis.register_script(lua("take_many"))
        self._fallback = MemoryLimiter()
        self._batches: GroupCommit[Take, int] = GroupCommit(self._take_batch, BATCH, pause)

    def take(self, key: str, rate: float, burst: int) -> int:
        """Takes a token from ``key``'s bucket: 0 when allowed, else milliseconds to wait."""
        return self._batches.submit((key, rate, burst))

    def calls(self) -> int:
        """Script calls made so far (each one batch of takes), for tests and measurements."""
        return self._batches.batches

    def _take_batch(self, takes: Sequence[Take]) -> list[int]:
        args: list[float | int] = [int(time.time() * 1000)]
        for _key, rate, burst in takes:
            args += (rate, burst)
        try:
            waits = self._take_many(keys=[self.prefix + key for key, _, _ in takes], args=args)
            return [int(wait) for wait in waits]
        except redis.RedisError:
            # Redis down: keep limiting per process rather than refusing everyone.
            metrics.redis_error("ratelimit")
            return [self._fallback.take(key, rate, burst) for key, rate, burst in takes]
