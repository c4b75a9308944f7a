"""GET /api/users: finding people by name beyond the bounded users list (docs/performance.md)."""

from __future__ import annotations

import re

import pytest

from tests.support.inprocess import open_tab


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def login(client, username):
    page = client.get("/").get_data(as_text=True)
    response = client.post("/login", data={"username": username, "csrf_token": csrf_token(page)})
    assert response.status_code == 302


def search(client, q):
    response = client.get("/api/users", query_string={"q": q})
    assert response.status_code == 200
    return response.get_json()["users"]


def test_search_needs_a_logged_in_session(client):
    response = client.get("/api/users", query_string={"q": "a"})
    assert response.status_code == 401
    assert response.get_json() == {"error": "not authenticated"}


def test_search_is_a_case_insensitive_name_prefix_by_name(app, client):
    for name in ("Bobby", "bob", "BOBCAT", "rob", "alibob"):
        open_tab(app, username=name).close()
    login(client, "searcher")
    found = search(client, "BoB")
    assert [u["username"] for u in found] == ["bob", "Bobby", "BOBCAT"]
    assert set(found[0]) == {"userID", "username", "connected", "lastSeen"}


def test_search_reports_presence_and_last_seen(app, client):
    online = open_tab(app, username="onl_ine")
    open_tab(app, username="onl_gone").close()
    login(client, "searcher")
    found = {u["username"]: u for u in search(client, "onl_")}
    assert found["onl_ine"] == {
        "userID": online.user_id,
        "username": "onl_ine",
        "connected": True,
        "lastSeen": None,
    }
    assert found["onl_gone"]["connected"] is False
    assert found["onl_gone"]["lastSeen"].endswith("Z")


@pytest.mark.parametrize(("q", "expected"), [("a_", ["a_b"]), ("a%", []), ("a.", ["a.c"])])
def test_search_treats_wildcards_as_letters(app, client, q, expected):
    for name in ("a_b", "axb", "a.c", "abc"):
        open_tab(app, username=name).close()
    login(client, "searcher")
    assert [u["username"] for u in search(client, q)] == expected


def test_search_returns_at_most_twenty(app, client):
    for i in range(25):
        open_tab(app, username=f"many{i:02d}").close()
    login(client, "searcher")
    assert [u["username"] for u in search(client, "MANY")] == [f"many{i:02d}" for i in range(20)]


def test_search_without_q_or_with_too_long_a_q_finds_nothing(app, client):
    login(client, "searcher")
    assert search(client, "") == []
    assert search(client, "x" * 40) == []


def test_search_is_rate_limited(make_app):
    app = make_app(FETCH_BURST=2, FETCH_RATE=0.001)
    client = app.test_client()
    login(client, "searcher")
    assert client.get("/api/users?q=s").status_code == 200
    assert client.get("/api/users?q=s").status_code == 200
    limited = client.get("/api/users?q=s")
    assert limited.status_code == 429
    assert limited.get_json()["error"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
