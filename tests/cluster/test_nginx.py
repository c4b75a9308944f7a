"""Through nginx with deploy/'s config: default transports upgrade, sessions stick to a process."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

from deploy.cluster import prepare_nginx, upload_body_limit
from deploy.launch import free_port
from tests.support.environments import name
from tests.support.peer import Peer
from tests.support.polling import wait_until
from tests.support.shared_redis import REDIS_URL

pytestmark = pytest.mark.server


@dataclass
class Nginx:
    """The URL of nginx and the file it logs every request to, with the processes tried."""

    url: str
    access_log: Path

    def upstreams(self, eio_sid: str, at_least: int = 1) -> list[str]:
        """For each request of one Engine.IO session, the processes nginx tried, in order;
        waits until ``at_least`` are logged (nginx logs a request after its answer is sent)."""

        def logged() -> list[str]:
            lines = self.access_log.read_text().splitlines()
            return [
                line.split("upstream=", 1)[1].split()[0]
                for line in lines
                if f"sid={eio_sid}" in line
            ]

        return wait_until(lambda: len(found := logged()) >= at_least and found, what="logged")


@pytest.fixture(scope="module")
def nginx(pair, tmp_path_factory) -> Iterator[Nginx]:
    """nginx in front of the pair, in the foreground as this test's own subprocess."""
    run_dir = tmp_path_factory.mktemp("nginx")
    port = free_port()
    command = prepare_nginx([pair.one.port, pair.two.port], port, run_dir, "127.0.0.1")
    yield from run_nginx(command, port, run_dir)


@pytest.fixture(scope="module")
def nginx_media(pair, tmp_path_factory) -> Iterator[Nginx]:
    """nginx with the first process for the chat and the second for /api/attachments alone."""
    run_dir = tmp_path_factory.mktemp("nginx-media")
    port = free_port()
    command = prepare_nginx([pair.one.port], port, run_dir, "127.0.0.1", [pair.two.port])
    yield from run_nginx(command, port, run_dir)


