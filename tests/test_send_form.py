"""Sending by the composer form, for the page without JavaScript (issue 14)."""

from __future__ import annotations

import re

from chat.extensions import socketio
from tests.support.inprocess import SocketClient, Tab
from tests.support.pages import csrf_token, login


def tab_of(app, client) -> Tab:
    """A socket of the browser whose cookies ``client`` holds."""
    return Tab(SocketClient(app, socketio, flask_test_client=client))


def composer_fields(html: str) -> dict[str, str]:
    form = re.search(r'<form id="composer".*?</form>', html, re.S).group(0)
    return dict(re.findall(r'name="(to|clientId)" type="hidden" value="([^"]*)"', form))


def test_a_posted_message_is_stored_once_relayed_to_both_rooms_and_shown(app, client):
    login(client, "alice")
    alice = tab_of(app, client)
    other = app.test_client()
    login(other, "bob")
    bob = tab_of(app, other)
    html = client.get(f"/?with={bob.user_id}").get_data(as_text=True)
    fields = composer_fields(html)
    assert fields["to"] == bob.user_id and fields["clientId"]
    alice.clear()
    bob.clear()
    data = {"csrf_token": csrf_token(html), "content": "hi\r\nthere", **fields}
    response = client.post("/send", data=data)
    assert response.status_code == 302
    relayed = bob.received("private message")
    assert [m["content"] for m in relayed] == ["hi\nthere"]
    assert response.location.endswith(f"?with={bob.user_id}#m-{relayed[0]['id']}")
    assert alice.received("private message") == relayed  # the sender's other tabs too
    # The same form posted again (a reload after a lost response) stores nothing new.
    assert client.post("/send", data=data).status_code == 302
    page = client.get(f"/?with={bob.user_id}").get_data(as_text=True)
    assert page.count("hi\nthere") == 1
    assert {m["id"] for m in bob.received("private message")} == {relayed[0]["id"]}


def test_bad_posts_are_refused_with_a_message_and_store_nothing(app, client):
    login(client, "alice")
    other = app.test_client()
    login(other, "bob")
    bob = tab_of(app, other)
    html = client.get(f"/?with={bob.user_id}").get_data(as_text=True)
    token = csrf_token(html)
    bob.clear()
    assert client.post("/send", data={"to": bob.user_id, "content": "x"}).status_code == 400
    for fields, error in [
        ({"to": bob.user_id, "content": "  \r\n "}, "The message is empty."),
        ({"to": bob.user_id, "content": "x" * 4001}, "over 4000 characters"),
        ({"to": "nobody", "content": "hello"}, "Message not sent"),
        ({"content": "hello"}, "Pick someone to write to."),
    ]:
        response = client.post("/send", data={"csrf_token": token, **fields})
        assert response.status_code == 302
        assert error in client.get(response.location).get_data(as_text=True)
    assert bob.received("private message") == []


def test_logged_out_post_goes_to_the_login_page(client):
    html = client.get("/").get_data(as_text=True)
    response = client.post("/send", data={"csrf_token": csrf_token(html), "to": "x"})
    assert response.status_code == 302 and response.location.endswith("/")
