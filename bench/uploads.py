"""HTTP upload helpers shared by bench/attachments.py and bench/run.py's relay-uploads.

Users and their sessions are made directly in the server's database; uploads are
``POST /api/attachments`` with ``Authorization: Bearer <sessionID>``, as a client would.
``Uploaders`` keeps a few clients uploading in threads of the bench process: back to back,
or each at a steady pace (as fast as the server's default per-user limit lets a person).
"""

from __future__ import annotations

import io
import os
import threading
import time
from dataclasses import dataclass, field

import requests

MB = 1024 * 1024
# Limits meant for people, lifted so that an uploader never waits on them.
LIMITS = {"UPLOAD_RATE": "1000", "UPLOAD_BURST": "1000", "ATTACHMENT_QUOTA_BYTES": str(10**10)}
KINDS = ("binary", "image")


def bench_app(database_url: str):
    """The chat's app on ``database_url`` (no Redis), for making rows the way the server does."""
    from app import create_app
    from chat import config

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": config.database_uri(database_url, ""),
            "SECRET_KEY": "bench",
            "REDIS_URL": None,
        }
    )


def people(database_url: str, names: list[str]) -> list[tuple[str, str]]:
    """(userID, sessionID) of a new user per name, committed in the database at ``database_url``."""
    from chat import store
    from chat.extensions import db
    from chat.services import services

    app = bench_app(database_url)
    with app.app_context():
        out = []
        for name in names:
            me, token = store.login(name)
            out.append((me.user_id, token))
        db.session.remove()
        db.engine.dispose()
    services(app).presence.close()
    return out


def sample(kind: str, size: int = MB) -> tuple[str, bytes]:
    """A file name and about ``size`` bytes: random bytes (``binary``, stored as sent) or a
    photo-like JPEG (``image``: decoded, re-encoded and thumbnailed by the server)."""
    if kind == "binary":
        return "data.bin", os.urandom(size)
    from PIL import Image

    # Noise over gradients compresses like a photo: ~1 MB of JPEG for 1 MB asked.
    w, h = int(1800 * (size / MB) ** 0.5), int(1350 * (size / MB) ** 0.5)
    noise = Image.effect_noise((w, h), 40)
    grad = Image.linear_gradient("L").resize((w, h))
    out = io.BytesIO()
    Image.merge("RGB", (Image.blend(noise, grad, 0.5), grad, noise)).save(out, "JPEG", quality=90)
    return "photo.jpg", out.getvalue()


def upload(
    url: str, token: str, data: bytes, name: str = "data.bin", http: requests.Session | None = None
) -> tuple[float, dict]:
    """Seconds one upload took (on ``http``'s kept-alive connection, if given), and its answer."""
    started = time.perf_counter()
    r = (http or requests).post(
        url + "/api/attachments",
        files={"file": (name, data)},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    r.raise_for_status()
    return time.perf_counter() - started, r.json()


@dataclass
class Uploader:
    """One client uploading one file back to back; what it completed, and when."""

    kind: str
    name: str
    data: bytes
    done: list[float] = field(default_factory=list)  # time.monotonic() of each completed upload
    errors: list[str] = field(default_factory=list)

    def bytes_between(self, start: float, stop: float) -> int:
        """Bytes of the uploads that completed between ``start`` and ``stop``."""
        return len(self.data) * sum(start <= t < stop for t in self.done)


class Uploaders:
    """Clients (one per kind in ``kinds``) uploading continuously to ``url`` in threads,
    each as its own user, until ``stop``: back to back, or one upload per ``interval`` s."""

    def __init__(self, url: str, tokens: list[str], kinds: list[str], interval: float = 0.0):
        self.url = url
        self.interval = interval
        self.clients = [Uploader(kind, *sample(kind)) for kind in kinds]
        self.tokens = tokens
        self.stopping = threading.Event()
        self.progress = threading.Condition()
        self.threads = [
            threading.Thread(target=self._run, args=(c, t), daemon=True)
            for c, t in zip(self.clients, tokens, strict=True)
        ]

    def _run(self, client: Uploader, token: str) -> None:
        http = requests.Session()
        due = time.monotonic()
        while not self.stopping.is_set():
            if self.interval:
                # Pacing, not synchronisation: the next upload's slot, as a steady user.
                self.stopping.wait(max(0.0, due - time.monotonic()))
                due += self.interval
            try:
                upload(self.url, token, client.data, client.name, http)
            except requests.RequestException as exc:
                client.errors.append(str(exc)[:200])
                if len(client.errors) >= 3:
                    break  # a server that refuses uploads: report, do not hammer it
                continue
            with self.progress:
                client.done.append(time.monotonic())
                self.progress.notify_all()

    def start(self) -> None:
        """Starts every client."""
        for t in self.threads:
            t.start()

    def wait_uploads(self, n: int, timeout: float = 120) -> float:
        """Waits until every client completed ``n`` uploads (or gave up); returns the time."""
        with self.progress:
            self.progress.wait_for(
                lambda: all(len(c.done) >= n or len(c.errors) >= 3 for c in self.clients),
                timeout,
            )
        return time.monotonic()

    def stop(self) -> None:
        """Stops every client after its upload in flight."""
        self.stopping.set()
        for t in self.threads:
            t.join(150)

    def figures(self, start: float, stop: float) -> dict:
        """MB/s of the uploads completed between ``start`` and ``stop``, in all and per client."""
        seconds = max(stop - start, 1e-9)
        each = [
            {
                "kind": c.kind,
                "fileBytes": len(c.data),
                "uploads": sum(start <= t < stop for t in c.done),
                "mbPerS": c.bytes_between(start, stop) / MB / seconds,
                "errors": c.errors[:3],
            }
            for c in self.clients
        ]
        return {
            "seconds": seconds,
            "mbPerS": sum(c["mbPerS"] for c in each),
            "clients": each,
        }
