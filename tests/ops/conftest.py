"""Fixtures for the operations tests: services this test owns and can stop, real servers."""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
import redis

from tests.helpers import PG_URL
from tests.servers import BIN, ROOT, WORKER, Server, free_port, migrate


def unique_prefix() -> str:
    """A Redis prefix of its own: other suites share the Redis server."""
    return f"test:{uuid4().hex}:"


class PrivateRedis:
    """A redis-server subprocess of this test, on its own port, that it may stop and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        """Starts (or restarts) on the same port; returns once it answers PING."""
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)  # a starting process: nothing to wait on but its port
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        """Kills it: the port refuses connections from now on."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class TcpProxy:
    """Forwards a local port to PostgreSQL; stopping it is the database going away."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        """Listens (again) on the same port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select():
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            for s in (a, b):
                s.close()

    def stop(self) -> None:
        """Closes the listener and every forwarded connection."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave
            # the kernel socket listening until that accept returned.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server only this test uses."""
    server = PrivateRedis().start()
    yield server
    server.stop()


@pytest.fixture
def pg_proxy() -> Iterator[TcpProxy]:
    """A stoppable path to the shared PostgreSQL (the service itself is never touched)."""
    host, port = PG_URL.split("@", 1)[1].split("/", 1)[0].split(":")
    proxy = TcpProxy((host, int(port))).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def servers(tmp_path) -> Iterator[Callable[..., Server]]:
    """Starts real gunicorn servers (migrating their database first); stops them after."""
    started: list[Server] = []

    def start(env: dict[str, str], name: str = "server", do_migrate: bool = True) -> Server:
        if do_migrate:
            migrate(env)
        srv = Server(env, log_path=tmp_path / f"{name}.log")
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()


def gone(pid: int, timeout: float = 10) -> None:
    """Returns once process ``pid`` has exited (a zombie counts as exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.05)  # another process's exit: no event this test can wait on
    raise TimeoutError(f"process {pid} still running")


def sqlite_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a server on its own SQLite file and no Redis."""
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}", "REDIS_URL": "", **extra}


def run_gunicorn(env: dict[str, str], timeout: float = 30) -> tuple[int, str]:
    """Runs gunicorn expecting it to exit by itself; returns (exit code, output)."""
    proc = subprocess.run(
        [
            *(str(BIN / "gunicorn"), "-k", WORKER, "-w", "1"),
            *("-b", f"127.0.0.1:{free_port()}", "app:create_app()"),
        ],
        cwd=ROOT,
        env={**os.environ, "SECRET_KEY": "test-secret", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr


def flask_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Runs ``flask --app app <args>`` in a process of its own."""
    return subprocess.run(
        [str(BIN / "flask"), "--app", "app", *args],
        cwd=ROOT,
        env={**os.environ, "SECRET_KEY": "test-secret", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
