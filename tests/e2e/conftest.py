"""Browser fixtures: a real gunicorn server per module, Debian's Chromium, one context a person."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from deploy.launch import Server
from tests.support.browser import ARGS, CHROMIUM, HISTORY_PAGE, Person, shot
from tests.support.databases import migrated


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the session; each person gets a fresh context."""
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(request, tmp_path_factory) -> Iterator[Server]:
    """A gunicorn (gevent-websocket worker) process on a fresh SQLite database.

    A test module may set ``SERVER_ENV`` to change the configuration.
    """
    db = tmp_path_factory.mktemp("e2e") / "chat.db"
    env = {
        "DATABASE_URL": f"sqlite:///{db}",
        "REDIS_URL": "",
        "HISTORY_PAGE": str(HISTORY_PAGE),
        # Every person of every test connects from 127.0.0.1.
        "CONNECT_BURST": "100000",
        "SIGNUP_BURST": "100000",
        "RESUME_BURST": "100000",
        "SEND_BURST": "100000",
        "FETCH_BURST": "100000",
        **getattr(request.module, "SERVER_ENV", {}),
    }
    migrated(env)
    srv = Server(env).start()
    srv.db_path = db
    yield srv
    srv.stop()


@pytest.fixture
def people(browser, server, request) -> Iterator[Callable[..., Person]]:
    """Makes people (independent contexts); screenshots their tabs when the test ends."""
    made: list[Person] = []

    def make(label: str, **context_options) -> Person:
        context = browser.new_context(**context_options)
        person = Person(context, server.url, label)
        made.append(person)
        return person

    yield make
    test = re.sub(r"[^\w-]+", "_", request.node.name)
    for person in made:
        for i, page in enumerate(person.context.pages):
            if not page.is_closed() and page.url.startswith("http"):
                suffix = f"-tab{i + 1}" if i else ""
                # A crashed page must not hide the test's own failure.
                with contextlib.suppress(Exception):
                    shot(page, f"{test}-{person.label}{suffix}")
        person.context.close()
    for person in made:
        assert person.errors == [], f"errors in {person.label}'s page: {person.errors}"
