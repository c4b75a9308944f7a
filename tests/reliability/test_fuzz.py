"""Arbitrary JSON at every event and at the handshake: the server stays consistent.

Consistent means: no exception escapes a handler (the test client would raise it), every
ack is a PROTOCOL.md B2/B6 ack, nothing is stored from a refused payload, an observer only
ever receives well-formed events, and nobody is disconnected.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from chat.extensions import db, socketio
from chat.models import Message, User
from tests.support.inprocess import SocketClient

BOB, ALICE = object(), object()  # stand for the real userIDs, drawn like any other value
EVENTS = ["private message", "fetch messages", "read", "typing", "search messages"]
ERRORS = {"invalid_payload", "unknown_recipient", "too_long", "empty", "rate_limited"}
REFUSALS = {"invalid username", "username taken", "rate limited", "unavailable"}
OBSERVABLE = {"private message", "typing", "read", "user connected", "user disconnected"}
FIELDS = ["content", "to", "clientId", "with", "before", "limit", "upTo", "from", "id", "q"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
field_values = json_values | st.sampled_from([BOB, ALICE]) | st.integers(0, 10)
payloads = json_values | st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=5)
event_names = st.sampled_from(EVENTS) | st.sampled_from(["connect", "disconnect"]) | st.text()
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def materialise(value, ids):
    if value is BOB or value is ALICE:
        return ids[value]
    if isinstance(value, dict):
        return {k: materialise(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [materialise(v, ids) for v in value]
    return value


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@FUZZ
@given(event=event_names, args=st.lists(payloads, max_size=3))
def test_any_payload_at_any_event(app, connect_as, event, args):
    if not hasattr(app, "fuzz"):
        bob, alice = connect_as("bob"), connect_as("alice")
        app.fuzz = {"bob": bob, "alice": alice, "ok_ids": set()}
    bob, alice, ok_ids = app.fuzz["bob"], app.fuzz["alice"], app.fuzz["ok_ids"]
    ids = {BOB: bob.user_id, ALICE: alice.user_id}
    args = [materialise(a, ids) for a in args]

    ack = alice.client.emit(event, *args, callback=True)

    if event in EVENTS:
        assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
        if not ack["ok"]:
            assert ack["error"] in ERRORS and isinstance(ack["detail"], str), ack
        elif event == "private message":
            ok_ids.add(ack["message"]["id"])
            assert ack["message"]["from"] == alice.user_id
        elif event == "search messages":  # only what was stored, only alice's own
            for m in ack["messages"]:
                assert m["id"] in ok_ids and alice.user_id in (m["from"], m["to"]), m
    else:
        assert ack is None, ack  # unknown and reserved names are ignored, not even acked
    assert count(app, Message) == len(ok_ids)  # nothing stored from a refused payload
    for name in bob.names():
        assert name in OBSERVABLE | {"session", "users"}, name
    assert {m["id"] for m in bob.received("private message")} <= ok_ids
    assert bob.received("user disconnected") == []  # nobody was made to look offline
    assert alice.client.is_connected() and bob.client.is_connected()


auth_fields = st.dictionaries(
    st.sampled_from(["sessionID", "username", "password", "userID"]),
    json_values | st.from_regex(r"[\w.\-]{3,32}", fullmatch=True),
    max_size=3,
)


# A number as the whole CONNECT payload cannot be sent: "0" + "42" reads as an ack id.
# Socket.IO v5 allows only an object there; every other JSON value is still thrown at it.
handshake_auth = (
    json_values.filter(lambda v: isinstance(v, bool) or not isinstance(v, int | float))
    | auth_fields
)


@FUZZ
@given(auth=handshake_auth)
def test_any_handshake(app, connect_as, auth):
    if not hasattr(app, "observer"):
        app.observer = connect_as("observer")
    observer = app.observer
    users_before = count(app, User)
    tab = SocketClient(app, socketio, auth=auth)
    if tab.is_connected():
        names = [p["name"] for p in tab.get_received()]
        assert names[:2] == ["session", "users"]
        assert count(app, User) in (users_before, users_before + 1)
        tab.disconnect()
    else:
        assert tab.connect_error["message"] in REFUSALS, tab.connect_error
        assert count(app, User) == users_before  # a refusal creates nobody
    assert observer.client.is_connected()
    for name in observer.names():
        assert name in {"session", "users", "user connected", "user disconnected"}


@pytest.mark.parametrize(
    "raw",
    [
        '2["disconnect","forged"]',
        '2["connect",{"username":"zed"}]',
        '21["connect_error",{}]',
        "2[]",
        "2[[1],2]",
        '2[{"a":1}]',
        "2[null]",
        '2"not a list"',
    ],
)
def test_malformed_and_reserved_event_packets_are_dropped(app, connect_as, raw):
    bob, alice = connect_as("bob"), connect_as("alice")
    bob.clear()
    socketio.server._handle_eio_message(alice.client.eio_sid, raw)
    assert bob.received() == []
    assert alice.client.is_connected()
    assert alice.send(bob.user_id, "still fine")["ok"] is True
