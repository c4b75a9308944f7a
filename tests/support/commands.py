"""Commands a test expects to exit by themselves: gunicorn failing at start, the flask CLI,
deploy/cluster.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from deploy.launch import BIN, ROOT, THROWAWAY_SECRET, free_port, gunicorn_command


def run_gunicorn(env: dict[str, str], timeout: float = 30) -> tuple[int, str]:
    """Runs a chat process expecting it to exit by itself; returns (exit code, output)."""
    proc = subprocess.run(
        gunicorn_command(f"127.0.0.1:{free_port()}"),
        cwd=ROOT,
        env={**os.environ, "SECRET_KEY": THROWAWAY_SECRET, **env},
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
        env={**os.environ, "SECRET_KEY": THROWAWAY_SECRET, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def free_block(size: int) -> int:
    """The first of ``size`` consecutive free ports (nginx, then one per process)."""
    for _ in range(50):
        first = free_port()
        try:
            for port in range(first, first + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise AssertionError("no block of free ports")


def cluster(run_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Runs deploy/cluster.py as `make cluster*` does."""
    return subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "cluster.py"), *args, "--run-dir", str(run_dir)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )
