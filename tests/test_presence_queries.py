"""The presence questions a connect asks (bounded by the question, not by who is online),
in memory and in Redis under a prefix of this test's own."""

from __future__ import annotations

import os
import uuid

import pytest

from chat.presence import MemoryPresence
from chat.presence_redis import RedisPresence
from chat.redisclient import connect

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["memory", "redis"])
def presence(request):
    if request.param == "memory":
        yield MemoryPresence()
        return
    store = RedisPresence(
        connect(REDIS_URL), prefix=f"test-presence-{os.getpid()}-{uuid.uuid4().hex}:"
    )
    yield store
    keys = list(store.redis.scan_iter(match=store.prefix + "*"))
    if keys:
        store.redis.delete(*keys)


def test_count_some_and_online_among(presence):
    for i in range(5):
        presence.connect(f"user{i}", f"sid{i}")
    presence.connect("user0", "sid0-second-tab")
    assert presence.count() == 5
    some = presence.some(3)
    assert len(some) == 3 and some <= {f"user{i}" for i in range(5)}
    assert presence.some(10) == {f"user{i}" for i in range(5)}
    assert presence.online(["user1", "nobody", "user4"]) == {"user1", "user4"}
    assert presence.online([]) == set()
    presence.disconnect("user1", "sid1")
    presence.disconnect("user0", "sid0")  # user0 keeps a tab open
    assert presence.count() == 4
    assert presence.online(["user0", "user1"]) == {"user0"}
