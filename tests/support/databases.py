"""Migrated databases for real servers, copied from a template migrated once per run.

``flask db upgrade`` in a subprocess takes seconds (an interpreter, the app, every
migration); copying a SQLite file or creating a PostgreSQL database from a template takes
milliseconds. The template itself is made by the real command (``deploy.launch.migrate``),
and tests/server keeps running that command for each server, as an operator would.
"""

from __future__ import annotations

import sqlite3
import tempfile
from functools import cache
from pathlib import Path

import psycopg

from deploy.databases import PG_URL, RUN, pg_database
from deploy.launch import migrate


@cache
def _sqlite_template() -> Path:
    path = Path(tempfile.mkdtemp(prefix="chat-template-")) / "chat.db"
    migrate({"DATABASE_URL": f"sqlite:///{path}", "REDIS_URL": ""})
    return path


@cache
def _pg_template() -> str:
    url = pg_database("chat_template")
    migrate({"DATABASE_URL": url, "REDIS_URL": ""})
    return url.rsplit("/", 1)[1]


def migrated(env: dict[str, str]) -> None:
    """Makes the database named by ``env["DATABASE_URL"]`` a new, empty, migrated one.

    A SQLite file gets the template's contents; a PostgreSQL database of this run (on
    PG_URL's server, perhaps reached through a proxy) is dropped and created again from the
    template.
    """
    url = env["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        # SQLite's backup, not a file copy: the template's last pages may still be in its WAL.
        with sqlite3.connect(_sqlite_template()) as src, sqlite3.connect(url[10:]) as dst:
            src.backup(dst)
        return
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    if not name.endswith(f"_{RUN}"):
        raise ValueError(f"not a database of this run: {url}")
    # Made on PG_URL's server, which a test may reach through a proxy of its own.
    template = _pg_template()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
