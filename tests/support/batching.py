"""Driving a leader/follower batch (``chat.groupcommit``) by hand: the first call is held
while the others queue behind it, so that a test knows exactly what one batch holds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tests.support.polling import wait_until


class Held:
    """``fn`` whose first call waits until ``released`` is set; later calls pass through."""

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn
        self.entered = threading.Event()
        self.released = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.entered.is_set():
            self.entered.set()
            assert self.released.wait(10)
        return self.fn(*args, **kwargs)


def behind_the_first(
    call: Callable[[int, Any], Any], items: list[Any], held: Held, pending: Callable[[], int]
) -> None:
    """Runs ``call(i, item)`` in a thread per item: the first until it is ``held``, then each
    other once the one before it is queued (``pending``); releases them and waits for all."""
    threads: list[threading.Thread] = []

    def start(i: int) -> None:
        thread = threading.Thread(target=call, args=(i, items[i]))
        thread.start()
        threads.append(thread)

    start(0)
    assert held.entered.wait(10)
    for i in range(1, len(items)):
        start(i)
        wait_until(lambda i=i: pending() == i, interval=0.001)
    held.released.set()
    for thread in threads:
        thread.join(10)
