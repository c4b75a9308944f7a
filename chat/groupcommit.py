"""Group commit: messages that arrive together are stored in one transaction.

The classic leader/follower scheme, without timers. A sender whose message finds no batch
being committed becomes the leader: it yields once (so that events already readable on
other sockets can queue), takes up to ``size`` queued messages, its own first, stores them
in one transaction and wakes their senders; if more queued meanwhile, it hands the lead to
the oldest of them and returns. Every other sender waits for its message's batch. So a
lone message on an idle server is committed at once, and under load a batch holds what
arrived while the previous one was being committed.

The lock and events are ``threading``'s: gevent patches them under gunicorn's worker, and
they are real threads' under ``flask run`` and the test client.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar
from weakref import WeakKeyDictionary

from chat.extensions import socketio

if TYPE_CHECKING:
    from flask import Flask

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Waiter(Generic[Item]):
    __slots__ = ("done", "item", "leads", "outcome")

    def __init__(self, item: Item):
        self.item = item
        self.done = threading.Event()
        self.outcome: object = None
        self.leads = False  # woken to lead the next batch, not with its outcome


class GroupCommit(Generic[Item, Result]):
    """Runs ``commit(items)`` (one outcome per item, in order) on batches of concurrent
    ``submit`` calls; each call returns its item's outcome once its batch is committed."""

    def __init__(
        self,
        commit: Callable[[Sequence[Item]], list[Result]],
        size: int,
        pause: Callable[[], None],
    ):
        self._commit = commit
        self._size = size
        self._pause = pause  # lets ready greenlets queue before a batch is taken
        self._lock = threading.Lock()
        self._queue: deque[_Waiter[Item]] = deque()
        self._leading = False
        self.batches = 0  # batches committed, for tests and metrics

    def submit(self, item: Item) -> Result:
        """``item``'s outcome from ``commit``, once the batch holding it has been committed.

        An exception raised by ``commit`` is raised to every submitter of that batch.
        """
        me = _Waiter(item)
        with self._lock:
            self._queue.append(me)
            lead = not self._leading
            self._leading = True
        if not lead:
            me.done.wait()
            if me.leads:
                lead = True
        if lead:
            self._lead()
        if isinstance(me.outcome, BaseException):
            raise me.outcome
        return me.outcome  # type: ignore[return-value]

    def pending(self) -> int:
        """How many submitted items wait for a batch."""
        return len(self._queue)

    def _lead(self) -> None:
        batch: list[_Waiter[Item]] = []
        try:
            # The leader's own item is the oldest queued, so it is in the batch it takes.
            if len(self._queue) < self._size:
                self._pause()
            with self._lock:
                batch = [self._queue.popleft() for _ in range(min(self._size, len(self._queue)))]
            try:
                outcomes: list[object] = list(self._commit([w.item for w in batch]))
            except Exception as exc:  # the whole batch failed: each of its senders hears it
                outcomes = [exc] * len(batch)
            for waiter, outcome in zip(batch, outcomes, strict=True):
                waiter.outcome = outcome
            self.batches += 1
        finally:
            # Even if this greenlet is killed: no sender waits on an abandoned batch.
            for waiter in batch:
                if waiter.outcome is None:
                    waiter.outcome = RuntimeError("the batch was abandoned")
                waiter.done.set()
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.leads = True
                    successor.done.set()
                else:
                    self._leading = False


def of_app(
    groups: WeakKeyDictionary[Flask, GroupCommit[Item, Result]],
    app: Flask,
    commit: Callable[[Sequence[Item]], list[Result]],
    size: int,
) -> GroupCommit[Item, Result]:
    """``app``'s group commit in ``groups``, made on its first use with ``commit`` and
    ``size``. One per app: each app has its own database (tests make many apps). Its pause
    is a zero sleep, not a timer: a lone item waits for nothing."""
    group = groups.get(app)
    if group is None:
        pause = functools.partial(socketio.sleep, 0)
        group = groups.setdefault(app, GroupCommit(commit, size, pause))
    return group
