"""Does one user's flood slow everyone else? Latency of a quiet pair, with and without a flood.

Starts a real server (deploy/launch.py's Server: gunicorn, gevent-websocket worker, SQLite in a
temporary directory) per scenario. A pair of users (carol -> dave) exchanges acked messages
at a steady rate and the time from carol's emit to dave's receipt is measured; meanwhile
mallory sends as fast as one client can, without waiting for acks, to bob.

Scenarios: no flood; a flood under the default per-user limit (SEND_RATE 20/s, burst 40);
a flood with the limit lifted (every flood message stored and relayed). Prints the figures.

    .venv/bin/python bench/flood.py [--seconds 8] [--rate 10]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy.launch import Server, migrate  # noqa: E402

UNLIMITED = {"SEND_RATE": "1000000", "SEND_BURST": "1000000"}


class Client:
    """A python-socketio client over WebSocket that remembers its userID."""

    def __init__(self, url: str, username: str) -> None:
        self.sio = socketio.Client(reconnection=False)
        self.ready = threading.Event()
        self.user_id = ""

        def on_session(data):
            self.user_id = data["userID"]
            self.ready.set()

        self.sio.on("session", on_session)
        self.sio.connect(url, auth={"username": username}, transports=["websocket"])
        if not self.ready.wait(10):
            raise RuntimeError(f"{username}: no session")

    def close(self) -> None:
        """Disconnects."""
        self.sio.disconnect()


def flood(url: str, ready, stop, results) -> None:
    """In its own process (so that it cannot starve the pair's clients of the GIL): bob
    listens, mallory emits to bob as fast as one client can until ``stop``; the acks are
    counted by outcome and put on ``results``."""
    bob, mallory = Client(url, "bob"), Client(url, "mallory")
    counts: dict[str, int] = {"sent": 0}
    lock = threading.Lock()

    def on_ack(ack):
        key = "ok" if ack.get("ok") else ack.get("error", "other")
        with lock:
            counts[key] = counts.get(key, 0) + 1

    ready.set()
    start = time.perf_counter()
    while not stop.is_set():
        mallory.sio.emit(
            "private message",
            {"content": f"flood {counts['sent']}", "to": bob.user_id},
            callback=on_ack,
        )
        counts["sent"] += 1
    counts["emits/s"] = round(counts["sent"] / (time.perf_counter() - start))
    time.sleep(1)  # late acks
    mallory.close()
    bob.close()
    results.put(counts)


def measure_pair(url: str, seconds: float, rate: float) -> list[float]:
    """Latencies (ms) of carol -> dave messages sent at ``rate`` per second for ``seconds``."""
    carol, dave = Client(url, "carol"), Client(url, "dave")
    received: dict[str, float] = {}
    got = threading.Condition()

    def on_message(msg):
        with got:
            received[msg.get("clientId", "")] = time.perf_counter()
            got.notify_all()

    dave.sio.on("private message", on_message)
    sent: dict[str, float] = {}
    interval = 1 / rate
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        client_id = f"p{n}"
        sent[client_id] = time.perf_counter()
        carol.sio.emit(
            "private message", {"content": "ping", "to": dave.user_id, "clientId": client_id}
        )
        n += 1
        time.sleep(max(0.0, start + n * interval - time.perf_counter()))  # a steady pace
    with got:
        got.wait_for(lambda: len(received) >= len(sent), timeout=30)
    carol.close()
    dave.close()
    lost = len(sent) - len(received)
    if lost:
        print(f"  warning: {lost} of {len(sent)} pair messages not received", flush=True)
    return [(received[c] - t) * 1000 for c, t in sent.items() if c in received]


def scenario(name: str, env: dict[str, str], flooding: bool, seconds: float, rate: float):
    """Runs one scenario on a fresh server; prints and returns its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        server_env = {
            "DATABASE_URL": f"sqlite:///{tmp}/chat.db",
            "REDIS_URL": "",
            "CONNECT_BURST": "1000",
            "SIGNUP_BURST": "1000",
            **env,
        }
        migrate(server_env)
        server = Server(server_env).start()
        stop, ready, results = mp.Event(), mp.Event(), mp.Queue()
        flooder = None
        try:
            if flooding:
                flooder = mp.Process(target=flood, args=(server.url, ready, stop, results))
                flooder.start()
                ready.wait(30)
                time.sleep(1)  # let the flood reach its pace before measuring
            latencies = measure_pair(server.url, seconds, rate)
            stop.set()
            counts = results.get(timeout=30) if flooder else {}
        finally:
            stop.set()
            if flooder:
                flooder.join(timeout=30)
            server.stop()
    q = statistics.quantiles(latencies, n=100)
    row = {
        "scenario": name,
        "pair msgs": len(latencies),
        "p50 ms": round(statistics.median(latencies), 2),
        "p95 ms": round(q[94], 2),
        "p99 ms": round(q[98], 2),
        "max ms": round(max(latencies), 2),
    }
    if flooding:
        row["flood"] = counts
    print(row, flush=True)
    return row


def main() -> None:
    """Runs the three scenarios and prints one line each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8, help="measurement per scenario")
    parser.add_argument("--rate", type=float, default=10, help="pair messages per second")
    args = parser.parse_args()
    scenario("no flood", {}, False, args.seconds, args.rate)
    scenario("flood, default limit", {}, True, args.seconds, args.rate)
    scenario("flood, no limit", UNLIMITED, True, args.seconds, args.rate)


if __name__ == "__main__":
    main()
