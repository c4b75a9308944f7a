"""`make cluster MEDIA=1`: a process of its own for /api/attachments, the chat on the others."""

from __future__ import annotations

import json
import os

import pytest
import requests

from tests.support.commands import cluster, free_block
from tests.support.environments import cluster_env, name
from tests.support.peer import Peer
from tests.support.polling import wait_until
from tests.support.shared_redis import forget, unique_prefix

pytestmark = pytest.mark.server


def test_cluster_with_a_media_process_sends_it_the_attachments_alone(cluster_db, tmp_path):
    prefix = unique_prefix()
    env = cluster_env(cluster_db, prefix, SECRET_KEY="test-secret")
    run_dir = tmp_path / "cluster"
    port = free_block(3)
    url = f"http://127.0.0.1:{port}"
    tab = None
    try:
        up = cluster(run_dir, env, "up", "--port", str(port), "-n", "1", "--media", "1")
        assert up.returncode == 0, up.stderr
        state = json.loads((run_dir / "cluster.json").read_text())
        assert (state["ports"], state["media_ports"]) == ([port + 1], [port + 2])
        status = cluster(run_dir, env, "status")
        assert status.returncode == 0 and status.stdout.count("\tup") == 3, status.stdout

        tab = Peer(url, username=name("lena"))
        data = os.urandom(2 * 1024 * 1024)
        sent = requests.post(
            url + "/api/attachments",
            files={"file": ("data.bin", data)},
            headers={"Authorization": f"Bearer {tab.session_id}"},
            timeout=30,
        )
        assert sent.status_code == 201, sent.text
        log = run_dir / "nginx-access.log"

        def upstream_of(request: str) -> list[str]:
            return [
                line.split("upstream=", 1)[1].split()[0]
                for line in log.read_text().splitlines()
                if request in line
            ]

        media, chat = f"127.0.0.1:{port + 2}", f"127.0.0.1:{port + 1}"
        assert wait_until(lambda: upstream_of("POST /api/attachments ")) == [media]
        tab.close()  # nginx logs a WebSocket when it closes
        assert set(wait_until(lambda: upstream_of("/socket.io/"))) == {chat}
    finally:
        if tab is not None:
            tab.close()
        cluster(run_dir, env, "down")
        forget(prefix)
