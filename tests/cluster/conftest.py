"""Fixtures for the cluster tests: shared PostgreSQL and Redis, each test under its own prefix."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
import redis

from tests.helpers import pg_database
from tests.servers import Server, migrate

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unique_prefix() -> str:
    """A Redis prefix nobody else uses: keys and the message-queue channel stay private."""
    return f"test:{uuid4().hex}:"


def forget(prefix: str, url: str = REDIS_URL) -> None:
    """Deletes the keys under ``prefix``, and only those: other suites share this Redis."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def name(stem: str) -> str:
    """A username no other test of this run has taken."""
    return f"{stem}_{uuid4().hex[:8]}"


def cluster_env(database_url: str, prefix: str, **extra: object) -> dict[str, str]:
    """The environment of every process of one test cluster."""
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": prefix,
        # Small presence timings so that a ghost is purged in a few seconds, not twenty.
        "PRESENCE_HEARTBEAT_S": "0.5",
        "PRESENCE_TTL_S": "2",
        "CONNECT_BURST": "10000",
        "SIGNUP_BURST": "10000",
        "RESUME_BURST": "10000",
        "SEND_BURST": "10000",
        "FETCH_BURST": "10000",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh Redis prefix, cleaned after the test."""
    prefix = unique_prefix()
    yield prefix
    forget(prefix)


@pytest.fixture(scope="session")
def cluster_db() -> str:
    """One migrated PostgreSQL database for every cluster test of this run."""
    url = pg_database("chat_cluster")
    migrate({"DATABASE_URL": url, "REDIS_URL": ""})
    return url


@dataclass
class Pair:
    """Two processes of one cluster and the Redis prefix they share."""

    one: Server
    two: Server
    prefix: str


@pytest.fixture(scope="package")
def pair(cluster_db, tmp_path_factory) -> Iterator[Pair]:
    """Two processes sharing PostgreSQL and Redis, kept for the tests that kill nothing."""
    prefix = unique_prefix()
    logs: Path = tmp_path_factory.mktemp("pair")
    env = cluster_env(cluster_db, prefix)
    servers = [Server(env, log_path=logs / f"{i}.log") for i in (1, 2)]
    try:
        for server in servers:
            server.start()
        yield Pair(servers[0], servers[1], prefix)
    finally:
        for server in servers:
            server.stop()
        forget(prefix)
