"""Packet limits on a real server: the largest valid event passes, anything bigger is cut off."""

from __future__ import annotations

import os
import socket
import struct
import time

import pytest
import requests
import socketio
import websocket

from chat import config
from tests.support.databases import migrated
from tests.support.environments import GENEROUS

pytestmark = [pytest.mark.server, pytest.mark.filterwarnings("ignore::ResourceWarning")]

MAX_BYTES = config.max_buffer_size({"MAX_MESSAGE_LENGTH": 4000})


@pytest.fixture
def server(start_server, tmp_path):
    env = {**GENEROUS, "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}"}
    migrated(env)
    return start_server(env)


def stored(server_tmp) -> int:
    import sqlite3

    with sqlite3.connect(server_tmp / "chat.db") as conn:
        return conn.execute("SELECT count(*) FROM messages").fetchone()[0]


def test_buffer_limit_is_the_largest_valid_event():
    # 4000 characters outside the BMP, as python-socketio's client escapes them.
    assert MAX_BYTES == 4000 * 12 + 4096
    assert MAX_BYTES < 64 * 1024  # lowered from python-engineio's default of 1,000,000


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_largest_valid_message_passes(server, peers, transport):
    bob = peers(server.url, username="bob")
    alice = peers(server.url, transports=[transport], username="alice")
    assert alice.sio.transport() == transport
    content = "\U0001f600" * 4000  # 4000 characters, 48,000 bytes once JSON-escaped
    ack = alice.call("private message", {"content": content, "to": bob.user_id})
    assert ack["ok"] is True
    got = bob.wait_for("private message", lambda m: m["id"] == ack["message"]["id"])
    assert got["content"] == content


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_oversized_event_drops_only_its_sender(server, peers, tmp_path, transport):
    bob = peers(server.url, username="bob")
    mallory = socketio.Client(reconnection=False)
    gone = []
    mallory.on("disconnect", lambda *_: gone.append(True))
    mallory.connect(server.url, auth={"username": "mallory"}, transports=[transport])
    try:
        mallory.emit("private message", {"content": "x" * (MAX_BYTES + 1), "to": bob.user_id})
        deadline = time.monotonic() + 15
        while not gone and time.monotonic() < deadline:
            time.sleep(0.05)  # the client library gives no event to wait on but disconnect
        assert gone, "an oversized event did not close its connection"
    finally:
        mallory.disconnect()
    assert stored(tmp_path) == 0
    alice = peers(server.url, username="alice")
    ack = alice.call("private message", {"content": "still here", "to": bob.user_id})
    assert ack["ok"] and bob.wait_for("private message", lambda m: m["id"] == ack["message"]["id"])


def ws_handshake(url: str) -> websocket.WebSocket:
    """A raw Engine.IO WebSocket, opened and past the OPEN packet."""
    ws = websocket.create_connection(
        url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", timeout=5
    )
    assert ws.recv().startswith("0{")  # Engine.IO OPEN
    return ws


def test_announced_huge_frame_is_refused_before_it_is_read(server):
    ws = ws_handshake(server.url)
    sock: socket.socket = ws.sock
    # A masked text frame announcing 1 GiB, followed by a few bytes only: a server that
    # buffers whole frames waits here for the rest (and would hold a gigabyte).
    header = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 1 << 30) + os.urandom(4)
    sock.sendall(header + b"4" * 100)
    sock.settimeout(5)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except TimeoutError:
        pytest.fail("the server is still reading the announced frame")
    except ConnectionResetError:
        pass
    # Closed by the server: a close frame (opcode 8) or the connection itself.
    assert data == b"" or data[0] & 0x0F == 0x8
    ws.close()
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def test_message_split_into_small_frames_is_limited_too(server):
    ws = ws_handshake(server.url)
    chunk = "x" * 16384
    ws.send_frame(websocket.ABNF.create_frame("4" + chunk, websocket.ABNF.OPCODE_TEXT, fin=0))
    closed = False
    try:
        for _ in range(MAX_BYTES // len(chunk) + 2):
            ws.send_frame(websocket.ABNF.create_frame(chunk, websocket.ABNF.OPCODE_CONT, fin=0))
        ws.settimeout(5)
        opcode, _ = ws.recv_data(control_frame=True)
        closed = opcode == websocket.ABNF.OPCODE_CLOSE
    except (websocket.WebSocketConnectionClosedException, BrokenPipeError, ConnectionResetError):
        closed = True
    assert closed
    ws.close()


def test_unknown_events_are_ignored_on_a_real_server(server, peers):
    bob = peers(server.url, username="bob")
    alice = peers(server.url, username="alice")
    alice.sio.emit("no such event", {"x": 1})
    with pytest.raises(socketio.exceptions.TimeoutError):  # ignored: not even an ack
        alice.sio.call("user connected", {"userID": "forged"}, timeout=1)
    ack = alice.call("private message", {"content": "fine", "to": bob.user_id})
    assert ack["ok"]
    bob.wait_for("private message", lambda m: m["id"] == ack["message"]["id"])
    assert all(u["userID"] != "forged" for u in bob.received("user connected"))
    assert alice.sio.connected and bob.sio.connected
