"""Finding people outside the users list: GET /api/users?q=, GET /api/users/<id>, ?with=."""

from __future__ import annotations

import json
import re

import pytest

from chat.extensions import socketio
from tests.support.inprocess import SocketClient
from tests.support.pages import first, login


def logged_in(app, name):
    client = app.test_client()
    login(client, name)
    tab = SocketClient(app, socketio, flask_test_client=client)
    return client, first(tab, "session")["userID"], tab


def test_search_needs_a_session(client):
    response = client.get("/api/users?q=a")
    assert response.status_code == 401
    assert response.get_json() == {"error": "not authenticated"}
    assert client.get("/api/users/abc").status_code == 401


def test_search_is_a_case_insensitive_name_prefix(app):
    client, alice_id, _tab = logged_in(app, "alice")
    for name in ("Bobby", "bob.smith", "carol", "rebob"):
        login(app.test_client(), name)
    body = client.get("/api/users?q=BOB").get_json()
    assert [u["username"] for u in body["users"]] == ["bob.smith", "Bobby"]
    assert set(body["users"][0]) == {"userID", "username", "connected", "lastSeen"}
    assert body["users"][0]["connected"] is False
    me = client.get("/api/users?q=ali").get_json()["users"]
    assert me == [{"userID": alice_id, "username": "alice", "connected": True, "lastSeen": None}]


@pytest.mark.parametrize("query", ["", "   ", "%", "_", "zzz"])
def test_search_without_matches_or_with_wildcards_finds_nobody(app, query):
    client, _, _ = logged_in(app, "alice")
    login(app.test_client(), "bob_x")
    assert client.get("/api/users", query_string={"q": query}).get_json() == {"users": []}


def test_search_underscore_is_literal(app):
    client, _, _ = logged_in(app, "alice")
    login(app.test_client(), "bob_x")
    login(app.test_client(), "bobax")
    found = client.get("/api/users?q=bob_").get_json()["users"]
    assert [u["username"] for u in found] == ["bob_x"]


def test_search_returns_at_most_twenty(app):
    client, _, _ = logged_in(app, "alice")
    for i in range(23):
        login(app.test_client(), f"user{i:02d}")
    found = client.get("/api/users?q=user").get_json()["users"]
    assert [u["username"] for u in found] == [f"user{i:02d}" for i in range(20)]


def test_lookup_by_user_id(app):
    client, _, _ = logged_in(app, "alice")
    _, bob_id, _ = logged_in(app, "bob")
    assert client.get(f"/api/users/{bob_id}").get_json() == {
        "user": {"userID": bob_id, "username": "bob", "connected": True, "lastSeen": None}
    }
    assert client.get("/api/users/nobody").status_code == 404


def test_api_answers_are_not_cached(app):
    client, _, _ = logged_in(app, "alice")
    assert client.get("/api/users?q=a").headers["Cache-Control"] == "no-store"
    assert client.get("/").headers["Cache-Control"] == "no-store"


def test_page_opens_a_conversation_outside_the_capped_list(make_app):
    app = make_app(USERS_LIST_LIMIT=2)
    client, _, _ = logged_in(app, "alice")
    login(app.test_client(), "bob")
    _, carol_id, _ = logged_in(app, "carol")
    _, _, zed_tab = logged_in(app, "zed")
    zed_tab.emit("private message", {"content": "hi from zed", "to": first_id(client)})
    # The cap of 2 holds alice and her one conversation (zed): carol is outside it.
    html = client.get(f"/?with={carol_id}").get_data(as_text=True)
    assert re.search(r'<h2 id="conversation-heading">carol</h2>', html)
    state = json.loads(re.search(r'id="initial-state">(.*?)</script>', html).group(1))
    assert state["selected"] == carol_id
    assert [u["username"] for u in state["users"]] == ["alice", "zed", "carol"]
    assert state["users"][1]["unread"] == 1


def test_page_search_works_without_script(app):
    client, _, _ = logged_in(app, "alice")
    _, bob_id, _ = logged_in(app, "bobby")
    html = client.get("/?q=BOB").get_data(as_text=True)
    assert "1 person found" in html
    assert f'href="?with={bob_id}"' in html


def first_id(client) -> str:
    html = client.get("/").get_data(as_text=True)
    return re.search(r'data-user-id="([0-9a-f]+)"', html).group(1)
