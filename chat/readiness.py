"""Readiness: whether this process should get traffic, from the checks of what it depends on.

Database reachable, schema migrated (or ahead: a newer release migrated first), Redis
reachable when configured, and not draining. Details (hosts, driver messages) are logged
when the answer changes, never returned.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from time import perf_counter
from typing import Any

import redis
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from chat import metrics
from chat.extensions import db
from chat.logs import fields
from chat.services import services

log = logging.getLogger(__name__)


def one_line(exc: BaseException) -> str:
    """The first line of an error's message, with its class: enough for a log or an operator."""
    # SQLAlchemy and psycopg messages span lines (SQL, a docs link); the first says it.
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__


def _scripts(app: Flask) -> ScriptDirectory:
    directory = Path(app.extensions["migrate"].directory)
    if not directory.is_absolute():
        directory = Path(app.root_path) / directory
    return _read_scripts(str(directory))


@functools.cache
def _read_scripts(directory: str) -> ScriptDirectory:
    # Read once: the migration files do not change under a running process.
    return ScriptDirectory(directory)


def _known(app: Flask, revision: str) -> bool:
    try:
        return _scripts(app).get_revision(revision) is not None
    except Exception:  # alembic raises for an unknown revision id
        return False


def migration_state(app: Flask, current: tuple[str, ...]) -> dict[str, Any]:
    """Compares the database's alembic revisions with this code's heads.

    ``ok``: at head. ``ahead``: the database has a revision this code does not know (a newer
    release migrated first, as a rolling upgrade does): still ready, since migrations are
    additive. ``behind``/``missing``: this code needs ``flask db upgrade`` first.
    """
    heads = tuple(sorted(_scripts(app).get_heads()))
    out: dict[str, Any] = {"current": list(current), "head": list(heads)}
    if not current:
        out["status"] = "missing"
    elif tuple(sorted(current)) == heads:
        out["status"] = "ok"
    elif any(not _known(app, rev) for rev in current):
        out["status"] = "ahead"
    else:
        out["status"] = "behind"
    return out


def check_database(app: Flask) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``database`` and ``migrations`` checks: one connection, two short queries."""
    started = perf_counter()
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            database = {"status": "ok", "latencyMs": _ms(started)}
            try:
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                current = tuple(rows)
            except SQLAlchemyError:
                current = ()  # no version table: never migrated
    except SQLAlchemyError as exc:
        failure = {
            "status": "error",
            "error": type(exc).__name__,
            "latencyMs": _ms(started),
            "_detail": one_line(exc),
        }
        return failure, {"status": "unknown"}
    return database, migration_state(app, current)


def check_redis(app: Flask) -> dict[str, Any]:
    """The ``redis`` check: a PING on the shared client, or ``disabled`` without REDIS_URL."""
    client = services(app).redis
    if client is None:
        return {"status": "disabled"}
    started = perf_counter()
    try:
        client.ping()
    except redis.RedisError as exc:
        metrics.redis_error("readiness")
        return {
            "status": "error",
            "error": type(exc).__name__,
            "latencyMs": _ms(started),
            "_detail": one_line(exc),
        }
    return {"status": "ok", "latencyMs": _ms(started)}


def _ms(started: float) -> float:
    return round((perf_counter() - started) * 1000, 2)


def readiness(app: Flask) -> tuple[bool, dict[str, Any]]:
    """Runs every check; (ready, body). Details (hosts, messages) are logged, not returned."""
    database, migrations = check_database(app)
    checks = {"database": database, "migrations": migrations, "redis": check_redis(app)}
    failing = [name for name, c in checks.items() if c["status"] not in ("ok", "disabled", "ahead")]
    draining = services(app).lifecycle.draining
    ready = not failing and not draining
    status = "draining" if draining else ("ready" if ready else "unavailable")
    _log_transition(app, status, failing, checks)
    for c in checks.values():
        c.pop("_detail", None)
    return ready, {"status": status, "pid": os.getpid(), "checks": checks}


def _log_transition(app: Flask, status: str, failing: list[str], checks: dict) -> None:
    # Probes come every few seconds: log when the answer changes, not on every probe.
    if app.extensions.get("chat.ready_status") == status:
        return
    app.extensions["chat.ready_status"] = status
    reason = ",".join(failing) or status
    detail = "; ".join(f"{n}: {checks[n].get('_detail') or checks[n]['status']}" for n in failing)
    level = logging.INFO if status == "ready" else logging.WARNING
    log.log(
        level, "readiness changed", extra=fields("readiness", None, reason, detail=detail or None)
    )
