"""chat/messagequeue.py's routing, chat/placement.py's copy and chat/backlog.py, without Redis.

The publisher is a fake recording each PUBLISH; placement changes are fed as presence's
scripts publish them. Real processes are in tests/cluster/test_routing.py.
"""

from __future__ import annotations

import json

import orjson
import pytest
import redis
import socketio

from chat import redisclient
from chat.backlog import Backlog
from chat.messagequeue import RoutedRedisManager
from chat.placement import Placement
from chat.presence_redis import RedisPresence
from tests.support.batching import Held, behind_the_first

CHANNEL = "t:socketio"


class Publisher:
    """Records publishes; ``listeners`` answers how many heard, ``down`` makes them fail."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []
        self.listeners = 1
        self.down = False

    def publish(self, channel: str, raw: bytes) -> int:
        if self.down:
            raise redis.ConnectionError("down")
        self.published.append((channel, raw))
        return self.listeners

    def channels(self) -> list[str]:
        return [channel for channel, _ in self.published]


@pytest.fixture
def publisher() -> Publisher:
    return Publisher()


@pytest.fixture
def manager(publisher) -> RoutedRedisManager:
    """A manager on a server of its own, as process "me", with sockets placed elsewhere:
    u1 on p1 (two tabs), u2 on p2, u3 on p1 and p3."""
    client = redisclient.connect("redis://127.0.0.1:1/0")  # never connected: nothing is sent
    presence = RedisPresence(client, prefix="t:presence:")
    presence.proc = "me"
    mgr = RoutedRedisManager(client, "redis://127.0.0.1:1/0", CHANNEL, presence)
    mgr.backlog = Backlog(publisher)  # type: ignore[arg-type]
    mgr.placement = Placement("me")
    socketio.Server(client_manager=mgr)
    for change in (
        ["+", "p1", "s1a", "u1"],
        ["+", "p1", "s1b", "u1"],
        ["+", "p2", "s2", "u2"],
        ["+", "p1", "s3a", "u3"],
        ["+", "p3", "s3b", "u3"],
        ["+", "me", "mine", "u0"],  # this process's own sockets are its rooms, never routed
    ):
        mgr.placement.apply(orjson.dumps(change))
    return mgr


@pytest.mark.parametrize(
    ("to", "channels"),
    [
        ("u0", []),  # only here: no Redis round trip
        ("nobody", []),
        ("u1", [f"{CHANNEL}:p1"]),  # two tabs on p1, one publish
        ("u2", [f"{CHANNEL}:p2"]),
        (["u0", "u2"], [f"{CHANNEL}:p2"]),
        (["u1", "u3"], [f"{CHANNEL}:p1", f"{CHANNEL}:p3"]),
        ("s2", [f"{CHANNEL}:p2"]),  # a socket's own room
        (None, [CHANNEL]),  # everyone
    ],
)
def test_an_emit_is_published_only_to_the_processes_holding_its_rooms(
    manager, publisher, to, channels
):
    manager.emit("private message", {"id": 1}, to=to, skip_sid="s1a")
    assert sorted(publisher.channels()) == channels
    for _, raw in publisher.published:
        message = json.loads(raw)  # compact JSON, not a pickle
        assert message["event"] == "private message" and message["data"] == [{"id": 1}]
        assert message["room"] == to and message["skip_sid"] == "s1a"
        assert message["host_id"] == "me" and message["namespace"] == "/"


def test_ignore_queue_stays_on_this_process(manager, publisher):
    manager.emit("session", {"x": 1}, to="u1", ignore_queue=True)
    assert publisher.published == []


def test_an_ack_returns_to_the_asking_process_and_a_disconnect_goes_where_the_socket_is(
    manager, publisher
):
    manager._return_callback("p2", "s2", "/", 7, "ok")
    manager.disconnect("s3b", "/")
    manager.disconnect("unknown-sid", "/")  # the admin CLI knows no placement: everyone
    assert publisher.channels() == [f"{CHANNEL}:p2", f"{CHANNEL}:p3", CHANNEL]
    assert json.loads(publisher.published[0][1])["method"] == "callback"


def test_emits_made_together_go_out_in_one_publish_per_channel_in_order(manager, publisher):
    held = Held(publisher.publish)  # the first publish waits while the others queue
    publisher.publish = held  # type: ignore[method-assign]

    def emit(i: int, to: str | list[str]) -> None:
        manager.emit("private message", {"id": i}, to=to)

    # Queued behind the first, one at a time: u2 twice, u1 and u3 (p1 and p3) between.
    behind_the_first(emit, ["u2", "u2", ["u1", "u3"], "u2"], held, manager._outbox.pending)
    assert manager.publishes() == 2  # the first alone, then the three queued together
    sent = [(channel, orjson.loads(raw)) for channel, raw in publisher.published]
    channels = [channel for channel, _ in sent]
    assert channels[:2] == [f"{CHANNEL}:p2"] * 2
    assert sorted(channels[2:]) == [f"{CHANNEL}:p1", f"{CHANNEL}:p3"]  # a set's order
    assert sent[0][1]["data"] == [{"id": 0}]
    assert [m["data"] for m in sent[1][1]] == [[{"id": 1}], [{"id": 3}]]  # a list, in order
    assert {channel: m["data"] for channel, m in sent[2:]} == {
        f"{CHANNEL}:p1": [{"id": 2}],
        f"{CHANNEL}:p3": [{"id": 2}],
    }


def test_placement_follows_removals_rebuilds_and_purges(manager, publisher):
    place = manager.placement
    place.apply(orjson.dumps(["-", "p1", "s1a", "u1"]))
    assert place.holders("u1") == {"p1"}  # its other tab is still there
    place.apply(orjson.dumps(["-", "p1", "s1b", "u1"]))
    assert place.holders("u1") == set()
    place.apply(orjson.dumps(["=", "p3", [["s9", "u9"]]]))  # p3 rebuilt: u3 is gone from it
    assert place.holders("u3") == {"p1"} and place.holders("u9") == {"p3"}
    place.apply(orjson.dumps(["x", "p1"]))
    assert place.holders(["u1", "u3"]) == set() and place.procs() == {"p2", "p3"}
    # A copy from a Redis that restarted empty adds what it knows and forgets nothing.
    place.merge({"p4": [("s4", "u4")]})
    assert place.procs() == {"p2", "p3", "p4"}


def test_a_publish_redis_refused_goes_out_in_order_once_it_answers(publisher):
    backlog = Backlog(publisher)  # type: ignore[arg-type]
    publisher.down = True
    backlog.publish("c:p2", b"1", listened=True)
    publisher.down = False
    backlog.publish("c:p2", b"2", listened=True)  # behind the first, not before it
    backlog.publish("c:p3", b"x", listened=True)  # another channel is not held up
    assert publisher.published == [("c:p3", b"x")]
    assert backlog.flush() == []
    assert publisher.published[1:] == [("c:p2", b"1"), ("c:p2", b"2")]
    assert len(backlog) == 0


def test_a_publish_nobody_heard_waits_for_the_listener(publisher):
    backlog = Backlog(publisher)  # type: ignore[arg-type]
    publisher.listeners = 0  # that process is resubscribing
    backlog.publish("c:p2", b"1", listened=True)
    backlog.publish("c", b"everyone", listened=False)  # the shared channel: no count to trust
    backlog.flush()
    assert len(backlog) == 1
    publisher.listeners = 1
    backlog.flush()
    assert publisher.published[-1] == ("c:p2", b"1") and len(backlog) == 0


def test_the_backlog_gives_up_after_keep_s_and_beyond_its_limit(publisher):
    now = [0.0]
    backlog = Backlog(publisher, keep_s=10, limit=2, clock=lambda: now[0])  # type: ignore[arg-type]
    publisher.listeners = 0
    for raw in (b"1", b"2", b"3"):
        backlog.publish("c:gone", raw, listened=True)
    assert len(backlog) == 2 and backlog.dropped == 1
    now[0] = 11
    assert backlog.flush() == ["c:gone"]  # nobody listened for 10 s while Redis answered
    assert len(backlog) == 0 and backlog.dropped == 3
