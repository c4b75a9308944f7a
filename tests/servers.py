"""Real server processes for tests and benchmarks: gunicorn with the gevent-websocket worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import socketio

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKER = "chat.worker.Worker"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def migrate(env: dict[str, str]) -> None:
    """Applies the migrations to the database named by ``env``."""
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"db upgrade failed ({done.returncode}):\n{done.stderr[-2000:]}")


class Server:
    """One gunicorn process serving the chat on ``port`` with ``env`` as its environment."""

    def __init__(self, env: dict[str, str], port: int | None = None, log_path: Path | None = None):
        self.env = {**os.environ, "SECRET_KEY": "test-secret", **env}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """The gunicorn command line of the design card, on this server's port."""
        return [
            str(BIN / "gunicorn"),
            "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "-k",
            WORKER,
            "-w",
            "1",
            "--worker-connections",
            "10000",
            "--graceful-timeout",
            "10",
            "-b",
            f"127.0.0.1:{self.port}",
            "app:create_app()",
        ]

    def start(self, timeout: float = 20) -> Server:
        """Starts the process and returns once it answers HTTP."""
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        if self.log_path:
            log.close()  # the child has its own copy of the descriptor
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass  # not listening yet, or too busy to answer within the timeout
            time.sleep(0.1)  # polling a starting process: there is no event to wait on
        self.kill()  # the caller gets no Server to stop: don't leave the process behind
        raise TimeoutError(f"server on {self.port} did not answer within {timeout}s")

    def pids(self) -> list[int]:
        """The gunicorn master and its worker."""
        assert self.proc is not None
        out = subprocess.run(
            ["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]

    def kill(self) -> None:
        """kill -9 of the master and the worker: no shutdown code runs."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


class Remote:
    """A python-socketio client that records every event it receives."""

    def __init__(self, url: str, transports: list[str] | None = None, **auth: Any):
        self.url = url
        self.events: list[tuple[str, Any]] = []
        self.cond = threading.Condition()
        self.sio = socketio.Client(reconnection=False)
        self.connect_error: Any = None
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.connect(url, auth=auth or None, transports=transports, wait_timeout=10)
        self.session = self.wait_for("session")
        self.user_id: str = self.session["userID"]
        self.session_id: str = self.session["sessionID"]

    def _record(self, event: str, *args: Any) -> None:
        with self.cond:
            self.events.append((event, args[0] if args else None))
            self.cond.notify_all()

    def _on_connect_error(self, data: Any) -> None:
        self.connect_error = data

    def wait_for(
        self, event: str, where: Callable[[Any], bool] = lambda _: True, timeout: float = 10
    ) -> Any:
        """Blocks until an ``event`` matching ``where`` has arrived; returns its payload."""
        with self.cond:
            found = self.cond.wait_for(
                lambda: (
                    next((p for e, p in self.events if e == event and where(p)), None) is not None
                ),
                timeout,
            )
            assert found, f"no {event!r} within {timeout}s; got {[e for e, _ in self.events]}"
            return next(p for e, p in self.events if e == event and where(p))

    def received(self, event: str) -> list[Any]:
        """Payloads of ``event`` received so far."""
        with self.cond:
            return [p for e, p in self.events if e == event]

    def send(self, to: str, content: str, timeout: float = 10, **extra: Any) -> Any:
        """Sends a private message and waits for its ack."""
        return self.sio.call(
            "private message", {"content": content, "to": to, **extra}, timeout=timeout
        )

    def close(self) -> None:
        """Disconnects."""
        if self.sio.connected:
            self.sio.disconnect()
