"""Structured logs: one line per connection, disconnection, refusal, error ack and exception."""

from __future__ import annotations

import json
import logging
import sys
from uuid import uuid4

import pytest
import requests
import socketio

from chat import logs
from chat.extensions import socketio as server
from chat.services import services
from tests.support.environments import sqlite_env
from tests.support.inprocess import SocketClient, open_tab
from tests.support.peer import Peer
from tests.support.shared_redis import unique_prefix


def _record(**extra) -> logging.LogRecord:
    record = logging.LogRecord("chat.events", logging.INFO, __file__, 1, "connected", (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_pid_user_reason_and_only_whitelisted_fields():
    record = _record(**logs.fields("connect", "u1", "accepted"), content="hush", sessionID="s")
    line = logs.JsonFormatter().format(record)
    out = json.loads(line)
    assert "\n" not in line
    assert out["event"] == "connect" and out["userID"] == "u1" and out["reason"] == "accepted"
    assert out["pid"] == record.process and out["level"] == "INFO" and out["ts"].endswith("+00:00")
    assert "hush" not in line and "sessionID" not in line  # not whitelisted: never written


def test_text_lines_read_as_key_values():
    line = logs.TextFormatter().format(_record(**logs.fields("disconnect", "u1", "ping_timeout")))
    assert " INFO pid=" in line
    assert line.endswith("event=disconnect userID=u1 reason=ping_timeout connected")


def test_an_exception_stays_one_json_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = _record(exc_info=sys.exc_info())
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    out = json.loads(line)
    assert out["event"] == "exception" and "RuntimeError: boom" in out["exc"]


def _chat_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


class Exploding:
    """Stands in for a component that fails in a way no handler expects."""

    def __getattr__(self, name):
        raise RuntimeError("component failed")


def test_unexpected_exceptions_are_logged_counted_and_answered(make_app, capsys):
    app = make_app(LOG_FORMAT="json")
    bob = open_tab(app, username="bob")
    services(app).limiter.inner = Exploding()
    ack = bob.send(bob.user_id, "hi")
    assert ack == {"ok": False, "error": "unavailable", "detail": "internal error; retry later"}

    lines = [e for e in _chat_lines(capsys.readouterr().err) if e["event"] == "exception"]
    assert len(lines) == 1
    line = lines[0]
    assert line["userID"] == bob.user_id and line["reason"] == "runtimeerror"
    assert line["socketEvent"] == "private message" and "component failed" in line["exc"]


def test_a_connect_that_fails_unexpectedly_is_refused(make_app, capsys):
    app = make_app(LOG_FORMAT="json")
    services(app).presence = Exploding()
    client = SocketClient(app, server, auth={"username": "carol"})
    assert not client.is_connected()
    lines = _chat_lines(capsys.readouterr().err)
    assert [e["socketEvent"] for e in lines if e["event"] == "exception"] == ["connect"]
    # The fixture closes the app's presence when the test ends.
    services(app).presence = type("Idle", (), {"close": lambda self: None})()


def test_a_disconnect_that_fails_unexpectedly_is_logged_and_others_go_on(make_app, capsys):
    app = make_app(LOG_FORMAT="json")
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    presence = services(app).presence
    real_disconnect = presence.disconnect

    def failing(user_id, sid):
        raise RuntimeError("presence failed")

    presence.disconnect = failing
    bob.close()
    presence.disconnect = real_disconnect
    lines = [e for e in _chat_lines(capsys.readouterr().err) if e["event"] == "exception"]
    assert [(e["socketEvent"], e["reason"]) for e in lines] == [("disconnect", "runtimeerror")]
    assert "presence failed" in lines[0]["exc"]
    assert alice.send(alice.user_id, "still here")["ok"] is True


# --- a real process --------------------------------------------------------------------


@pytest.mark.server
def test_a_real_server_logs_every_kind_of_line_and_no_secret(tmp_path, servers):
    srv = servers(sqlite_env(tmp_path, LOG_FORMAT="json"))
    password = f"pw-{uuid4().hex}"
    secret = f"content-{uuid4().hex}"
    forged = f"forged-{uuid4().hex}"

    alice = Peer(srv.url, transports=["websocket"], username="alice", password=password)
    bob = Peer(srv.url, username="bob")  # long-polling, then upgraded
    again = Peer(srv.url, transports=["websocket"], sessionID=alice.session_id)
    assert alice.send(bob.user_id, secret)["ok"] is True
    assert alice.send(bob.user_id, secret * 400)["error"] == "too_long"
    assert (
        alice.sio.call("private message", {"content": [secret], "to": bob.user_id})["error"]
        == "invalid_payload"
    )
    refusals = []
    for auth in ({"username": "x"}, {"sessionID": forged}, {"username": "alice"}):
        sio = socketio.Client(reconnection=False)
        sio.on("connect_error", refusals.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            sio.connect(srv.url, auth=auth, transports=["websocket"], wait_timeout=5)
    assert [r["message"] for r in refusals] == [
        "invalid username",
        "invalid username",
        "username taken",
    ]
    for remote in (again, bob, alice):
        remote.close()
    srv.stop()  # every line is written before the process exits

    text = (tmp_path / "server.log").read_text()
    for needle in (password, secret, forged, alice.session_id, bob.session_id, again.session_id):
        assert needle not in text
    lines = _chat_lines(text)
    worker = {e["pid"] for e in lines if e["logger"].startswith("chat")}
    assert len(worker) == 1  # every chat line names the one worker process

    def having(event: str) -> list[dict]:
        return [e for e in lines if e["event"] == event]

    connects = having("connect")
    assert sorted(e["userID"] for e in connects) == sorted(
        [alice.user_id, bob.user_id, alice.user_id]
    )
    assert {e["reason"] for e in connects} == {"accepted"}
    disconnects = having("disconnect")
    assert len(disconnects) == 3 and all(e["userID"] for e in disconnects)
    assert {e["reason"] for e in disconnects} <= {"client_disconnect", "transport_close"}
    assert sorted(e["reason"] for e in having("refused")) == [
        "invalid_username",
        "invalid_username",
        "username_taken",
    ]
    acks = having("error_ack")
    assert sorted(e["reason"] for e in acks) == ["invalid_payload", "too_long"]
    assert {e["userID"] for e in acks} == {alice.user_id}
    assert {e["socketEvent"] for e in acks} == {"private message"}


@pytest.mark.server
def test_redis_failing_under_a_handshake_is_logged_and_counted(tmp_path, servers, private_redis):
    env = sqlite_env(
        tmp_path, LOG_FORMAT="json", REDIS_URL=private_redis.url, REDIS_PREFIX=unique_prefix()
    )
    srv = servers(env)
    private_redis.kill()
    sio = socketio.Client(reconnection=False)
    # Presence keeps this process's sockets in memory while Redis is away: still accepted.
    sio.connect(srv.url, auth={"username": "dave"}, transports=["websocket"], wait_timeout=5)
    sio.disconnect()
    metrics_text = requests.get(srv.url + "/metrics", timeout=5).text
    srv.stop()

    lines = _chat_lines((tmp_path / "server.log").read_text())
    warnings = [e for e in lines if "Redis unreachable on connect" in e["msg"]]
    assert warnings and warnings[0]["level"] == "WARNING"
    assert not [e for e in lines if e["event"] == "exception"]
    assert 'chat_handshakes_refused_total{reason="unavailable"}' not in metrics_text
