"""The message queue's subscriber: an attempt that fails leaves no listener behind.

A SUBSCRIBE sent on a connection that is then given up still counts in Redis as a
listener of this process's channel: a publish there would be "heard" and lost, instead of
waiting in the sender's backlog until the next subscription (chat/backlog.py).
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import redis

from chat import messagequeue, redisclient
from chat.presence_redis import RedisPresence
from tests.support.polling import wait_until
from tests.support.shared_redis import REDIS_URL


def test_a_failed_subscription_attempt_closes_its_connection(redis_prefix, monkeypatch):
    client = redisclient.connect(REDIS_URL)
    presence = RedisPresence(client, prefix=redis_prefix + "presence:")
    manager = messagequeue.RoutedRedisManager(
        client, REDIS_URL, redis_prefix + "socketio", presence
    )
    inbox = manager.inbox(presence.proc)
    placement = presence.placement
    hung = [True]

    def placement_once_hung():
        # The first attempt subscribes, then Redis stops answering (as in a pause).
        if hung.pop() if hung else False:
            raise redis.TimeoutError("Timeout reading from socket")
        return placement()

    listeners_while_retrying: list[int] = []
    retried = threading.Event()

    def retry_sleep(_seconds: float) -> None:
        # Between the failed attempt and the next: nobody may be listening on the inbox.
        def heard_by() -> int:
            return client.pubsub_numsub(inbox)[0][1]

        wait_until(lambda: heard_by() == 0, timeout=3, what="the abandoned subscriber closed")
        listeners_while_retrying.append(heard_by())
        retried.set()

    monkeypatch.setattr(presence, "placement", placement_once_hung)
    monkeypatch.setattr(messagequeue, "time", SimpleNamespace(sleep=retry_sleep))
    messages = manager._redis_listen_with_retries()
    received: list[dict] = []

    def listen() -> None:
        received.append(next(m for m in messages if m["type"] == "message"))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        # Only past the failed attempt: a publish before it would reach that subscription.
        assert retried.wait(10), "the subscriber never retried"
        wait_until(lambda: client.publish(inbox, b"{}") == 1, what="the second subscription")
        listener.join(5)
        assert [m["data"] for m in received] == [b"{}"]
        assert listeners_while_retrying == [0]
        assert client.pubsub_numsub(inbox)[0][1] == 1  # the live subscription only
    finally:
        manager._close_subscription()
        client.close()
