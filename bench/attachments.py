"""Attachment benchmark: upload and download throughput, and the worker's memory under load.

    .venv/bin/python bench/attachments.py [--db sqlite|postgresql]

Against one real gunicorn server (the gevent-websocket worker, as in production): uploads
and downloads of 1 MB and 10 MB files, then 20 clients downloading one 10 MB file at once
while the worker's resident memory is sampled. Also checks that a 20 MB upload is refused
with a 413 that reaches the client. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.uploads import LIMITS, MB, bench_app, people, upload  # noqa: E402
from deploy.databases import drop_pg_databases, pg_database  # noqa: E402
from deploy.launch import Server, migrate  # noqa: E402


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of process ``pid`` from /proc, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def send(database_url: str, alice: str, bob: str, attachment_id: str) -> None:
    """Stores a message from alice to bob carrying the upload, as the send path will."""
    from chat import attachments, store
    from chat.extensions import db

    app = bench_app(database_url)
    with app.app_context():
        saved = store.save_message(alice, bob, "file", None)
        attachments.claim(alice, bob, [attachment_id], saved.message.id)
        db.session.commit()


def download(url: str, token: str, size: int) -> float:
    """Seconds one streamed download took."""
    started = time.perf_counter()
    got = 0
    with requests.get(
        url, headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=120
    ) as r:
        r.raise_for_status()
        for chunk in r.iter_content(64 * 1024):
            got += len(chunk)
    assert got == size, (got, size)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-attach-")
    sqlite = f"sqlite:///{tmp}/chat.db"
    database = sqlite if args.db == "sqlite" else pg_database("bench_attach")
    env = {"DATABASE_URL": database, "SECRET_KEY": "bench", **LIMITS}
    migrate(env)
    (alice, ta), (bob, tb) = people(database, ["alice", "bob"])
    server = Server(env, log_path=Path(tmp) / "server.log").start()
    try:
        worker = next(p for p in server.pids() if p != server.proc.pid)
        print(f"database {args.db}; worker RSS at start {rss_kb(worker) / 1024:.1f} MiB")
        big_url = ""
        for size_mb in (1, 10):
            data = os.urandom(size_mb * MB)
            ups, downs = [], []
            for _ in range(args.repeat):
                seconds, body = upload(server.url, ta, data)
                ups.append(seconds)
                send(database, alice, bob, body["id"])
                downs.append(download(server.url + body["url"], tb, len(data)))
            big_url = server.url + body["url"]
            print(
                f"{size_mb:>2} MB  upload {size_mb / statistics.median(ups):6.1f} MB/s "
                f"(median of {args.repeat}, {statistics.median(ups) * 1000:.0f} ms)  "
                f"download {size_mb / statistics.median(downs):6.1f} MB/s "
                f"({statistics.median(downs) * 1000:.0f} ms)"
            )
        before = rss_kb(worker)
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak.append(rss_kb(worker))
                time.sleep(0.01)  # sampling memory: there is no event to wait on

        sampler = threading.Thread(target=sample)
        sampler.start()
        times: list[float] = []
        clients = [
            threading.Thread(target=lambda: times.append(download(big_url, tb, 10 * MB)))
            for _ in range(20)
        ]
        started = time.perf_counter()
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        print(
            f"20 clients x 10 MB at once: {200 / wall:.1f} MB/s in all, {wall:.2f} s; worker RSS "
            f"{before / 1024:.1f} MiB before, peak {max(peak) / 1024:.1f} MiB "
            f"(+{(max(peak) - before) / 1024:.1f} MiB)"
        )
        refused = requests.post(
            server.url + "/api/attachments",
            files={"file": ("big.bin", b"x" * (20 * MB))},
            headers={"Authorization": f"Bearer {ta}"},
            timeout=60,
        )
        print(f"20 MB upload: {refused.status_code} {refused.json()['error']} reached the client")
    finally:
        server.stop()
        if args.db == "postgresql":
            drop_pg_databases()


if __name__ == "__main__":
    main()
