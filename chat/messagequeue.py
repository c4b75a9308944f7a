"""The Socket.IO message queue on Redis, built so that a Redis fault never stalls a send.

python-socketio's ``PubSubManager.emit`` hands every message to this process's own sockets
*before* publishing it, so local delivery never depends on Redis; what Redis carries is the
copy for the other processes. This manager publishes through the process's shared
client, whose timeouts bound the publish (a hung Redis would otherwise hold every ack),
logs an outage once with its end, and retries the subscription every few seconds instead
of backing off to a minute.
"""

from __future__ import annotations

import logging
import time

import redis
import socketio

from chat import metrics, redisclient
from chat.logs import fields

log = logging.getLogger(__name__)


class BoundedRedisManager(socketio.RedisManager):
    """``socketio.RedisManager`` with a publish timeout and a short resubscribe interval."""

    def __init__(
        self, publisher: redis.Redis, url: str, channel: str, retry_max_s: float = 5.0
    ) -> None:
        # The subscriber, python-socketio's own connection to ``url``, waits for messages
        # indefinitely; publishing goes through the process's shared, bounded client.
        super().__init__(
            url, channel=channel, redis_options=redisclient.subscriber_options(publisher)
        )
        self.retry_max_s = retry_max_s
        self.publisher = publisher
        self.down_since: float | None = None
        self.lost = 0

    def _publish(self, data: dict) -> None:
        """Publishes to the other processes; on a fault, logs it and drops their copy."""
        try:
            self.publisher.publish(self.channel, self.json.dumps(data))
        except redis.RedisError as exc:
            self.lost += 1
            if self.down_since is None:
                self.down_since = time.monotonic()
                log.error("message queue unavailable, other processes miss live events: %s", exc)
            return
        if self.down_since is not None:
            log.warning(
                "message queue back after %.1fs; %d events did not reach other processes",
                time.monotonic() - self.down_since,
                self.lost,
            )
            self.down_since, self.lost = None, 0

    def _redis_listen_with_retries(self):
        """Like the parent's, with the retry interval capped at ``retry_max_s``."""
        retry_sleep = 0.5
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    self.pubsub.subscribe(self.channel)
                    subscribed = True
                    if retry_sleep > 0.5:
                        log.warning(
                            "message queue subscription restored",
                            extra=fields("message_queue", None, "subscribed"),
                        )
                    retry_sleep = 0.5
                yield from self.pubsub.listen()
            except Exception as exc:
                metrics.redis_error("queue")
                log.error(
                    "message queue subscription lost, retry in %.1fs: %s",
                    retry_sleep,
                    exc,
                    extra=fields("message_queue", None, "subscription_lost"),
                )
                subscribed = False
                time.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, self.retry_max_s)


def create(config: dict, client: redis.Redis | None) -> BoundedRedisManager | None:
    """The client manager publishing through ``client``, or None for one process (no Redis)."""
    if client is None:
        return None
    return BoundedRedisManager(
        client, str(config["REDIS_URL"]), channel=f"{config['REDIS_PREFIX']}socketio"
    )
