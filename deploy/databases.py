"""PostgreSQL databases for launched processes: created when missing, or fresh for one run.

`make cluster` creates its database once; the tests and the benchmark make throwaway ones
whose names carry this process's pid, so that several checkouts can share one PostgreSQL.
"""

from __future__ import annotations

import os

import psycopg

# The PostgreSQL that throwaway databases are made on (the suite's and the benchmark's).
PG_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
RUN = str(os.getpid())


def create_database(url: str) -> bool:
    """Creates the PostgreSQL database named by ``url`` unless it exists; True if it did."""
    if not url.startswith(("postgres://", "postgresql://")):
        return False
    base, name = url.rsplit("/", 1)
    name = name.split("?", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
        return True


def pg_database(name: str) -> str:
    """Creates (or empties) database ``name`` of this run on PG_URL and returns its URL."""
    name = f"{name}_{RUN}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_databases() -> None:
    """Drops the databases this run created with ``pg_database``."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        names = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"%\\_{RUN}",)
        ).fetchall()
        for (name,) in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
