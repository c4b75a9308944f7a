"""A database failing under an HTTP request: JSON 503 from the API, a page with a retry."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.support.pages import csrf_token, login

ROUTES = [
    ("GET", "/api/users?q=al", "api"),
    ("GET", "/api/users/0123456789abcdef", "api"),
    ("GET", "/?with=someone", "page"),
    ("POST", "/logout", "page"),
    ("POST", "/settings", "page"),
]


@pytest.fixture
def broken(monkeypatch):
    """From now on every statement fails as a database that went away does."""

    def fail(self, *args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    return lambda: monkeypatch.setattr(Session, "execute", fail)


@pytest.mark.parametrize(("method", "path", "kind"), ROUTES, ids=[r[1] for r in ROUTES])
def test_a_database_error_is_a_503_never_an_html_500(client, broken, method, path, kind):
    login(client, "alice")
    token = csrf_token(client.get("/").get_data(as_text=True))
    broken()
    if method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data={"csrf_token": token, "read_receipts": "y"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    if kind == "api":
        assert response.is_json
        body = response.get_json()
        assert body["error"] == "unavailable" and body["detail"]
    else:
        html = response.get_data(as_text=True)
        assert response.mimetype == "text/html"
        assert "The chat is unavailable right now" in html
        retry = path if method == "GET" else "/"
        assert f'href="{retry}"' in html


def test_the_login_page_needs_no_database(client, broken):
    broken()
    assert client.get("/").status_code == 200  # no session: nothing to look up
