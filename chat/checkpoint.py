"""SQLite's WAL checkpoints in a native thread, off the event loop.

SQLite copies its write-ahead log back into the database file (a checkpoint: page copies
and fsyncs) inside whichever commit takes the log past ``wal_autocheckpoint`` pages, 1,000
by default. Under gevent that commit runs on the event loop's thread, and every socket of
the worker waits for those fsyncs (20-130 ms each on the benchmark's machine; uploads'
pages cross the 1,000 every ~4 MB). Served by gunicorn's gevent worker, the app's
connections instead checkpoint only past ``BOUND_PAGES`` (so the log never grows without
limit), and a native thread runs a PASSIVE checkpoint every SQLITE_CHECKPOINT_S on a
connection of its own: PASSIVE waits for no reader or writer and takes no lock a writer
waits for, and sqlite3 releases the GIL while it copies and syncs, so the loop keeps going.
"""

from __future__ import annotations

import logging
import sqlite3

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from chat.extensions import db

log = logging.getLogger(__name__)

# The app's own connections checkpoint past this many pages of log (64 MiB at 4 KiB pages):
# a bound for a checkpointer that falls behind or stops, not a schedule.
BOUND_PAGES = 16_384


def _bound(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={BOUND_PAGES}")


def start(app: Flask) -> bool:
    """In a gevent worker on SQLite with SQLITE_CHECKPOINT_S > 0: bounds the app's own
    checkpoints and starts the checkpointing thread. Returns whether it started; idempotent."""
    every = float(app.config["SQLITE_CHECKPOINT_S"])
    with app.app_context():
        engine: Engine = db.engine
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:" or every <= 0:
        return False
    if app.extensions.get("chat.checkpointer"):
        return True
    app.extensions["chat.checkpointer"] = True
    event.listen(engine, "connect", _bound)
    engine.dispose()  # the pool's connection (startup checks) reconnects with the bound
    import gevent
    from gevent import monkey
    from gevent.threadpool import ThreadPool

    # gevent's patched sleep and logging's patched locks belong to the loop's thread: this
    # thread sleeps natively and hands its rare log line to the loop.
    sleep = monkey.get_original("time", "sleep")
    on_loop = gevent.get_hub().loop.run_callback_threadsafe

    def loop() -> None:
        connection = sqlite3.connect(path, timeout=0, isolation_level=None)
        while True:
            sleep(every)
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:
                on_loop(log.warning, "SQLite checkpoint failed (%s); the bound still applies", exc)

    ThreadPool(1).spawn(loop)  # a pool of its own: the hub's serves DNS lookups
    return True
