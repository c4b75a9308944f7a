"""Shared test helpers: database URLs and a person wrapping Socket.IO test clients."""

from __future__ import annotations

import os
from typing import Any

import psycopg
from flask_socketio.test_client import SocketIOTestClient
from socketio import packet

PG_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Several checkouts may run their suites at once on one PostgreSQL: names carry the pid.
RUN = str(os.getpid())


def pg_database(name: str) -> str:
    """Creates (or empties) PostgreSQL database ``name`` for this run and returns its URL."""
    name = f"{name}_{RUN}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_databases() -> None:
    """Drops the databases this run created."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        names = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"%\\_{RUN}",)
        ).fetchall()
        for (name,) in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