def run_nginx(command: list[str], port: int, run_dir: Path) -> Iterator[Nginx]:
    """Runs nginx in the foreground as this test's own subprocess until the generator closes."""
    proc = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            return requests.get(url + "/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(answers, what="nginx answering")
        yield Nginx(url, run_dir / "nginx-access.log")
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()


def process_of(prefix: str, sid: str) -> str:
    """The presence id of the process that holds socket ``sid``."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for proc in client.smembers(f"{prefix}presence:procs"):
            entries = client.smembers(f"{prefix}presence:proc:{proc.decode()}")
            if any(e.decode().endswith("|" + sid) for e in entries):
                return proc.decode()
    finally:
        client.close()
    raise AssertionError(f"no process holds {sid}")


def test_default_transports_start_on_polling_and_upgrade_through_nginx(nginx, pair):
    # Default transports: a polling handshake, then the WebSocket upgrade of that session;
    # without stickiness the upgrade would reach a process that does not hold the session.
    alice = Peer(nginx.url, username=name("alice"))
    bob = Peer(pair.one.url, transports=["websocket"], username=name("bob"))
    carol = Peer(pair.two.url, transports=["websocket"], username=name("carol"))
    try:
        assert alice.sio.transport() == "websocket"
        eio_sid = alice.sio.eio.sid
        for peer in (bob, carol):
            sent = alice.send(peer.user_id, "through nginx")
            assert sent["ok"] is True
            peer.wait_for("private message", lambda m, s=sent: m["id"] == s["message"]["id"])
        reply = carol.send(alice.user_id, "back through nginx")
        alice.wait_for("private message", lambda m: m["id"] == reply["message"]["id"])
        alice.close()
        # nginx logs the upgrade when the WebSocket closes. It reached the process holding
        # the polling handshake's session at the first try: a retry would list two.
        tried = nginx.upstreams(eio_sid)
        assert len(set(tried)) == 1 and "," not in tried[0]
    finally:
        for tab in (alice, bob, carol):
            tab.close()


def test_long_polling_sessions_stick_to_one_process(nginx, pair):
    # Every send is a POST and every ack arrives on a GET: dozens of requests per session,
    # each of which must reach the process holding it.
    dave = Peer(nginx.url, transports=["polling"], username=name("dave"))
    erin = Peer(nginx.url, transports=["polling"], username=name("erin"))
    try:
        assert dave.sio.transport() == "polling"
        for i in range(15):
            sent = dave.send(erin.user_id, f"poll {i}")
            assert sent["ok"] is True
            erin.wait_for("private message", lambda m, s=sent: m["id"] == s["message"]["id"])
        # Each request reached the process holding the session at the first try (a retry
        # after a 503 would list two processes), and one client address means one process.
        tried = nginx.upstreams(dave.sio.eio.sid, at_least=30)
        assert len(tried) >= 30 and len(set(tried)) == 1 and "," not in tried[0]
        assert process_of(pair.prefix, dave.sio.get_sid("/")) == process_of(
            pair.prefix, erin.sio.get_sid("/")
        )
    finally:
        dave.close()
        erin.close()


WEBSOCKET_UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def test_a_process_answers_503_to_nginx_for_a_session_it_does_not_hold(pair):
    # What lets nginx find a session on the next process instead of failing it; asked
    # directly (not through nginx), the process gives engine.io's 400 for an unknown session.
    frank = Peer(pair.one.url, transports=["polling"], username=name("frank"))
    try:
        eio_sid = frank.sio.eio.sid
        query = {"EIO": "4", "transport": "polling", "sid": eio_sid}
        via_nginx = {"X-Chat-Next-Upstream": "1"}
        for headers, status in (({}, 400), (via_nginx, 503)):
            elsewhere = requests.get(
                pair.two.url + "/socket.io/", params=query, headers=headers, timeout=5
            )
            assert elsewhere.status_code == status
            unknown = requests.get(
                pair.one.url + "/socket.io/",
                params={**query, "sid": "nope"},
                headers=headers,
                timeout=5,
            )
            assert unknown.status_code == status
            # A WebSocket upgrade too: a plain HTTP answer, not gevent-websocket's 101.
            upgrade = requests.get(
                pair.one.url + "/socket.io/",
                params={**query, "transport": "websocket", "sid": "nope"},
                headers={**WEBSOCKET_UPGRADE, **headers},
                timeout=5,
            )
            assert upgrade.status_code == status
    finally:
        frank.close()


def test_nginx_finds_a_session_on_another_process_and_answers_400_when_none_holds_it(nginx, pair):
    # Sessions opened directly on each process: nginx hashes this address to one of them,
    # and reaches the other one's session on its second try.
    grace = Peer(pair.one.url, transports=["polling"], username=name("grace"))
    heidi = Peer(pair.two.url, transports=["polling"], username=name("heidi"))
    try:
        for tab in (grace, heidi):
            query = {"EIO": "4", "transport": "polling", "sid": tab.sio.eio.sid}
            # A POST: a ping's answer (engine.io "3") is accepted by the holder only.
            found = requests.post(nginx.url + "/socket.io/", params=query, data="3", timeout=5)
            assert found.status_code == 200 and found.text == "OK"
        tried = [nginx.upstreams(tab.sio.eio.sid)[-1] for tab in (grace, heidi)]
        assert sorted("," in t for t in tried) == [False, True]  # one retried, one not
        query = {"EIO": "4", "transport": "polling", "sid": "expired"}
        for method in (requests.get, requests.post):
            gone = method(nginx.url + "/socket.io/", params=query, timeout=5)
            assert gone.status_code == 400, gone.text
        assert "," in nginx.upstreams("expired", at_least=2)[-1]  # every process was asked first
    finally:
        grace.close()
        heidi.close()


def upload(url: str, token: str, data: bytes) -> requests.Response:
    """POSTs ``data`` as an attachment with a Bearer session."""
    return requests.post(
        url + "/api/attachments",
        files={"file": ("data.bin", data)},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_uploads_and_downloads_go_to_the_media_process(nginx_media, pair):
    ivan = Peer(pair.one.url, transports=["websocket"], username=name("ivan"))
    try:
        data = os.urandom(3 * 1024 * 1024)  # over nginx's 1 MB for every other request
        sent = upload(nginx_media.url, ivan.session_id, data)
        assert sent.status_code == 201, sent.text
        got = requests.get(
            nginx_media.url + sent.json()["url"],
            headers={"Authorization": f"Bearer {ivan.session_id}"},
            timeout=30,
        )
        assert got.status_code == 200 and got.content == data
        media = f"127.0.0.1:{pair.two.port}"
        for request in ("POST /api/attachments ", f"GET {sent.json()['url']} "):
            logged = wait_until(
                lambda r=request: [
                    line for line in nginx_media.access_log.read_text().splitlines() if r in line
                ],
                what=f"{request}logged",
            )
            assert all(f"upstream={media} " in line for line in logged), logged
    finally:
        ivan.close()


def test_an_upload_over_the_limit_gets_a_json_413_from_nginx(nginx_media, pair):
    judy = Peer(pair.one.url, transports=["websocket"], username=name("judy"))
    try:
        refused = upload(nginx_media.url, judy.session_id, bytes(upload_body_limit({}) + 1))
        assert refused.status_code == 413
        assert refused.json()["error"] == "too_large"
        answered_by_nginx = wait_until(
            lambda: [
                line
                for line in nginx_media.access_log.read_text().splitlines()
                if "POST /api/attachments " in line and '" 413 ' in line
            ],
            what="the 413 logged",
        )
        assert "upstream=- " in answered_by_nginx[-1]  # no process read the body
    finally:
        judy.close()


def test_without_media_processes_uploads_go_to_the_chat_processes(nginx, pair):
    kim = Peer(pair.one.url, transports=["websocket"], username=name("kim"))
    try:
        sent = upload(nginx.url, kim.session_id, os.urandom(2 * 1024 * 1024))
        assert sent.status_code == 201, sent.text
    finally:
        kim.close()
