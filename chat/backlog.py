"""Publishes to other processes that could not be made yet, kept in order for a bounded time.

A publish is held when Redis fails it, or when it was meant for one process's own channel
and nobody listened there (that process is still resubscribing after an outage). Held
publishes of a channel go out in their order before any newer one, so that, say, a "user
disconnected" never overtakes the "user connected" that came before it. What waited longer
than ``keep_s``, or beyond ``limit`` in all, is given up: those messages are stored, and a
client that reconnects or reloads gets them from history (clients merge by id).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)

KEEP_S = 60.0
LIMIT = 10_000


class Backlog:
    """Publishes through ``client``; what cannot go out yet waits, per channel, in order."""

    def __init__(
        self,
        client: redis.Redis,
        keep_s: float = KEEP_S,
        limit: int = LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.keep_s = keep_s
        self.limit = limit
        self.clock = clock
        self._held: dict[str, deque[tuple[float, bytes, bool]]] = {}
        self._size = 0
        self.held = 0  # publishes held since the last recovery (for its log line)
        self.dropped = 0  # publishes given up: too old, or over the limit
        self.down_since: float | None = None

    def __len__(self) -> int:
        return self._size

    def publish(self, channel: str, raw: bytes, listened: bool) -> None:
        """Publishes ``raw`` after whatever waits on ``channel``; holds it on a Redis fault
        or, when ``listened`` (a process's own channel), while nobody listens there."""
        if channel in self._held:
            self._hold(channel, raw, listened)
            return
        try:
            heard = self.client.publish(channel, raw)
        except redis.RedisError as exc:
            self._fault(exc)
            self._hold(channel, raw, listened)
            return
        self._answered()
        if listened and not heard:
            self._hold(channel, raw, listened)

    def flush(self) -> list[str]:
        """Publishes what waits, oldest first; returns the channels given up on because
        nobody listened there for ``keep_s`` while Redis answered (a process gone)."""
        deaf: list[str] = []
        for channel, queue in list(self._held.items()):
            while queue:
                at, raw, listened = queue[0]
                if self.clock() - at > self.keep_s:
                    self._drop(queue)
                    if self.down_since is None and channel not in deaf:
                        deaf.append(channel)
                    continue
                try:
                    heard = self.client.publish(channel, raw)
                except redis.RedisError as exc:
                    self._fault(exc)
                    return deaf
                self._answered()
                if listened and not heard:
                    break
                queue.popleft()
                self._size -= 1
            if not queue:
                del self._held[channel]
        return deaf

    def _hold(self, channel: str, raw: bytes, listened: bool) -> None:
        queue = self._held.setdefault(channel, deque())
        queue.append((self.clock(), raw, listened))
        self._size += 1
        self.held += 1
        if self._size > self.limit:
            if self.dropped == 0:
                log.error("message queue backlog full (%d): dropping the oldest", self.limit)
            self._drop(queue)

    def _drop(self, queue: deque) -> None:
        queue.popleft()
        self._size -= 1
        self.dropped += 1

    def _fault(self, exc: Exception) -> None:
        if self.down_since is None:
            self.down_since = self.clock()
            log.error(
                "message queue unavailable, events for other processes wait (%.0fs at most): %s",
                self.keep_s,
                exc,
            )

    def _answered(self) -> None:
        if self.down_since is None:
            return
        log.warning(
            "message queue back after %.1fs; %d events were held for other processes, "
            "%d given up so far",
            self.clock() - self.down_since,
            self.held,
            self.dropped,
        )
        self.down_since, self.held = None, 0
