"""GET /metrics: what it counts, who may read it, and the sum over several processes."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from chat.extensions import db
from deploy.launch import free_port
from tests.support.environments import sqlite_env
from tests.support.inprocess import open_tab
from tests.support.peer import Peer
from tests.support.polling import gone
from tests.support.shared_redis import unique_prefix


def parse(body: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition, keyed by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def scrape(client) -> dict[tuple[str, tuple], float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/plain; version=0.0.4")
    return parse(resp.get_data(as_text=True))


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_relayed_message_is_counted_stored_relayed_acked_and_timed(app, client, connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    before = scrape(client)
    assert alice.send(bob.user_id, "hello", clientId="c-1")["ok"] is True
    assert alice.send(bob.user_id, "hello", clientId="c-1")["ok"] is True  # a retry
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("chat_messages_stored_total") == 1  # the retry stored nothing
    assert delta("chat_messages_relayed_total") == 2  # but was relayed again
    assert delta("chat_acks_total", event="private message", code="ok") == 2
    assert delta("chat_relay_latency_seconds_count") == 2
    assert delta("chat_relay_latency_seconds_bucket", le="+Inf") == 2
    assert 0 < delta("chat_relay_latency_seconds_sum") < 10


def test_error_acks_are_counted_by_code(client, connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    before = scrape(client)
    assert alice.send(bob.user_id, "x" * 5000)["error"] == "too_long"
    assert alice.send("nobody", "hi")["error"] == "unknown_recipient"
    assert alice.emit("read", {"with": 3})["error"] == "invalid_payload"
    after = scrape(client)
    for event, code in [
        ("private message", "too_long"),
        ("private message", "unknown_recipient"),
        ("read", "invalid_payload"),
    ]:
        labels = {"event": event, "code": code}
        assert (
            value(after, "chat_acks_total", **labels) - value(before, "chat_acks_total", **labels)
            == 1
        )


def test_rate_limit_refusals_are_counted_by_action(make_app):
    app = make_app(SEND_BURST=1, SEND_RATE=0.001)
    client = app.test_client()
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    before = scrape(client)
    assert alice.send(bob.user_id, "one")["ok"] is True
    assert alice.send(bob.user_id, "two")["error"] == "rate_limited"
    after = scrape(client)
    key = ("chat_rate_limited_total", (("action", "send"),))
    assert after.get(key, 0) - before.get(key, 0) == 1


def test_sockets_users_and_handshakes_are_counted(client, connect_as, socket_client):
    before = scrape(client)
    bob = connect_as("bob")
    alice = connect_as("alice")
    connect_as(session_id=alice.session_id)  # a second tab: one more socket, same user
    refused = socket_client(auth={"username": "x"})
    assert not refused.is_connected()
    during = scrape(client)
    bob.close()
    after = scrape(client)

    sockets = "chat_connected_sockets"
    assert value(during, sockets) - value(before, sockets) == 3
    assert value(after, sockets) - value(before, sockets) == 2
    assert value(during, "chat_connected_users") == 2
    assert value(after, "chat_connected_users") == 1
    assert value(during, "chat_connections_total") - value(before, "chat_connections_total") == 3
    refusal = ("chat_handshakes_refused_total", (("reason", "invalid_username"),))
    assert during.get(refusal, 0) - before.get(refusal, 0) == 1
    gone = ("chat_disconnections_total", (("reason", "client_disconnect"),))
    assert after.get(gone, 0) - during.get(gone, 0) == 1


def test_database_errors_are_counted_by_kind(app, client):
    from app import create_app
    from tests.support.environments import BASE_CONFIG

    before = scrape(client)
    uri = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/chat"
    broken = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": uri})
    with broken.app_context(), pytest.raises(OperationalError):
        db.session.execute(text("SELECT 1"))
    after = scrape(client)
    key = ("chat_db_errors_total", (("kind", "OperationalError"),))
    assert after.get(key, 0) - before.get(key, 0) == 1


# --- who may read it -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "headers", "status"),
    [
        ("127.0.0.1", {}, 200),
        ("::1", {}, 200),
        ("203.0.113.9", {}, 403),
        # Through a proxy on the same host every client looks like loopback: refused.
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, 403),
        ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}, 403),
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}, 403),
    ],
)
def test_metrics_are_for_loopback_only_by_default(client, remote, headers, status):
    resp = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote})
    assert resp.status_code == status


def test_a_bearer_token_opens_metrics_from_anywhere(make_app):
    client = make_app(METRICS_TOKEN="s3cret-token").test_client()
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    ok = client.get(
        "/metrics", headers={"Authorization": "Bearer s3cret-token"}, environ_base=outside
    )
    assert ok.status_code == 200 and b"chat_messages_stored_total" in ok.data
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"}, environ_base=outside)
    assert wrong.status_code == 403


def test_allowed_networks_are_configurable(make_app):
    client = make_app(METRICS_ALLOWED_NETWORKS="10.0.0.0/8").test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 403


# --- two real processes ----------------------------------------------------------------


def scrape_url(url: str) -> dict[tuple[str, tuple], float]:
    resp = requests.get(url + "/metrics", timeout=10)
    assert resp.status_code == 200
    return parse(resp.text)


@pytest.mark.server
def test_two_processes_report_one_sum_and_a_dead_one_leaves_it(tmp_path, servers, private_redis):
    shared = tmp_path / "prom"
    shared.mkdir()
    env = sqlite_env(
        tmp_path,
        REDIS_URL=private_redis.url,
        REDIS_PREFIX=unique_prefix(),
        PROMETHEUS_MULTIPROC_DIR=str(shared),
    )
    a = servers(env, name="a")
    b = servers(env, name="b", do_migrate=False)
    alice = Peer(a.url, transports=["websocket"], username="alice")
    bob = Peer(b.url, transports=["websocket"], username="bob")
    try:
        for i in range(3):
            assert alice.send(bob.user_id, f"a{i}")["ok"] is True
        for i in range(2):
            assert bob.send(alice.user_id, f"b{i}")["ok"] is True
        bob.wait_for("private message", lambda m: m["content"] == "a2")

        for url in (a.url, b.url):  # either process answers for both
            samples = scrape_url(url)
            assert value(samples, "chat_messages_stored_total") == 5
            assert value(samples, "chat_messages_relayed_total") == 5
            assert value(samples, "chat_acks_total", event="private message", code="ok") == 5
            assert value(samples, "chat_relay_latency_seconds_count") == 5
            assert value(samples, "chat_connected_sockets") == 2
            assert value(samples, "chat_connected_users") == 2

        worker = max(b.pids())
        b.kill()  # no shutdown code runs: its files stay behind
        gone(worker)
        samples = scrape_url(a.url)
        assert value(samples, "chat_connected_sockets") == 1  # bob's socket died with b
        assert value(samples, "chat_messages_stored_total") == 5  # counters keep b's share
    finally:
        alice.close()
        bob.close()
