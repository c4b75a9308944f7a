"""The in-process client: Flask-SocketIO's test client, and a tab of a person built on it."""

from __future__ import annotations

from typing import Any

from flask_socketio.test_client import SocketIOTestClient
from socketio import packet


class SocketClient(SocketIOTestClient):
    """Flask-SocketIO's test client, also keeping the data of a CONNECT_ERROR."""

    connect_error: Any = None

    def connect(self, namespace=None, query_string=None, headers=None, auth=None):
        server = self.socketio.server
        original = server._send_packet

        def record(eio_sid, pkt):
            if eio_sid == self.eio_sid and pkt.packet_type == packet.CONNECT_ERROR:
                self.connect_error = pkt.data
            return original(eio_sid, pkt)

        server._send_packet = record
        try:
            super().connect(namespace, query_string, headers, auth)
        finally:
            server._send_packet = original


def open_tab(app: Any, **auth: Any) -> Tab:
    """Connects a tab to ``app`` with ``auth``; fails when refused."""
    from chat.extensions import socketio

    client = SocketClient(app, socketio, auth=auth)
    assert client.is_connected(), f"handshake refused: {client.connect_error}"
    return Tab(client)


class Tab:
    """One browser tab of a person: a Socket.IO test client and what it received."""

    def __init__(self, client: Any):
        self.client = client
        self.inbox: list[tuple[str, list[Any]]] = []
        self._pull()
        session = self.first("session")
        self.session_id: str = session["sessionID"]
        self.user_id: str = session["userID"]

    def _pull(self) -> None:
        if self.client.is_connected():
            self.inbox += [(p["name"], p["args"]) for p in self.client.get_received()]

    def received(self, name: str | None = None) -> list[Any]:
        """Every payload received so far (first argument), optionally of one event."""
        self._pull()
        return [args[0] if args else None for n, args in self.inbox if name in (None, n)]

    def names(self) -> list[str]:
        """Event names received so far, in order."""
        self._pull()
        return [n for n, _ in self.inbox]

    def first(self, name: str) -> Any:
        """The first payload of ``name``; fails when none arrived."""
        found = self.received(name)
        assert found, f"no {name!r} event in {self.names()}"
        return found[0]

    def clear(self) -> None:
        """Forgets what was received so far."""
        self._pull()
        self.inbox.clear()

    def send(self, to: str, content: str, **extra: Any) -> Any:
        """Sends a private message with an ack and returns the ack."""
        return self.client.emit(
            "private message", {"content": content, "to": to, **extra}, callback=True
        )

    def emit(self, event: str, *args: Any) -> Any:
        """Emits any event with an ack and returns the ack."""
        return self.client.emit(event, *args, callback=True)

    def close(self) -> None:
        """Closes the tab's socket."""
        self._pull()
        self.client.disconnect()
