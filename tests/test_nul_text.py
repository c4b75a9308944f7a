"""A NUL character anywhere a request carries text is the client's error (400), on both
databases: PostgreSQL's text cannot hold one, so it must never reach a query as a 503."""

from __future__ import annotations

import pytest

from tests.support.pages import csrf_token, login

GETS = [
    "/?with=a%00b",
    "/?q=x%00",
    "/api/users?q=a%00b",
    "/api/users/a%00b",
    "/api/attachments/ab%00c",
]


@pytest.mark.parametrize("path", GETS)
def test_a_nul_in_the_url_is_a_400(client, path):
    login(client, "alice")
    response = client.get(path)
    assert response.status_code == 400
    if path.startswith("/api/"):
        assert response.get_json()["error"] == "invalid_payload"
    assert "NUL" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/send", {"to": "someone", "content": "x\x00y"}),
        ("/settings", {"theme": "a\x00"}),
        ("/login", {"username": "a\x00bcd"}),
    ],
)
def test_a_nul_in_a_posted_form_is_a_400(client, path, form):
    login(client, "alice")
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post(path, data={**form, "csrf_token": token})
    assert response.status_code == 400
    assert client.get("/").status_code == 200  # the session is unharmed
