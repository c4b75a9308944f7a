"""Commands a test expects to exit by themselves: gunicorn failing at start, the flask CLI."""

from __future__ import annotations

import os
import subprocess

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
