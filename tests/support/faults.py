"""Fault injection for the reliability tests: a TCP proxy that can cut a link, a private Redis."""

from __future__ import annotations

import contextlib
import signal
import socket
import struct
import subprocess
import threading
import time

import redis

from deploy.launch import free_port


def _reset(sock: socket.socket) -> None:
    """Closes with an RST, as a crashed host or a dropped route would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # shutdown() first: close() alone would not wake a thread blocked in recv() on it, and
    # the connection would live on until that recv returned.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut`` and ``blackhole`` break the link.

    - up: bytes flow both ways.
    - cut(): every open connection is reset and new ones are refused (database down).
    - blackhole(): open connections are reset; new ones are accepted but never answered
      (database host unreachable: the client only learns it from its own timeout).
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode = "up"
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.accepted = 0
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener closed by cut()
            with self._lock:
                self.accepted += 1
                self._conns.append(client)
                if self.mode == "blackhole":
                    continue  # held open, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._conns.append(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        _reset(src)
        _reset(dst)

    def _drop_connections(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            _reset(conn)

    def cut(self) -> None:
        """Resets every connection and refuses new ones."""
        self.mode = "cut"
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the
            # port listening until the next connection arrived.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        self._drop_connections()

    def blackhole(self) -> None:
        """Resets every connection; new ones are accepted and then ignored."""
        if self._listener is None:
            self._listen()
        self.mode = "blackhole"
        self._drop_connections()

    def restore(self) -> None:
        """Lets bytes flow again (held blackholed connections are reset first)."""
        self._drop_connections()
        self.mode = "up"
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        """Stops listening and resets everything."""
        self.cut()


class RedisProcess:
    """A private redis-server on a free port (never the shared one), that tests may kill."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> RedisProcess:
        """Starts redis-server and returns once it answers PING."""
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)  # polling a starting process: no event to wait on
        raise TimeoutError("redis-server did not start")

    def pause(self) -> None:
        """SIGSTOP: Redis hangs, connections open and silent (a stuck or partitioned Redis)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: a paused Redis answers again."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """kill -9: Redis is gone, with everything it held."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
