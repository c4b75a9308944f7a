"""`flask --app app run` (threading mode) serves Socket.IO over WebSocket too."""

from __future__ import annotations

import pytest

from deploy.launch import BIN, Server, migrate
from tests.support.peer import Peer

pytestmark = pytest.mark.server


class FlaskRunServer(Server):
    """The development server: async_mode left unset picks threading."""

    def command(self) -> list[str]:
        return [str(BIN / "flask"), "--app", "app", "run", "--port", str(self.port)]


def test_flask_run_websocket_round_trip(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}", "REDIS_URL": ""}
    migrate(env)
    server = FlaskRunServer(env).start()
    try:
        bob = Peer(server.url, transports=["websocket"], username="dev_bob")
        alice = Peer(server.url, transports=["polling", "websocket"], username="dev_alice")
        assert bob.sio.transport() == "websocket"
        assert alice.sio.transport() == "websocket"
        ack = alice.send(bob.user_id, "from the development server")
        assert ack["ok"] is True
        got = bob.wait_for("private message", lambda m: m["id"] == ack["message"]["id"])
        assert got["content"] == "from the development server"
        alice.close()
        assert bob.wait_for("user disconnected") == alice.user_id
        bob.close()
    finally:
        server.stop()
