"""Fixtures of the reliability tests: a migrated database for real servers, and peers."""

from __future__ import annotations

import gc
import uuid
import warnings
from collections.abc import Callable, Iterator

import pytest

from tests.faults import RedisProcess, TcpProxy
from tests.helpers import pg_database
from tests.reliability.peers import Peer
from tests.servers import Server, migrate

# Real servers under test get generous limits unless a test lowers them.
GENEROUS = {
    "REDIS_URL": "",
    "SEND_RATE": "1000",
    "SEND_BURST": "10000",
    "FETCH_RATE": "1000",
    "FETCH_BURST": "10000",
    "CONNECT_RATE": "1000",
    "CONNECT_BURST": "10000",
    "SIGNUP_RATE": "1000",
    "SIGNUP_BURST": "10000",
    "RESUME_BURST": "10000",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def server_env(request, tmp_path) -> dict[str, str]:
    """Environment of a real server on an empty, migrated database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'chat.db'}"
    else:
        url = pg_database(f"rel_{uuid.uuid4().hex[:8]}")
    env = {**GENEROUS, "DATABASE_URL": url}
    migrate(env)
    return env


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    """A redis-server of this test's own (the shared one is never stopped), killed at the end."""
    process = RedisProcess().start()
    yield process
    process.kill()


def redis_env(url: str) -> dict[str, str]:
    """REDIS_URL with a prefix of its own, so that tests sharing a Redis never hear each other."""
    return {"REDIS_URL": url, "REDIS_PREFIX": f"test:{uuid.uuid4().hex}:"}


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
    """Opens reconnecting python-socketio clients, all closed at the end of the test.

    Depends on ``start_server`` so that clients close first: a server stopping gracefully
    waits for its open WebSockets.
    """
    opened: list[Peer] = []

    def open_peer(url: str, **auth) -> Peer:
        peer = Peer(url, **auth)
        opened.append(peer)
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
