"""Waiting on state that sends no event (server-side state, other processes): polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from deploy.launch import alive, poll


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 10,
    interval: float = 0.02,
    what: str = "condition",
    sleep: Callable[[float], Any] = time.sleep,
) -> Any:
    """Polls ``predicate`` until it is truthy and returns its value; fails after ``timeout``.

    ``sleep``: the in-process server's ``socketio.sleep`` when its background tasks must run
    meanwhile (greenlets of gevent, not monkey-patched in the test process, run only then).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
        sleep(interval)


def gone(pid: int, timeout: float = 10) -> None:
    """Returns once process ``pid`` has exited (a zombie counts as exited)."""
    if not poll(lambda: not alive(pid), timeout, interval=0.05):
        raise TimeoutError(f"process {pid} still running")
