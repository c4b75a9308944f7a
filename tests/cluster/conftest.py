"""Fixtures for the cluster tests: shared PostgreSQL and Redis, each test under its own prefix."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.databases import pg_database
from deploy.launch import Server
from tests.support.databases import migrated
from tests.support.environments import cluster_env
from tests.support.shared_redis import forget, unique_prefix


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
    migrated({"DATABASE_URL": url, "REDIS_URL": ""})
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
