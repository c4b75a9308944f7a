"""Fixtures of the reliability tests: a migrated database for real servers, and peers."""

from __future__ import annotations

import gc
import uuid
import warnings
from collections.abc import Callable, Iterator

import pytest

from deploy.databases import pg_database
from deploy.launch import Server
from tests.support.databases import migrated
from tests.support.environments import GENEROUS
from tests.support.faults import TcpProxy
from tests.support.peer import Peer


@pytest.fixture(params=["sqlite", "postgresql"])
def server_env(request, tmp_path) -> dict[str, str]:
    """Environment of a real server on an empty, migrated database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'chat.db'}"
    else:
        url = pg_database(f"rel_{uuid.uuid4().hex[:8]}")
    env = {**GENEROUS, "DATABASE_URL": url}
    migrated(env)
    return env


@pytest.fixture
def tcp_proxy() -> Iterator[Callable[[str, int], TcpProxy]]:
    """Makes TCP proxies to ``(host, port)``, all closed at the end of the test."""
    made: list[TcpProxy] = []

    def make(host: str, port: int) -> TcpProxy:
        made.append(TcpProxy(host, port))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


@pytest.fixture
def start_server(servers) -> Callable[..., Server]:
    """Starts real servers (log in ``tmp_path``) on databases the test migrated itself."""
    return lambda env, name="server": servers(env, name, do_migrate=False)


@pytest.fixture
def peers(start_server) -> Iterator[Callable[..., Peer]]:
    """Opens reconnecting clients (they have their user list), all closed at the end of the test.

    Depends on ``start_server`` so that clients close first: a server stopping gracefully
    waits for its open WebSockets.
    """
    opened: list[Peer] = []

    def open_peer(url: str, transports: list[str] | None = None, **auth) -> Peer:
        # WebSocket unless asked, and quick to come back after the kills and outages here.
        peer = Peer(url, transports or ["websocket"], reconnect=True, delays=(0.1, 0.5, 0), **auth)
        opened.append(peer)
        peer.wait_for("users")
        return peer

    yield open_peer
    for peer in opened:
        peer.close()


@pytest.fixture(autouse=True)
def _collect_client_sockets() -> Iterator[None]:
    """Collects, after each test here, the sockets that client libraries leave to the GC.

    python-engineio's and websocket-client's sockets of connections that a server refused,
    dropped or was killed under are closed only by the garbage collector; collected in a
    later test, their ResourceWarning would fail that test instead.
    """
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
