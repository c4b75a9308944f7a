"""Micro-benchmark of the per-event wrapper of chat.dispatch, piece by piece, in µs per event.

    .venv/bin/python bench/wrapper.py

Runs in one process on a throwaway SQLite app with the memory limiter; the handler itself
does nothing, so the figures are the wrapper's own cost (docs/performance.md).
"""

from __future__ import annotations

import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from chat import dispatch, events, store  # noqa: E402
from chat.extensions import socketio  # noqa: E402
from chat.services import services  # noqa: E402

NUMBER = 20_000
SID = "bench-sid"
DATA = {"content": "hello there", "to": "0123456789abcdef", "clientId": "c-1"}


def per_event(fn) -> float:
    """Best of 7 runs, µs of CPU per call."""
    # CPU time, not wall time: the machine is shared, other processes take the cores.
    runs = timeit.repeat(fn, number=NUMBER, repeat=7, timer=time.process_time)
    return min(runs) / NUMBER * 1e6


def main() -> None:
    """Prints each piece's cost and the whole wrapper's around a handler that does nothing."""
    instance = tempfile.mkdtemp()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/bench.db",
            "TESTING": True,  # no startup checks: nothing here touches the database
            "REDIS_URL": None,
            "SECRET_KEY": "bench",
            "SEND_RATE": 1e9,
            "SEND_BURST": 10**9,
        }
    )
    me = store.Identity("fedcba9876543210", "alice", 1)
    environ = {"flask.app": app}
    dispatch.identify(environ, me)
    socketio.server.get_environ = lambda sid: environ  # no real socket: its environ
    schema = events.PrivateMessage
    noop = dispatch.handler("bench noop", schema, limit="send")(lambda me, payload, sid: None)
    assert noop is not None
    wrapped = dispatch._HANDLERS["bench noop"]
    limiter = services(app).limiter
    lifecycle = services(app).lifecycle

    def app_context():
        with app.app_context():
            pass

    def validate():
        schema.model_validate(DATA, context=app.config)

    def limit():
        limiter.take(f"send:{me.user_id}", app.config["SEND_RATE"], app.config["SEND_BURST"])

    def in_flight():
        with lifecycle.in_flight(SID):
            pass

    with app.app_context():
        pieces = {
            "environ + identity": lambda: dispatch.identity(socketio.server.get_environ(SID)),
            "app context push/pop": app_context,
            "validation (PrivateMessage)": validate,
            "limiter take (memory)": limit,
            "services() lookup": services,
            "drain gate (in_flight)": in_flight,
        }
        for name, fn in pieces.items():
            print(f"{name:32} {per_event(fn):7.2f} µs")
    print(f"{'whole wrapper, no-op handler':32} {per_event(lambda: wrapped(SID, DATA)):7.2f} µs")


if __name__ == "__main__":
    main()
