"""Bad configuration stops gunicorn at start with one clear line, not at the first event."""

from __future__ import annotations

import pytest

from deploy.launch import free_port
from tests.support.commands import flask_cli, run_gunicorn
from tests.support.environments import sqlite_env
from tests.support.shared_redis import unique_prefix

pytestmark = pytest.mark.server

APP_FAILED = 4  # gunicorn's exit status when the application cannot load


def _the_line(output: str, needle: str) -> str:
    lines = [line for line in output.splitlines() if needle in line]
    assert len(lines) == 1, output
    assert "Traceback" not in output, output
    return lines[0]


@pytest.mark.parametrize(
    "url",
    ["postgresql://chat:hunter2@db:notaport/chat", "mysql://chat:hunter2@db/chat", "nonsense"],
)
def test_unusable_database_url_stops_the_server(url):
    code, output = run_gunicorn({"DATABASE_URL": url, "REDIS_URL": ""})
    assert code == APP_FAILED
    line = _the_line(output, "DATABASE_URL is not a usable database URL")
    assert "hunter2" not in output  # the password never reaches the output
    assert line.startswith("DATABASE_URL")


def test_unreachable_database_stops_the_server():
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/chat"
    code, output = run_gunicorn({"DATABASE_URL": url, "REDIS_URL": ""})
    assert code == APP_FAILED
    line = _the_line(output, "DATABASE_URL: cannot reach the database")
    assert "127.0.0.1" in line


def test_unreachable_redis_stops_the_server(tmp_path):
    env = sqlite_env(tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert flask_cli(env, "db", "upgrade").returncode == 0
    code, output = run_gunicorn({**env, "REDIS_PREFIX": unique_prefix()})
    assert code == APP_FAILED
    _the_line(output, "REDIS_URL: cannot reach Redis at 127.0.0.1")


def test_malformed_setting_stops_the_server(tmp_path):
    code, output = run_gunicorn(sqlite_env(tmp_path, SEND_RATE="fast"))
    assert code == APP_FAILED
    _the_line(output, "SEND_RATE must be a number, not 'fast'")


def test_unmigrated_database_stops_the_server_but_not_db_upgrade(tmp_path):
    env = sqlite_env(tmp_path)
    code, output = run_gunicorn(env)
    assert code == APP_FAILED
    _the_line(output, "has no schema: run `flask --app app db upgrade` first")

    # The migrations check never blocks the CLI, which is how the database gets fixed.
    upgrade = flask_cli(env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert flask_cli(env, "list-users").returncode == 0


def test_database_behind_the_code_stops_the_server(tmp_path):
    env = sqlite_env(tmp_path)
    assert flask_cli(env, "db", "upgrade", "94dee04656c7").returncode == 0
    code, output = run_gunicorn(env)
    assert code == APP_FAILED
    line = _the_line(output, "is at revision 94dee04656c7")
    assert "flask --app app db upgrade" in line


def test_startup_checks_can_be_turned_off(tmp_path, servers):
    # The escape hatch for an operator who must serve now (readiness still reports it).
    srv = servers(sqlite_env(tmp_path, STARTUP_CHECKS="0"), do_migrate=False)
    import requests

    ready = requests.get(srv.url + "/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["checks"]["migrations"]["status"] == "missing"


def test_missing_metrics_directory_stops_the_server(tmp_path):
    missing = tmp_path / "nowhere"
    code, output = run_gunicorn(sqlite_env(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(missing)))
    assert code == APP_FAILED
    _the_line(output, f"PROMETHEUS_MULTIPROC_DIR={missing} is not a writable directory")
