"""The HTTP pages through Flask's test client: the login form and its CSRF token."""

from __future__ import annotations

import re
from typing import Any


def first(client: Any, event: str) -> Any:
    """The first argument of the first ``event`` a Socket.IO test client received."""
    return next(p for p in client.get_received() if p["name"] == event)["args"][0]


def csrf_token(html: str) -> str:
    """The CSRF token of the form in ``html``."""
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def login(client: Any, username: str, password: str = "") -> Any:
    """Logs in through the form, as a browser would; returns the response."""
    page = client.get("/").get_data(as_text=True)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(page)},
    )
