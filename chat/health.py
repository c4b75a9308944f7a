"""Operations endpoints and startup checks: readiness, metrics, draining.

``GET /readyz`` says whether this process should get traffic: database reachable, Redis
reachable when configured, schema migrated, not draining. Start-up runs the same checks
and refuses to serve (one clear line, non-zero exit) when the configuration cannot work.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from time import perf_counter
from typing import Any

import click
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, Response, abort, current_app, request
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from chat import metrics
from chat.config import StartupError
from chat.extensions import db
from chat.logs import fields

log = logging.getLogger(__name__)
bp = Blueprint("ops", __name__)

DRAINING = "chat.draining"


def set_draining(app: Flask, draining: bool = True) -> None:
    """Called by shutdown code: from now on /readyz answers 503 so the balancer moves away."""
    app.extensions[DRAINING] = draining


# --- checks ----------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    # SQLAlchemy and psycopg messages span lines (SQL, a docs link); the first says it.
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__


def _where(url: str) -> str:
    """host:port/db of a URL, never its password."""
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        return u.database or ":memory:"
    return f"{u.host or 'localhost'}:{u.port or 'default port'}/{u.database or ''}"


def _scripts(app: Flask) -> ScriptDirectory:
    # Read once per app: the migration files do not change under a running process.
    scripts = app.extensions.get("chat.migrations")
    if scripts is None:
        directory = Path(app.extensions["migrate"].directory)
        if not directory.is_absolute():
            directory = Path(app.root_path) / directory
        scripts = app.extensions["chat.migrations"] = ScriptDirectory(str(directory))
    return scripts


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
            "_detail": _one_line(exc),
        }
        return failure, {"status": "unknown"}
    return database, migration_state(app, current)


def _redis_client(app: Flask):
    client = app.extensions.get("chat.health.redis")
    if client is None:
        import redis

        # Short timeouts: a probe must answer well before the balancer gives up on it.
        client = app.extensions["chat.health.redis"] = redis.Redis.from_url(
            app.config["REDIS_URL"], socket_timeout=1, socket_connect_timeout=1
        )
    return client


def check_redis(app: Flask) -> dict[str, Any]:
    """The ``redis`` check: a PING, or ``disabled`` without REDIS_URL."""
    if not app.config.get("REDIS_URL"):
        return {"status": "disabled"}
    import redis

    started = perf_counter()
    try:
        _redis_client(app).ping()
    except redis.RedisError as exc:
        metrics.redis_error("readiness")
        return {
            "status": "error",
            "error": type(exc).__name__,
            "latencyMs": _ms(started),
            "_detail": _one_line(exc),
        }
    return {"status": "ok", "latencyMs": _ms(started)}


def _ms(started: float) -> float:
    return round((perf_counter() - started) * 1000, 2)


def readiness(app: Flask) -> tuple[bool, dict[str, Any]]:
    """Runs every check; (ready, body). Details (hosts, messages) are logged, not returned."""
    database, migrations = check_database(app)
    checks = {"database": database, "migrations": migrations, "redis": check_redis(app)}
    failing = [name for name, c in checks.items() if c["status"] not in ("ok", "disabled", "ahead")]
    draining = bool(app.extensions.get(DRAINING))
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


# --- endpoints -------------------------------------------------------------------------


@bp.get("/readyz")
def readyz():
    """Readiness for the balancer: 200 with every check ok, else 503; JSON either way."""
    ready, body = readiness(current_app)
    return body, 200 if ready else 503


@bp.get("/metrics")
def metrics_view():
    """Prometheus exposition; only for allowed networks or the bearer token (README)."""
    if not metrics.allowed(request, current_app.config):
        abort(403)
    body, content_type = metrics.render(current_app, request.headers.get("Accept", ""))
    return Response(body, content_type=content_type)


# --- startup ---------------------------------------------------------------------------


def check_config(config: dict) -> None:
    """Called by ``create_app`` before the engine exists: URLs and settings parse."""
    uri = str(config["SQLALCHEMY_DATABASE_URI"])
    try:
        make_url(uri).get_dialect().import_dbapi()  # an unknown or missing driver too
    except Exception as exc:
        # The message may quote the URL: never its credentials.
        why = re.sub(r"//[^/@\s]*@", "//***@", f"{type(exc).__name__}: {exc}")
        raise StartupError(
            f"DATABASE_URL is not a usable database URL ({why}); "
            "expected e.g. postgresql://user@host/db or sqlite:////path/chat.db"
        ) from None
    if config.get("REDIS_URL"):
        import redis

        try:
            redis.ConnectionPool.from_url(str(config["REDIS_URL"]))
        except (ValueError, TypeError) as exc:
            raise StartupError(f"REDIS_URL is not a Redis URL: {exc}") from None
    try:
        metrics._networks(str(config["METRICS_ALLOWED_NETWORKS"]))
    except ValueError as exc:
        raise StartupError(f"METRICS_ALLOWED_NETWORKS: {exc}") from None
    retention = config.get("RETENTION_DAYS")
    if retention is not None and (not str(retention).isdigit() or int(retention) < 1):
        raise StartupError(f"RETENTION_DAYS must be a whole number of days, not {retention!r}")


def _serving(app: Flask) -> bool:
    mode = str(app.config["STARTUP_CHECKS"]).lower()
    if mode in ("0", "false", "no", "off"):
        return False
    if mode in ("1", "true", "yes", "on"):
        return True
    # auto: the test suite builds apps on databases it migrates itself, and every Flask
    # CLI command (``db upgrade`` first of all) must work on an un-migrated database.
    return not app.testing and click.get_current_context(silent=True) is None


def check_services(app: Flask) -> None:
    """Called at start when serving: Redis answers, the database answers and is migrated."""
    with app.app_context():
        if app.config.get("REDIS_URL"):
            redis_state = check_redis(app)
            if redis_state["status"] != "ok":
                raise StartupError(
                    f"REDIS_URL: cannot reach Redis at {_redis_where(app)} "
                    f"({redis_state['_detail']})"
                )
        database, migrations = check_database(app)
        where = _where(str(app.config["SQLALCHEMY_DATABASE_URI"]))
        if database["status"] != "ok":
            raise StartupError(
                f"DATABASE_URL: cannot reach the database at {where} ({database['_detail']})"
            )
        hint = "run `flask --app app db upgrade` first"
        if migrations["status"] == "missing":
            raise StartupError(f"database at {where} has no schema: {hint}")
        if migrations["status"] == "behind":
            raise StartupError(
                f"database at {where} is at revision {','.join(migrations['current'])}, "
                f"this code needs {','.join(migrations['head'])}: {hint}"
            )
        if migrations["status"] == "ahead":
            log.warning(
                "database schema is newer than this code",
                extra=fields("startup", None, "schema_ahead"),
            )
        # Start serving with no connection opened here: under `gunicorn --preload` this runs
        # before the fork, and a pooled socket shared by two processes corrupts both.
        db.session.remove()
        db.engine.dispose()
        client = app.extensions.pop("chat.health.redis", None)
        if client is not None:
            client.close()


def _redis_where(app: Flask) -> str:
    import redis

    kw = redis.connection.parse_url(str(app.config["REDIS_URL"]))
    if "path" in kw:
        return str(kw["path"])
    return f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


def init_app(app: Flask) -> None:
    """Called last by ``create_app``: the endpoints, then the startup checks when serving."""
    app.register_blueprint(bp)
    app.extensions.setdefault(DRAINING, False)
    if _serving(app):
        # A StartupError's message is the one line gunicorn prints before it halts.
        check_services(app)
