"""Startup checks: a configuration that cannot work stops the process with one clear line.

``check_config`` runs in ``create_app`` before the engine exists; ``init_app`` then checks,
when the app is about to serve, that Redis and the database answer and that the schema is
migrated. Each failure is a ``StartupError``, whose message gunicorn prints before it halts.
"""

from __future__ import annotations

import logging
import re

import click
from flask import Flask
from sqlalchemy.engine import make_url

from chat import redisclient
from chat.config import StartupError, metrics_networks
from chat.extensions import db
from chat.logs import fields
from chat.readiness import check_database, check_redis
from chat.services import services

log = logging.getLogger(__name__)


def check_config(config: dict) -> None:
    """Raises StartupError unless the database URL, Redis URL and settings parse."""
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
        try:
            redisclient.check_url(str(config["REDIS_URL"]))
        except (ValueError, TypeError) as exc:
            raise StartupError(f"REDIS_URL is not a Redis URL: {exc}") from None
    try:
        metrics_networks(str(config["METRICS_ALLOWED_NETWORKS"]))
    except ValueError as exc:
        raise StartupError(f"METRICS_ALLOWED_NETWORKS: {exc}") from None
    retention = config.get("RETENTION_DAYS")
    if retention is not None and (not str(retention).isdigit() or int(retention) < 1):
        raise StartupError(f"RETENTION_DAYS must be a whole number of days, not {retention!r}")


def _where(url: str) -> str:
    """host:port/db of a database URL, never its password."""
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        return u.database or ":memory:"
    return f"{u.host or 'localhost'}:{u.port or 'default port'}/{u.database or ''}"


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
    """Raises StartupError unless Redis answers and the database answers and is migrated."""
    with app.app_context():
        if app.config.get("REDIS_URL"):
            redis_state = check_redis(app)
            if redis_state["status"] != "ok":
                raise StartupError(
                    f"REDIS_URL: cannot reach Redis at "
                    f"{redisclient.where(str(app.config['REDIS_URL']))} "
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
        client = services(app).redis
        if client is not None:
            client.connection_pool.disconnect()


def init_app(app: Flask) -> None:
    """Runs ``check_services`` when the app is about to serve (STARTUP_CHECKS, README)."""
    if _serving(app):
        # A StartupError's message is the one line gunicorn prints before it halts.
        check_services(app)
