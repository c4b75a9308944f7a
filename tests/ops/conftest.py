"""Fixtures for the operations tests: services this test owns and can stop, real servers."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from tests.faults import RedisProcess, TcpProxy
from tests.helpers import PG_URL
from tests.servers import BIN, ROOT, WORKER, free_port


def unique_prefix() -> str:
    """A Redis prefix of its own: other suites share the Redis server."""
    return f"test:{uuid4().hex}:"


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    """A redis-server only this test uses."""
    server = RedisProcess().start()
    yield server
    server.kill()


@pytest.fixture
def pg_proxy() -> Iterator[TcpProxy]:
    """A stoppable path to the shared PostgreSQL (the service itself is never touched)."""
    host, port = PG_URL.split("@", 1)[1].split("/", 1)[0].split(":")
    proxy = TcpProxy(host, int(port))
    yield proxy
    proxy.close()


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
