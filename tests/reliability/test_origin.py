"""Cross-origin Socket.IO handshakes and per-IP connection limits, on real servers."""

from __future__ import annotations

import pytest
import requests
import socketio
import websocket

from tests.support.databases import migrated
from tests.support.environments import GENEROUS

pytestmark = [pytest.mark.server, pytest.mark.filterwarnings("ignore::ResourceWarning")]

EVIL = "http://evil.example"


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    env = {**GENEROUS, "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}"}
    migrated(env)
    return env


def polling_open(url: str, **headers: str) -> int:
    """Status of an Engine.IO polling handshake sent with ``headers``."""
    return requests.get(
        url + "/socket.io/?EIO=4&transport=polling", headers=headers, timeout=5
    ).status_code


def websocket_opens(url: str, origin: str | None) -> bool:
    """Whether a WebSocket handshake with this Origin header is accepted."""
    try:
        ws = websocket.create_connection(
            url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
            origin=origin,
            suppress_origin=origin is None,
            timeout=5,
        )
    except websocket.WebSocketBadStatusException:
        return False
    accepted = ws.recv().startswith("0{")
    ws.close()
    return accepted


def handshake(
    url: str, forwarded_for: str | None = None, name: str = "x", transport: str = "websocket"
) -> object:
    """A Socket.IO handshake; returns "accepted" or the connect_error data."""
    sio = socketio.Client(reconnection=False)
    errors: list[object] = []
    sio.on("connect_error", errors.append)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    try:
        sio.connect(url, auth={"username": name}, headers=headers, transports=[transport])
    except socketio.exceptions.ConnectionError:
        return errors[0] if errors else "no answer"
    sio.disconnect()
    return "accepted"


def test_default_server_same_origin_only_and_its_own_address_limited(start_server, env):
    server = start_server({**env, "CONNECT_RATE": "0.01", "CONNECT_BURST": "2"})
    own = server.url  # what a browser on this page sends
    assert polling_open(server.url, Origin=EVIL) == 400
    assert not websocket_opens(server.url, EVIL)
    assert not websocket_opens(server.url, server.url.replace("127.0.0.1", "localhost"))
    assert polling_open(server.url, Origin=own) == 200
    assert websocket_opens(server.url, own)
    # No Origin at all is not a browser: nothing to protect it from.
    assert websocket_opens(server.url, None)
    # Behind nginx the browser's origin is the public one; python-engineio compares it with
    # X-Forwarded-Proto/Host (headers a cross-site page cannot set on a WebSocket).
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "chat.example"}
    assert polling_open(server.url, Origin="https://chat.example", **forwarded) == 200
    assert polling_open(server.url, Origin=EVIL, **forwarded) == 400
    # Without a trusted proxy, a client rotating X-Forwarded-For still draws from its real
    # address's bucket (the Engine.IO handshakes above take no token: only Socket.IO ones).
    results = [handshake(server.url, f"203.0.113.{i}", f"user{i}") for i in range(3)]
    assert results == ["accepted", "accepted", {"message": "rate limited"}]


def test_listed_origins_and_per_address_limits_behind_a_proxy(start_server, env):
    public = "https://chat.example"
    server = start_server(
        {
            **env,
            # A list replaces the same-origin rule: the public origin must be in it.
            "CORS_ALLOWED_ORIGINS": f"{public},http://partner.example",
            "TRUSTED_PROXIES": "1",
            "CONNECT_RATE": "0.01",
            "CONNECT_BURST": "3",
        }
    )
    assert polling_open(server.url, Origin="http://partner.example") == 200
    assert websocket_opens(server.url, "http://partner.example")
    assert polling_open(server.url, Origin=public) == 200
    assert polling_open(server.url, Origin=EVIL) == 400
    assert not websocket_opens(server.url, EVIL)
    # Header values only: every byte of traffic stays on the loopback interface. Polling,
    # because python-socketio's WebSocket sends an Origin of its own, which the list refuses.
    first, second = "203.0.113.7", "203.0.113.8"
    results = [handshake(server.url, first, f"user{i}", "polling") for i in range(4)]
    assert results[:3] == ["accepted"] * 3
    assert results[3] == {"message": "rate limited"}
    assert handshake(server.url, second, "other", "polling") == "accepted"  # its own bucket
