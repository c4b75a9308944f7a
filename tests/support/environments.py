"""Configurations of the apps and servers under test: in-process config, server environments."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from tests.support.shared_redis import REDIS_URL, unique_prefix

# In-process apps (create_app): no Redis, generous limits (the rate-limit tests lower them).
BASE_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret",
    "REDIS_URL": None,
    "CONNECT_BURST": 10_000,
    "SIGNUP_BURST": 10_000,
    "RESUME_BURST": 10_000,
    "SEND_BURST": 10_000,
    "FETCH_BURST": 10_000,
    "SEARCH_BURST": 10_000,
    "TYPING_BURST": 10_000,
    "EDIT_BURST": 10_000,
}

# Real servers get generous limits unless a test lowers them.
GENEROUS = {
    "REDIS_URL": "",
    "SEND_RATE": "1000",
    "SEND_BURST": "10000",
    "FETCH_RATE": "1000",
    "FETCH_BURST": "10000",
    "CONNECT_RATE": "1000",
    "CONNECT_BURST": "10000",
    "SIGNUP_RATE": "1000",
    "SIGNUP_BURST": "10000",
    "RESUME_BURST": "10000",
}


def sqlite_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a server on its own SQLite file and no Redis."""
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}", "REDIS_URL": "", **extra}


def redis_env(url: str) -> dict[str, str]:
    """REDIS_URL with a prefix of its own, so that tests sharing a Redis never hear each other."""
    return {"REDIS_URL": url, "REDIS_PREFIX": unique_prefix()}


def cluster_env(database_url: str, prefix: str, **extra: object) -> dict[str, str]:
    """The environment of every process of one test cluster."""
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": prefix,
        # A process is purged when its heartbeat is TTL late. A loaded CI machine can starve a
        # process for seconds, and a live process purged flaps all its users, so the tests
        # keep a wide margin; only those that kill -9 shorten it (KILL_TEST_PRESENCE).
        "PRESENCE_HEARTBEAT_S": "1",
        "PRESENCE_TTL_S": "10",
        "CONNECT_BURST": "10000",
        "SIGNUP_BURST": "10000",
        "RESUME_BURST": "10000",
        "SEND_BURST": "10000",
        "FETCH_BURST": "10000",
        "EDIT_BURST": "10000",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


# For the tests that kill -9 a process and wait for its ghosts to be purged: seconds, not
# the defaults' twenty. Nothing else runs on those servers, which keeps the margin enough.
KILL_TEST_PRESENCE = {"PRESENCE_HEARTBEAT_S": "0.5", "PRESENCE_TTL_S": "3"}


def name(stem: str) -> str:
    """A username no other test of this run has taken."""
    return f"{stem}_{uuid4().hex[:8]}"
