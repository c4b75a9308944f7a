"""Launching chat processes: gunicorn with deploy/gunicorn.conf.py, migrations, readiness, stop.

The one place that knows how a chat process is started and stopped: `make cluster`
(deploy/cluster.py), the real-server tests and the benchmark all launch through it. Only the
standard library is used, so that `make cluster` needs no development packages.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
APP = "app:create_app()"
WORKER = "chat.worker.Worker"
# A throwaway server (tests, benchmarks) needs a key; a deployment sets its own.
THROWAWAY_SECRET = "test-secret"


def gunicorn_command(bind: str, config: bool = True) -> list[str]:
    """The command line of one chat process listening on ``bind`` (host:port).

    Without ``config``: the worker class alone, none of deploy/gunicorn.conf.py's hooks.
    """
    settings = ["-c", str(CONFIG)] if config else ["-k", WORKER, "-w", "1"]
    return [str(BIN / "gunicorn"), *settings, "-b", bind, APP]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def migrate(env: dict[str, str]) -> None:
    """Applies the migrations to the database named by ``env``; raises with the output if not."""
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"db upgrade failed ({done.returncode}):\n{done.stderr[-2000:]}")


def spawn(command: list[str], env: dict[str, str], log_path: Path | None) -> subprocess.Popen:
    """Starts ``command`` in its own session (Ctrl-C here never reaches it), output to the log."""
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        if log_path:
            log.close()  # the child has its own copy of the descriptor


def answers(url: str, timeout: float = 2) -> bool:
    """Whether ``url`` answers 200 within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return False


def poll(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Polls ``check`` until true or ``timeout``: a process starting or stopping sends no event."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left by a parent that is gone does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def stop(pid: int, timeout: float) -> bool:
    """SIGTERM to the master (a graceful drain), SIGKILL to its group if it overstays.

    Returns whether it left within ``timeout``.
    """
    if not alive(pid):
        return True
    os.kill(pid, signal.SIGTERM)
    if poll(lambda: not alive(pid), timeout):
        return True
    os.killpg(pid, signal.SIGKILL)
    return False


class Server:
    """One throwaway gunicorn process serving the chat on ``port`` (tests, benchmarks)."""

    def __init__(self, env: dict[str, str], port: int | None = None, log_path: Path | None = None):
        self.env = {**os.environ, "SECRET_KEY": THROWAWAY_SECRET, **env}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """The process's command line (a subclass may serve the chat another way)."""
        return gunicorn_command(f"127.0.0.1:{self.port}")

    def start(self, timeout: float = 20, probe_timeout: float = 1) -> Server:
        """Starts the process and returns once /healthz answers; raises if it exits or not."""
        self.proc = spawn(self.command(), self.env, self.log_path)
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            return answers(self.url + "/healthz", probe_timeout)

        if poll(ready, timeout):
            return self
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
        """SIGTERM (the drain), then SIGKILL if it does not exit in time."""
        if self.proc and self.proc.poll() is None:
            stop(self.proc.pid, timeout)
            self.proc.wait()
