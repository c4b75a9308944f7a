"""chat/presence_redis.py's Redis backend on a real Redis: every decision atomic, across processes.

Each RedisPresence object plays one server process; they share one prefix like a cluster.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from flask import Flask, current_app

from chat.presence_redis import RECONCILE_EVERY, RedisPresence
from chat.redisclient import connect
from deploy.launch import free_port
from tests.support.batching import Held, behind_the_first
from tests.support.shared_redis import REDIS_URL


def process(prefix: str, url: str = REDIS_URL, **timing: float) -> RedisPresence:
    """One server process's presence."""
    timing = {"heartbeat": 0.2, "ttl": 1.0, **timing}
    return RedisPresence(connect(url), prefix=prefix + "presence:", **timing)


def expire(dead: RedisPresence) -> None:
    """What the TTL does to the heartbeat of a process that was killed."""
    dead.redis.delete(f"{dead.prefix}alive:{dead.proc}")


def until(check: Callable[[], object], timeout: float = 5) -> object:
    """Calls ``check`` until it returns something truthy; grace periods are time, not events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.02)
    raise AssertionError(f"not true within {timeout}s")


def test_a_user_with_tabs_on_two_processes_goes_offline_once(redis_prefix):
    one, two = process(redis_prefix), process(redis_prefix)
    assert one.connect("u", "tab1") is True
    assert two.connect("u", "tab2") is False
    assert one.disconnect("u", "tab1") is False
    assert one.online() == {"u"} and two.online(["u", "x"]) == {"u"}
    assert two.disconnect("u", "tab2") is True
    assert two.disconnect("u", "tab2") is False  # a repeated close decides nothing twice
    assert one.online() == set()


def test_a_burst_of_sockets_reaches_redis_in_one_script_call(redis_prefix):
    presence = process(redis_prefix)
    calls: list[int] = []
    script = presence._connect

    def counted(keys, args):
        calls.append(len(keys) - 4)  # one user hash per socket after the four shared keys
        return script(keys=keys, args=args)

    held = Held(counted)
    presence._connect = held
    sockets = [("u1", "a"), ("u2", "b"), ("u2", "c"), ("u3", "d")]
    firsts: dict[str, bool] = {}

    def connect(_i: int, socket: tuple[str, str]) -> None:
        firsts[socket[1]] = presence.connect(*socket)

    behind_the_first(connect, sockets, held, presence._arrivals.pending)
    assert calls == [1, 3]  # the first alone (held), then the three queued meanwhile
    # u2's second tab in the same call: its user was online already.
    assert firsts == {"a": True, "b": True, "c": False, "d": True}
    assert presence.online() == {"u1", "u2", "u3"} and presence.sids("u2") == {"b", "c"}
    assert process(redis_prefix).sids("u3") == {"d"}


def test_sids_span_processes_and_sessions(redis_prefix):
    one, two = process(redis_prefix), process(redis_prefix)
    one.connect("u", "a", session_id=1)
    two.connect("u", "b", session_id=2)
    assert one.sids("u") == {"a", "b"}
    assert two.sids("u", session_id=2) == {"b"}


@pytest.mark.parametrize("left_open", [0, 1])
def test_concurrent_opens_and_closes_on_two_processes_balance(redis_prefix, left_open):
    """Tabs of one user opening and closing at once on two processes, from many threads.

    Every "went online" must be matched by one "went offline": a lost "connected" or a
    doubled "disconnected" would break the count or the final state.
    """
    processes = [process(redis_prefix), process(redis_prefix)]
    firsts, lasts = [], []

    def tab(worker: int) -> None:
        rng = random.Random(worker)
        for i in range(40):
            p = processes[(worker + i) % 2]
            sid = f"w{worker}-{i}"
            firsts.append(p.connect("u", sid))
            time.sleep(rng.random() / 1000)
            lasts.append(p.disconnect("u", sid))

    if left_open:
        processes[0].connect("u", "stays")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(tab, range(8)))

    assert sum(firsts) == sum(lasts)
    if left_open:
        # The tab left open kept the user online throughout: nothing to announce, ever.
        assert sum(firsts) == 0
        assert processes[1].online() == {"u"} and processes[1].sids("u") == {"stays"}
    else:
        assert sum(firsts) >= 1
        assert processes[1].online() == set() and processes[1].sids("u") == set()


def test_a_dead_process_is_purged_exactly_once(redis_prefix):
    dead, live, other = (process(redis_prefix) for _ in range(3))
    for p in (dead, live, other):
        p.tick()
    dead.connect("alone", "d1")
    dead.connect("both", "d2")
    live.connect("both", "l1")
    expire(dead)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda p: p.sweep(), [live, other]))
    assert sorted(results[0] + results[1]) == ["alone"]
    assert live.online() == {"both"} and live.sids("both") == {"l1"}
    assert dead.proc.encode() not in live.redis.smembers(f"{live.prefix}procs")


def test_a_process_that_beats_again_is_not_purged(redis_prefix):
    slow, live = process(redis_prefix), process(redis_prefix)
    slow.tick()
    slow.connect("u", "s1")
    # The sweeper read the process list, then the slow process renewed its heartbeat.
    slow.tick()
    assert live.sweep() == []
    assert live.online() == {"u"}


def test_nobody_is_declared_dead_right_after_an_outage(redis_prefix):
    dead, fresh = process(redis_prefix), process(redis_prefix)
    dead.tick()
    dead.connect("u", "s")
    expire(dead)
    # A process that just (re)gained Redis gives the others a full interval to beat first.
    assert fresh.tick() == ([], [])
    assert fresh.tick() == ([], [])
    assert fresh.tick() == (["u"], [])


def test_a_draining_process_holds_offline_until_the_grace_runs_out(redis_prefix):
    leaving, one, two = (process(redis_prefix) for _ in range(3))
    leaving.connect("gone", "g1")
    leaving.connect("back", "b1")
    leaving.drain(0.3)
    assert leaving.disconnect("gone", "g1") is False
    assert leaving.disconnect("back", "b1") is False
    # Still listed online during the grace, so nobody sees a flap...
    assert one.online() == {"gone", "back"}
    # ...and coming back on another process is no new arrival.
    assert one.connect("back", "b2") is False
    first = until(lambda: one.resolve() + two.resolve())
    assert first == ["gone"]
    assert one.resolve() + two.resolve() == []
    assert two.online() == {"back"}


def test_a_purged_but_living_process_puts_its_users_back(redis_prefix):
    stalled, live = process(redis_prefix), process(redis_prefix)
    stalled.tick()
    for _ in range(3):
        live.tick()
    stalled.connect("u", "s1")
    expire(stalled)  # e.g. its event loop was blocked longer than the TTL
    assert live.tick() == (["u"], [])
    assert stalled.tick() == ([], ["u"])
    assert live.online() == {"u"} and live.sids("u") == {"s1"}


def test_what_redis_lost_is_put_back_within_a_reconcile_round(redis_prefix):
    one = process(redis_prefix)
    one.tick()
    one.connect("u", "s1")
    # A failover to a replica that had not seen the latest writes: the process list survived.
    p = one.prefix
    one.redis.delete(f"{p}user:u", f"{p}online", f"{p}proc:{one.proc}")
    came = [u for _ in range(RECONCILE_EVERY + 1) for u in one.tick()[1]]
    assert came == ["u"]
    assert one.online() == {"u"} and one.sids("u") == {"s1"}


class OwnRedis:
    """A Redis of our own, without persistence, that a test may stop and start again."""

    def __init__(self, directory: str) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.args += ["--dir", directory]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Starts it and returns once it answers."""
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        try:
            until(lambda: _pings(client))
        finally:
            client.close()

    def stop(self) -> None:
        """Kills it: everything it held is lost."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:
    """A Redis this test may restart; the shared one must never be."""
    server = OwnRedis(str(tmp_path))
    server.start()
    yield server
    server.stop()


def test_a_redis_restart_is_rebuilt_from_each_process(own_redis, redis_prefix):
    url = own_redis.url
    one, two = process(redis_prefix, url), process(redis_prefix, url)
    one.tick()
    two.tick()
    one.connect("stays", "s1")
    one.connect("leaves", "l1")
    two.connect("other", "o1")

    own_redis.stop()
    # While Redis is down: a close is remembered, an open is kept locally and listed.
    assert one.disconnect("leaves", "l1") is False
    assert one.connect("new", "n1") is True
    assert one.online() == {"stays", "new"}
    assert one.tick() == ([], [])

    own_redis.start()  # back, empty
    gone, came = one.tick()
    assert gone == ["leaves"] and sorted(came) == ["new", "stays"]
    assert two.tick() == ([], ["other"])
    assert one.online() == {"stays", "new", "other"}
    assert one.sids("stays") == {"s1"}


def test_the_loop_announces_inside_the_app_context(redis_prefix):
    app = Flask("presence-loop")
    dead, live = process(redis_prefix), process(redis_prefix, heartbeat=0.05, ttl=0.5)
    dead.tick()
    dead.connect("ghost", "g1")
    expire(dead)
    announced = threading.Event()
    seen = []

    def on_offline(user_id: str) -> None:
        seen.append((user_id, current_app.name))  # fails outside an app context
        announced.set()

    def spawn(target: Callable) -> threading.Thread:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread

    live.start(app, spawn, time.sleep, on_offline, lambda _uid: None)
    try:
        assert announced.wait(5)
    finally:
        live.close()
    assert seen == [("ghost", "presence-loop")]


def test_ttl_must_outlast_the_heartbeat(redis_prefix):
    with pytest.raises(ValueError, match="PRESENCE_TTL_S"):
        process(redis_prefix, heartbeat=5, ttl=5)
