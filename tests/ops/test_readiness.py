"""GET /healthz and /readyz: liveness, and readiness from database, migrations, Redis, draining."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from flask_migrate import upgrade
from sqlalchemy import text

from chat.extensions import db
from chat.services import services
from deploy.databases import pg_database
from tests.support.environments import BASE_CONFIG, sqlite_env
from tests.support.shared_redis import unique_prefix

MIGRATIONS = str(Path(__file__).resolve().parents[2] / "migrations")
INITIAL = "94dee04656c7"


def test_liveness_answers(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_ready_on_a_migrated_database(client):
    resp = client.get("/readyz")
    body = resp.get_json()
    assert resp.status_code == 200 and body["status"] == "ready"
    checks = body["checks"]
    assert checks["database"]["status"] == "ok"
    assert 0 <= checks["database"]["latencyMs"] < 5000
    assert checks["migrations"]["status"] == "ok"
    assert checks["migrations"]["current"] == checks["migrations"]["head"]
    assert checks["redis"] == {"status": "disabled"}


def test_a_draining_process_is_alive_but_not_ready(app, client):
    services(app).lifecycle.draining = True
    resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.get_json()["status"] == "draining"
    assert client.get("/healthz").status_code == 200
    services(app).lifecycle.draining = False
    assert client.get("/readyz").status_code == 200


def _sqlite_app(make_app, tmp_path: Path, revision: str | None):
    from app import create_app

    uri = f"sqlite:///{tmp_path / 'own.db'}"
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": uri})
    if revision is not None:
        with app.app_context():
            upgrade(directory=MIGRATIONS, revision=revision)
    return app


def test_a_database_behind_the_code_is_not_ready(make_app, tmp_path):
    app = _sqlite_app(make_app, tmp_path, INITIAL)
    resp = app.test_client().get("/readyz")
    migrations = resp.get_json()["checks"]["migrations"]
    assert resp.status_code == 503
    assert migrations["status"] == "behind" and migrations["current"] == [INITIAL]
    with app.app_context():
        db.engine.dispose()


def test_an_unmigrated_database_is_not_ready(make_app, tmp_path):
    app = _sqlite_app(make_app, tmp_path, None)
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["database"]["status"] == "ok"
    assert resp.get_json()["checks"]["migrations"]["status"] == "missing"
    with app.app_context():
        db.engine.dispose()


def test_a_database_ahead_of_the_code_stays_ready(make_app, tmp_path):
    # A rolling upgrade migrates first: processes still on the old code must keep serving.
    app = _sqlite_app(make_app, tmp_path, "head")
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = 'fffffffffff0'"))
        db.session.commit()
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json()["checks"]["migrations"]["status"] == "ahead"
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_an_unreachable_database_is_not_ready_and_says_little(make_app, tmp_path):
    from app import create_app
    from deploy.launch import free_port

    uri = f"postgresql+psycopg://postgres:hunter2@127.0.0.1:{free_port()}/chat"
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": uri})
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    database = resp.get_json()["checks"]["database"]
    assert database["status"] == "error" and database["error"] == "OperationalError"
    # Hosts and messages go to the log, not to whoever can reach the probe.
    assert "127.0.0.1" not in resp.get_data(as_text=True)
    assert "hunter2" not in resp.get_data(as_text=True)


# --- real processes, a dependency stopped ----------------------------------------------


def _ready(url: str) -> tuple[int, dict]:
    resp = requests.get(url + "/readyz", timeout=10)
    return resp.status_code, resp.json()


@pytest.mark.server
def test_readiness_follows_redis_stopping_and_coming_back(tmp_path, servers, private_redis):
    env = sqlite_env(tmp_path, REDIS_URL=private_redis.url, REDIS_PREFIX=unique_prefix())
    srv = servers(env)
    code, body = _ready(srv.url)
    assert code == 200 and body["checks"]["redis"]["status"] == "ok"

    private_redis.kill()
    code, body = _ready(srv.url)
    assert code == 503 and body["status"] == "unavailable"
    assert body["checks"]["redis"]["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"
    assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200

    private_redis.start()
    code, body = _ready(srv.url)
    assert code == 200 and body["checks"]["redis"]["status"] == "ok"

    log = (tmp_path / "server.log").read_text()
    assert "event=readiness reason=redis" in log  # the change is logged once, with its cause


@pytest.mark.server
def test_readiness_follows_the_database_stopping_and_coming_back(tmp_path, servers, pg_proxy):
    real = pg_database("ops_ready")
    name = real.rsplit("/", 1)[1]
    env = {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg_proxy.port}/{name}"}
    srv = servers({**env, "REDIS_URL": ""})
    code, body = _ready(srv.url)
    assert code == 200 and body["checks"]["database"]["status"] == "ok"

    pg_proxy.cut()
    code, body = _ready(srv.url)
    assert code == 503
    assert body["checks"]["database"]["status"] == "error"
    assert body["checks"]["migrations"]["status"] == "unknown"

    pg_proxy.restore()
    code, body = _ready(srv.url)
    assert code == 200 and body["checks"]["migrations"]["status"] == "ok"
