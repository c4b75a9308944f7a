"""A reconnecting python-socketio client that resumes its session and retries acked sends."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import socketio


class Peer:
    """One user's tab on a real server: reconnects with its sessionID, records every event."""

    def __init__(self, url: str, transports: list[str] | None = None, **auth: Any) -> None:
        self.url = url
        self.auth = auth
        self.session_id: str | None = auth.get("sessionID")
        self.user_id: str | None = None
        self.events: list[tuple[str, Any]] = []
        self.cond = threading.Condition()
        self.online = threading.Event()
        self.connects = 0
        self.sio = socketio.Client(
            reconnection=True,
            reconnection_delay=0.1,
            reconnection_delay_max=0.5,
            randomization_factor=0,
        )
        self.sio.on("*", self._record)
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("session", self._on_session)
        # A callable auth is asked again on every reconnection: resume, never log in twice.
        self.sio.connect(url, auth=self._auth, transports=transports or ["websocket"])
        self.wait_for("users")

    def _auth(self) -> dict[str, Any]:
        if self.session_id:
            return {"sessionID": self.session_id}
        return self.auth

    def _record(self, event: str, *args: Any) -> None:
        with self.cond:
            self.events.append((event, args[0] if args else None))
            self.cond.notify_all()

    def _on_session(self, data: dict[str, str]) -> None:
        self.session_id = data["sessionID"]
        self.user_id = data["userID"]
        self._record("session", data)

    def _on_connect(self) -> None:
        self.connects += 1
        self.online.set()

    def _on_disconnect(self, *_reason: Any) -> None:
        self.online.clear()

    def wait_for(
        self, event: str, where: Callable[[Any], bool] = lambda _: True, timeout: float = 10
    ) -> Any:
        """Blocks until an ``event`` matching ``where`` has arrived; returns its payload."""

        def match():
            return next((p for e, p in self.events if e == event and where(p)), None)

        with self.cond:
            assert self.cond.wait_for(lambda: match() is not None, timeout), (
                f"no {event!r} within {timeout}s; got {[e for e, _ in self.events][-20:]}"
            )
            return match()

    def received(self, event: str) -> list[Any]:
        """Payloads of ``event`` received so far."""
        with self.cond:
            return [p for e, p in self.events if e == event]

    def call(self, event: str, data: Any, timeout: float = 10) -> Any:
        """One emit with an ack, no retry."""
        return self.sio.call(event, data, timeout=timeout)

    def send_until_acked(
        self, to: str, content: str, client_id: str | None = None, deadline_s: float = 60
    ) -> dict[str, Any]:
        """Sends with a clientId and re-sends the same one after any failure, until acked ok.

        This is what a careful client does around a server crash: the first attempt may have
        been stored with its ack lost, so only the clientId keeps the retry from duplicating.
        """
        client_id = client_id or uuid.uuid4().hex
        payload = {"content": content, "to": to, "clientId": client_id}
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if not self.online.wait(timeout=max(0.0, deadline - time.monotonic())):
                break
            try:
                ack = self.sio.call("private message", payload, timeout=3)
            except socketio.exceptions.SocketIOError:
                continue  # disconnected or no ack in time: the same clientId goes again
            if ack.get("ok"):
                return ack
            if ack.get("error") not in ("unavailable", "rate_limited"):
                raise AssertionError(f"refused: {ack}")
        raise AssertionError(f"no ok ack for {client_id} within {deadline_s}s")

    def history(self, peer_id: str, page: int = 200) -> list[dict[str, Any]]:
        """The whole conversation with ``peer_id``, oldest first, paged back from the newest."""
        messages: list[dict[str, Any]] = []
        before = None
        while True:
            req: dict[str, Any] = {"with": peer_id, "limit": page}
            if before is not None:
                req["before"] = before
            ack = self.call("fetch messages", req)
            assert ack["ok"], ack
            messages = ack["messages"] + messages
            if not ack["hasMore"] or not ack["messages"]:
                return messages
            before = ack["messages"][0]["id"]

    def close(self) -> None:
        """Disconnects for good (no reconnection)."""
        self.sio.disconnect()
