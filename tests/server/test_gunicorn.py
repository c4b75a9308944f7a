"""A real gunicorn server with the gevent-websocket worker, driven over real transports."""

from __future__ import annotations

import pytest
import requests

from deploy.databases import pg_database
from deploy.launch import BIN, Server, migrate
from tests.support.peer import Peer

pytestmark = pytest.mark.server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('srv') / 'chat.db'}"
    else:
        url = pg_database("chat_test_server")
    env = {"DATABASE_URL": url, "REDIS_URL": ""}
    migrate(env)
    srv = Server(env).start()
    yield srv
    srv.stop()


def test_websocket_only_transport_round_trip(server):
    bob = Peer(server.url, transports=["websocket"], username="ws_bob")
    alice = Peer(server.url, transports=["websocket"], username="ws_alice")
    try:
        assert alice.sio.transport() == "websocket"
        ack = alice.send(bob.user_id, "over websocket")
        assert ack["ok"] is True
        got = bob.wait_for("private message", lambda m: m["id"] == ack["message"]["id"])
        assert got["content"] == "over websocket" and got["from"] == alice.user_id
    finally:
        alice.close()
        bob.close()


def test_polling_upgrades_to_websocket(server):
    carol = Peer(server.url, transports=["polling", "websocket"], username="up_carol")
    try:
        carol.wait_for("users")
        # python-engineio's client upgrades inside connect(): polling handshake, then upgrade.
        assert carol.sio.transport() == "websocket"
        ack = carol.send(carol.user_id, "note to self after upgrade")
        assert ack["ok"] is True
    finally:
        carol.close()


def test_refusal_reaches_the_client_as_connect_error(server):
    import socketio

    sio = socketio.Client(reconnection=False)
    errors = []
    sio.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(server.url, auth={"username": "x"}, transports=["websocket"], wait_timeout=5)
    assert errors == [{"message": "invalid username"}]


def test_pages_are_served_with_security_headers(server):
    page = requests.get(server.url + "/", timeout=5)
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    js = requests.get(server.url + "/static/vendor/socket.io/socket.io.min.js", timeout=5)
    assert js.status_code == 200 and "io" in js.text


def test_the_worker_keeps_its_startup_out_of_garbage_collections(server):
    exposition = requests.get(server.url + "/metrics", timeout=5).text
    frozen = [
        float(line.rpartition(" ")[2])
        for line in exposition.splitlines()
        if line.startswith("chat_gc_frozen_objects")
    ]
    # The imports and the app alone are ~120,000 objects; without the freeze the gauge is 0.
    assert frozen and frozen[0] > 50_000


class PlainWorkerServer(Server):
    """The command line of the design card, without deploy/gunicorn.conf.py."""

    def command(self) -> list[str]:
        return [
            str(BIN / "gunicorn"),
            "-k",
            "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
            "-w",
            "1",
            "--no-control-socket",
            "-b",
            f"127.0.0.1:{self.port}",
            "app:create_app()",
        ]


def test_the_plain_gevent_websocket_worker_upgrades_too(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}", "REDIS_URL": ""}
    migrate(env)
    srv = PlainWorkerServer(env).start()
    try:
        bob = Peer(srv.url, transports=["polling", "websocket"], username="plain_bob")
        alice = Peer(srv.url, transports=["websocket"], username="plain_alice")
        assert bob.sio.transport() == "websocket"
        ack = alice.send(bob.user_id, "through the stock worker")
        assert ack["ok"] is True
        got = bob.wait_for("private message", lambda m: m["id"] == ack["message"]["id"])
        assert got["content"] == "through the stock worker"
        alice.close()
        bob.close()
    finally:
        srv.stop()
