"""The benchmark's ceiling: a bare python-socketio relay, nothing stored, no Flask.

    gunicorn -k chat.worker.Worker -w 1 'bench.ceiling:app'

The same gunicorn worker as the chat, python-socketio as it comes (the standard library's
``json``, the walk for binary data), and only what bench/load.js needs: a ``session`` and a
one-entry ``users`` on connect, and ``private message`` relayed and acknowledged with the
same fan-out and wire shape as the chat's (PROTOCOL.md A3/B2). What the chat costs above
this is its own work (docs/performance.md).
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import socketio

sio = socketio.Server(async_mode="gevent", async_handlers=False)
_ids = itertools.count(1)


@sio.on("connect")
def on_connect(sid, environ, auth):
    """Any client: a new user named by its ``auth.username``, announced to nobody."""
    user_id = uuid.uuid4().hex
    username = (auth or {}).get("username") or user_id
    sio.save_session(sid, {"userID": user_id})
    sio.enter_room(sid, user_id)
    sio.emit("session", {"sessionID": uuid.uuid4().hex, "userID": user_id}, to=sid)
    me = {"userID": user_id, "username": username, "connected": True, "messages": []}
    sio.emit("users", [me], to=sid)


@sio.on("private message")
def on_private_message(sid, msg):
    """Relayed to both users' rooms but the sending socket, acknowledged with the message."""
    me = sio.get_session(sid)["userID"]
    wire = {
        "id": next(_ids),
        "content": msg["content"],
        "from": me,
        "to": msg["to"],
        "createdAt": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "clientId": msg.get("clientId"),
    }
    sio.emit("private message", wire, to=[msg["to"], me], skip_sid=sid)
    return {"ok": True, "message": wire}


def _health(environ, start_response):
    # bench/run.py waits for /healthz to answer before it starts a scenario.
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


app = socketio.WSGIApp(sio, _health)
