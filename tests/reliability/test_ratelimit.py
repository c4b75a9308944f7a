"""Per-user token buckets on sends, typing and history; in memory, and shared in Redis."""

from __future__ import annotations

import logging
import os
import uuid

import pytest
from sqlalchemy import func, select

from chat.extensions import db
from chat.models import Message
from chat.ratelimit import MemoryLimiter, RedisLimiter
from chat.redisclient import connect
from deploy.launch import free_port
from tests.support.batching import Held, behind_the_first
from tests.support.inprocess import open_tab

SHARED_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

EVENTS = [
    ("private message", "SEND", lambda peer: {"content": "hi", "to": peer}),
    ("typing", "TYPING", lambda peer: {"to": peer}),
    ("fetch messages", "FETCH", lambda peer: {"with": peer}),
]


@pytest.mark.parametrize(("event", "limit", "payload"), EVENTS, ids=[e[0] for e in EVENTS])
def test_each_user_has_its_own_bucket_per_action(make_app, caplog, event, limit, payload):
    app = make_app(**{f"{limit}_RATE": 1.0, f"{limit}_BURST": 3})
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    acks = [alice.emit(event, payload(bob.user_id)) for _ in range(3)]
    assert all(a["ok"] for a in acks), acks
    with caplog.at_level(logging.INFO):
        refused = alice.emit(event, payload(bob.user_id))
    assert refused["ok"] is False and refused["error"] == "rate_limited"
    assert 0 < refused["retryAfterMs"] <= 1000
    # Every refusal is a log line too.
    assert any(getattr(r, "reason", None) == "rate_limited" for r in caplog.records)
    # Another user is not slowed down by alice's empty bucket.
    assert bob.emit(event, payload(alice.user_id))["ok"] is True
    if event == "private message":
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Message)) == 4


def test_bucket_refills_at_the_configured_rate():
    now = [0.0]
    limiter = MemoryLimiter(clock=lambda: now[0])
    assert [limiter.take("k", 2.0, 2) for _ in range(2)] == [0, 0]
    assert limiter.take("k", 2.0, 2) == 500  # one token every half second
    now[0] += 0.5
    assert limiter.take("k", 2.0, 2) == 0
    now[0] += 10
    assert [limiter.take("k", 2.0, 2) for _ in range(3)] == [0, 0, 500]  # burst caps savings


def test_redis_buckets_are_shared_by_every_process():
    prefix = f"test:{uuid.uuid4().hex}:rl:"
    one, two = (
        RedisLimiter(connect(SHARED_REDIS), prefix),
        RedisLimiter(connect(SHARED_REDIS), prefix),
    )
    try:
        assert [one.take("send:u1", 1.0, 3), two.take("send:u1", 1.0, 3)] == [0, 0]
        assert one.take("send:u1", 1.0, 3) == 0
        assert 0 < two.take("send:u1", 1.0, 3) <= 1000  # the other process's sends count
        assert one.take("send:u2", 1.0, 3) == 0  # per user
    finally:
        for key in one.redis.scan_iter(match=f"{prefix}*"):
            one.redis.delete(key)
        one.redis.close()
        two.redis.close()


def test_redis_down_still_limits_per_process():
    limiter = RedisLimiter(connect(f"redis://127.0.0.1:{free_port()}/0"), "test:")
    assert [limiter.take("send:u1", 1.0, 2) for _ in range(2)] == [0, 0]
    assert limiter.take("send:u1", 1.0, 2) > 0
    limiter.redis.close()


def test_takes_made_together_share_one_script_call_and_still_one_limit():
    prefix = f"test:{uuid.uuid4().hex}:rl:"
    one, two = (
        RedisLimiter(connect(SHARED_REDIS), prefix),
        RedisLimiter(connect(SHARED_REDIS), prefix),
    )
    held = Held(one._take_many)  # the first call waits while the other takes queue
    one._take_many = held  # type: ignore[method-assign]
    waits: dict[int, int] = {}

    def take(i: int, key: str) -> None:
        waits[i] = one.take(key, 1.0, 3)

    try:
        keys = ["send:u1", "send:u1", "send:u2", "send:u1", "send:u1"]
        behind_the_first(take, keys, held, one._batches.pending)
        assert one.calls() == 2  # the first alone, then the four queued together
        # In order, each against the bucket: u1's burst of 3 is spent by its third take.
        assert [waits[i] == 0 for i in range(5)] == [True, True, True, True, False]
        assert 0 < waits[4] <= 1000
        assert 0 < two.take("send:u1", 1.0, 3) <= 1000  # the other process sees it spent
    finally:
        for key in one.redis.scan_iter(match=f"{prefix}*"):
            one.redis.delete(key)
        one.redis.close()
        two.redis.close()
