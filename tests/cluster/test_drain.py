"""SIGTERM: refuse what belongs elsewhere, hand sockets over, hold offline for a grace period."""

from __future__ import annotations

import json
import time

import pytest
import requests

from chat.services import services
from deploy.launch import Server
from tests.support.environments import cluster_env, name, sqlite_env
from tests.support.peer import Peer
from tests.support.shared_redis import forget, unique_prefix


def handshake(client) -> str:
    """An Engine.IO polling handshake through the app; returns the session id."""
    answer = client.get("/socket.io/?EIO=4&transport=polling")
    assert answer.status_code == 200
    return json.loads(answer.data[1:])["sid"]  # an OPEN packet: "0" then JSON


def test_a_process_refuses_handshakes_only_while_draining(app, client):
    held = handshake(client)
    base = "/socket.io/?EIO=4&transport=polling"
    # A session this process does not hold: unknown or expired (engine.io's 400), or held by
    # another process when nginx says that it tries the next one on a 503.
    assert client.get(base + "&sid=held-elsewhere").status_code == 400
    via_nginx = {"X-Chat-Next-Upstream": "1"}
    assert client.get(base + "&sid=held-elsewhere", headers=via_nginx).status_code == 503

    state = services(app).lifecycle
    state.draining = True
    assert client.get(base).status_code == 503
    assert client.get(base + "&sid=held-elsewhere").status_code == 503
    assert client.get(base).headers["Retry-After"] == "1"
    # The sessions it still holds keep working until the drain closes them (asked directly:
    # a long-poll through the test client would block), and pages are still served.
    environ = {"PATH_INFO": "/socket.io/", "QUERY_STRING": f"EIO=4&transport=polling&sid={held}"}
    assert state.refuses(environ) is False
    assert client.get("/healthz").status_code == 200


@pytest.mark.server
def test_sigterm_hands_users_over_and_announces_only_those_who_do_not_come_back(
    cluster_db, tmp_path
):
    prefix = unique_prefix()
    env = cluster_env(cluster_db, prefix, PRESENCE_DRAIN_GRACE_S=1.5)
    leaving = Server(env, log_path=tmp_path / "leaving.log").start()
    staying = Server(env, log_path=tmp_path / "staying.log").start()
    tabs: list[Peer] = []
    try:
        watcher = Peer(staying.url, username=name("watch"))
        tabs.append(watcher)
        # Comes back on the other process at once, as a browser tab behind nginx would.
        where = {"url": leaving.url}
        back = Peer(
            lambda: where["url"], transports=["websocket"], reconnect=True, username=name("back")
        )
        where["url"] = staying.url
        gone = Peer(leaving.url, transports=["polling"], username=name("gone"))
        tabs += [back, gone]
        for tab in (back, gone):
            watcher.wait_for("user connected", lambda u, t=tab: u["userID"] == t.user_id)

        terminated = time.monotonic()
        leaving.proc.terminate()  # SIGTERM to the gunicorn master, as `cluster.py restart` does
        leaving.proc.wait(15)
        exit_s = time.monotonic() - terminated
        assert exit_s < 8  # the drain closes the sockets: no wait for the graceful timeout

        resumed = back.wait_for("users", lambda _u: back.sessions >= 2, timeout=10)
        assert back.user_id in {u["userID"] for u in resumed if u["connected"]}
        watcher.wait_for("user disconnected", lambda u: u == gone.user_id)
        offline_s = watcher.arrival("user disconnected", gone.user_id) - terminated
        assert offline_s >= 1.5  # held back by the grace period, not announced at once
        marker = Peer(staying.url, username=name("mark"))
        marker.close()
        watcher.wait_for("user disconnected", lambda u: u == marker.user_id)
        assert back.user_id not in watcher.received("user disconnected")
        assert watcher.received("user disconnected").count(gone.user_id) == 1
        print(f"drained, exited in {exit_s:.2f}s; a user who left: offline at {offline_s:.2f}s")
    finally:
        for tab in tabs:
            tab.close()
        leaving.kill()
        staying.stop()
        forget(prefix)


@pytest.mark.server
def test_sigterm_closes_idle_keep_alive_connections_instead_of_waiting_for_them(servers, tmp_path):
    """gunicorn waits for every connection up to its graceful timeout (20 s); an idle HTTP
    keep-alive connection, such as nginx's pool or a browser's, must not hold the exit."""
    server = servers(sqlite_env(tmp_path))
    browser = requests.Session()  # keeps its connection open between requests
    assert browser.get(server.url + "/healthz", timeout=5).status_code == 200
    tab = Peer(server.url, transports=["polling"], username=name("poll"))
    try:
        terminated = time.monotonic()
        server.proc.terminate()
        server.proc.wait(15)
        exit_s = time.monotonic() - terminated
    finally:
        tab.close()
        browser.close()
    assert exit_s < 8, f"exited {exit_s:.1f}s after SIGTERM"
    log = (tmp_path / "server.log").read_text()
    drained = next(line for line in log.splitlines() if "drained:" in line)
    assert "1 sockets handed over" in drained
    assert " 0 idle connections" not in drained  # the keep-alive one was closed, not waited for
    print(f"exited {exit_s:.2f}s after SIGTERM; {drained.split('drained: ')[1]}")
