"""The Socket.IO message queue on Redis: each emit goes only to the processes that need it.

python-socketio's ``PubSubManager.emit`` delivers to this process's own sockets first, then
hands the message to ``_publish``. python-socketio's Redis manager publishes every message
on one channel that every process decodes; this one routes it instead:

- each process listens on its own channel, ``<REDIS_PREFIX>socketio:<proc>``, besides the
  shared ``<REDIS_PREFIX>socketio``;
- an emit to rooms (user ids, socket ids) is published on the channels of the processes
  that hold a socket in one of them, as this process's copy of presence's placement says
  (``chat.placement``); when none does, Redis is not asked at all;
- an emit to everyone (``to=None``, or presence's room of every listening socket), and
  room changes of remote sockets, go on the shared channel; a disconnect goes to the
  process holding the socket, or to all if unknown (the admin CLI has no copy of the
  placement);
- an ack to a remote emit goes back to the channel of the process that asked.

Payloads are JSON (orjson): one message, or a list of them. Publishes are coalesced: the
emits that greenlets make at the same moment (the relays of one group-commit batch, a pass
of presence announcements made inside ``batch()``) go out together, one publish per channel
(``chat.groupcommit``'s leader/follower scheme, no timer; a lone emit goes out at once).
Messages keep their order on each channel, and an emitter's own emits keep theirs, as each
returns once its publish is made. A publish that
Redis refuses, or that nobody heard on a process's own channel, waits in a bounded backlog
(``chat.backlog``) and goes out, in order, once Redis and that process's subscriber are
back: a message sent during an outage still reaches the open tabs elsewhere. The
subscriber retries every few seconds at most.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence

import orjson
import redis
import socketio

from chat import metrics, redisclient
from chat.backlog import Backlog
from chat.groupcommit import GroupCommit
from chat.logs import fields
from chat.placement import Placement
from chat.presence import LISTENERS
from chat.presence_redis import RedisPresence

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.25  # how soon a held publish is retried
PUBLISH_BATCH = 64  # most emits coalesced into one round of publishes

Outgoing = list[tuple[str, bytes]]  # one emitter's messages, each (channel, JSON)


class RoutedRedisManager(socketio.RedisManager):
    """``socketio.RedisManager`` publishing each message only where its recipients are."""

    def __init__(
        self,
        publisher: redis.Redis,
        url: str,
        channel: str,
        presence: RedisPresence,
        retry_max_s: float = 5.0,
    ) -> None:
        # The subscriber, python-socketio's own connection to ``url``, waits for messages
        # indefinitely; publishing goes through the process's shared, bounded client.
        super().__init__(
            url, channel=channel, redis_options=redisclient.subscriber_options(publisher)
        )
        self.host_id = presence.proc  # acks come back on this process's channel
        self.presence = presence
        self.placement = Placement(presence.proc)
        self.backlog = Backlog(publisher)
        self.retry_max_s = retry_max_s
        self._batches: dict[int, list[tuple[str, dict]]] = {}  # thread -> (channel, message)
        self._outbox: GroupCommit[Outgoing, bool] = GroupCommit(
            self._send, PUBLISH_BATCH, lambda: self.server.sleep(0)
        )

    def inbox(self, proc: str) -> str:
        """The channel that process ``proc`` alone listens to."""
        return f"{self.channel}:{proc}"

    def initialize(self) -> None:
        """Loads the placement before the first emit, then starts the listener and flusher."""
        try:
            self.placement.merge(self.presence.placement())
        except redis.RedisError as exc:
            log.warning("message queue: placement not loaded, the listener retries: %s", exc)
        super().initialize()
        self.server.start_background_task(self._flush_loop)

    def routes(self, message: dict) -> list[str]:
        """The channels ``message`` must be published on; empty when nobody else needs it."""
        method = message["method"]
        if method == "emit":
            room = message["room"]
            if room is None or room == LISTENERS:
                return [self.channel]
            return [self.inbox(proc) for proc in self.placement.holders(room)]
        if method == "callback":
            return [self.inbox(message["host_id"])]
        if method == "disconnect":
            proc = self.placement.proc_of(message["sid"])
            return [self.inbox(proc)] if proc else [self.channel]
        return [self.channel]

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """What this thread (greenlet) publishes inside goes out at the end, in order, with
        the emits coalesced with it: one publish per channel."""
        me = threading.get_ident()
        held = self._batches[me] = []
        try:
            yield
        finally:
            del self._batches[me]
            if held:
                self._outbox.submit([(channel, orjson.dumps(data)) for channel, data in held])

    def publishes(self) -> int:
        """Rounds of publishes made so far (each one coalesced batch), for tests."""
        return self._outbox.batches

    def _publish(self, data: dict) -> None:
        """Publishes ``data`` to the processes that need it, without waiting for a fault;
        returns once it is published (or held in the backlog)."""
        channels = self.routes(data)
        if not channels:
            return
        held = self._batches.get(threading.get_ident())
        if held is not None:
            held.extend((channel, data) for channel in channels)
            return
        raw = orjson.dumps(data)  # here: a message that cannot be encoded fails its emitter
        self._outbox.submit([(channel, raw) for channel in channels])

    def _send(self, batch: Sequence[Outgoing]) -> list[bool]:
        """One publish per channel of what ``batch``'s emitters sent there, in their order."""
        by_channel: dict[str, list[bytes]] = {}
        for outgoing in batch:
            for channel, raw in outgoing:
                by_channel.setdefault(channel, []).append(raw)
        for channel, raws in by_channel.items():
            payload = raws[0] if len(raws) == 1 else b"[" + b",".join(raws) + b"]"
            self.backlog.publish(channel, payload, listened=channel != self.channel)
        return [True] * len(batch)  # sent or held: the backlog owns it now

    def _flush_loop(self) -> None:
        prefix = f"{self.channel}:"
        while True:
            self.server.sleep(FLUSH_EVERY_S)
            if not len(self.backlog):
                continue
            try:
                for channel in self.backlog.flush():
                    # Nobody has listened there for a minute: a process that died while Redis
                    # was away, so presence never purged it. Stop routing to it.
                    self.placement.drop(channel.removeprefix(prefix))
            except Exception:  # a bug must not end the flusher for the life of the process
                log.exception("message queue: flushing the backlog failed")

    def _listen(self):
        changes = self.presence.changes.encode()
        for message in self._redis_listen_with_retries():
            if message["type"] != "message":
                continue
            if message["channel"] != changes:
                data = orjson.loads(message["data"])
                if isinstance(data, list):  # a batch (see ``batch``)
                    yield from data
                else:
                    yield data
                continue
            try:
                self.placement.apply(message["data"])
            except (ValueError, IndexError, KeyError, TypeError):
                log.warning("message queue: bad placement change %r", message["data"][:200])

    def _redis_listen_with_retries(self):
        """Like the parent's, on three channels, reloading the placement on each subscribe,
        with the retry interval capped at ``retry_max_s``."""
        retry_sleep = 0.5
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    channels = (self.channel, self.inbox(self.host_id), self.presence.changes)
                    self.pubsub.subscribe(*channels)
                    # After subscribing: a change made meanwhile is in the copy or in the feed.
                    self.placement.merge(self.presence.placement())
                    subscribed = True
                    if retry_sleep > 0.5:
                        log.warning(
                            "message queue subscription restored",
                            extra=fields("message_queue", None, "subscribed"),
                        )
                    retry_sleep = 0.5
                yield from self.pubsub.listen()
            except Exception as exc:
                # Close what this attempt opened: a SUBSCRIBE that Redis has (or will have,
                # once a hung server reads it) on a connection nobody reads counts as a
                # listener, so a publish to this process would be "heard" there and lost
                # instead of waiting in the sender's backlog until the next subscription.
                self._close_subscription()
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

    def _close_subscription(self) -> None:
        """Closes the subscriber's connections, those of a failed attempt included."""
        for closable in (getattr(self, "pubsub", None), self.redis):
            if closable is not None:
                with contextlib.suppress(Exception):  # it may be broken already
                    closable.close()


def create(config: dict, client: redis.Redis | None, presence: object) -> RoutedRedisManager | None:
    """The client manager publishing through ``client``, or None for one process (no Redis)."""
    if client is None:
        return None
    if not isinstance(presence, RedisPresence):
        raise TypeError("a message queue needs presence in Redis (RedisPresence)")
    return RoutedRedisManager(
        client, str(config["REDIS_URL"]), f"{config['REDIS_PREFIX']}socketio", presence
    )
