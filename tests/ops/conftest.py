"""Fixtures for the operations tests: a stoppable path to the shared PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.databases import PG_URL
from tests.support.faults import TcpProxy


@pytest.fixture
def pg_proxy() -> Iterator[TcpProxy]:
    """A stoppable path to the shared PostgreSQL (the service itself is never touched)."""
    host, port = PG_URL.split("@", 1)[1].split("/", 1)[0].split(":")
    proxy = TcpProxy(host, int(port))
    yield proxy
    proxy.close()
