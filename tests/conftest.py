"""Fixtures: an app on a fresh database per test (SQLite and PostgreSQL), clients, people."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event, text

from app import create_app
from chat.extensions import db, socketio
from chat.services import services
from deploy.databases import drop_pg_databases, pg_database
from deploy.launch import ROOT, Server
from tests.support.databases import migrated
from tests.support.environments import BASE_CONFIG
from tests.support.faults import RedisProcess
from tests.support.inprocess import SocketClient, Tab

TABLES = (
    "blocks",
    "attachment_chunks",
    "attachments",
    "read_state",
    "messages",
    "sessions",
    "users",
)


def _migrate(uri: str, instance: Path) -> None:
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file with every migration applied, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "chat.db"
    _migrate(f"sqlite:///{path}", path.parent)
    return path


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory) -> Iterator[str]:
    """A PostgreSQL database with every migration applied, emptied for each test."""
    url = pg_database("chat_test").replace("postgresql://", "postgresql+psycopg://", 1)
    _migrate(url, tmp_path_factory.mktemp("pg"))
    yield url


@pytest.fixture(scope="session", autouse=True)
def _drop_databases() -> Iterator[None]:
    yield
    drop_pg_databases()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_uri(request, tmp_path) -> str:
    """The URI of an empty, migrated database: SQLite and PostgreSQL in turn."""
    if request.param == "sqlite":
        path = tmp_path / "chat.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def make_app(database_uri) -> Iterator[Callable[..., Flask]]:
    """Builds apps on this test's database; extra config as keyword arguments."""
    apps: list[Flask] = []

    def make(**config) -> Flask:
        app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": database_uri, **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        services(app).presence.close()
        with app.app_context():
            if database_uri.startswith("postgresql"):
                db.session.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
                db.session.commit()
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app) -> Flask:
    """The app under test, on a fresh database."""
    return make_app()


@pytest.fixture
def client(app):
    """Flask's HTTP test client."""
    return app.test_client()


@pytest.fixture
def socket_client(app) -> Callable:
    """Opens a raw Socket.IO test client with ``auth``."""
    opened = []

    def open_client(auth=None, **kwargs):
        c = SocketClient(app, socketio, auth=auth, **kwargs)
        opened.append(c)
        return c

    yield open_client
    for c in opened:
        if c.is_connected():
            c.disconnect()


@pytest.fixture
def connect_as(socket_client) -> Callable[..., Tab]:
    """Connects a tab as ``username`` (new user) or with ``session_id`` (resume)."""

    def connect(username: str | None = None, session_id: str | None = None, **auth) -> Tab:
        if session_id is not None:
            auth["sessionID"] = session_id
        if username is not None:
            auth["username"] = username
        client = socket_client(auth=auth)
        assert client.is_connected(), f"handshake refused: {client.connect_error}"
        return Tab(client)

    return connect


@pytest.fixture
def servers(tmp_path) -> Iterator[Callable[..., Server]]:
    """Starts real gunicorn servers (migrating their database first); stops them after."""
    started: list[Server] = []

    def start(env: dict[str, str], name: str = "server", do_migrate: bool = True) -> Server:
        if do_migrate:
            migrated(env)
        srv = Server(env, log_path=tmp_path / f"{name}.log")
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    """A redis-server only this test uses (the shared one is never stopped), killed after."""
    process = RedisProcess().start()
    yield process
    process.kill()


@pytest.fixture
def count_statements(app):
    """Counts the SQL statements run inside the ``with`` block it returns."""

    class Counter:
        def __init__(self):
            self.statements: list[str] = []

        def __enter__(self):
            event.listen(db.engine, "before_cursor_execute", self._record)
            return self

        def __exit__(self, *exc):
            event.remove(db.engine, "before_cursor_execute", self._record)

        def _record(self, _conn, _cursor, statement, *_args):
            self.statements.append(statement)

    return Counter
