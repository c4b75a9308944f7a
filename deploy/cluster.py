"""Runs the chat as N gunicorn processes behind nginx on one machine (``make cluster``).

    python deploy/cluster.py up [-n 2] [--port 8000]   # processes on 8001..800N, nginx on 8000
    python deploy/cluster.py up -n 2 --media 1         # and /api/attachments on 8003 alone
    python deploy/cluster.py restart                    # rolling: one process at a time
    python deploy/cluster.py status
    python deploy/cluster.py down

Everything lives in the run directory (default run/cluster): state, logs, nginx config and
pid files. Processes share DATABASE_URL (default: PostgreSQL database ``chat`` on
127.0.0.1:5432, created when missing) and REDIS_URL (default 127.0.0.1:6379); ``restart``
reuses the environment given to ``up``, overridden by variables set now.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Run as a script from anywhere: the imports follow the path above.
from chat import config as chat_config  # noqa: E402
from deploy import launch  # noqa: E402
from deploy.databases import create_database  # noqa: E402
from deploy.launch import alive, answers  # noqa: E402

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
# What a multipart upload carries beyond the file (chat/attachment_views.py's allowance).
MULTIPART_SLACK = 64 * 1024
DEFAULT_ENV = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/chat",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    # nginx is the one proxy in front: per-IP limits must see the client, not nginx.
    "TRUSTED_PROXIES": "1",
}
# Variables the app reads (chat/config.py), kept from `up` for `restart`.
APP_VARS = [
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_PREFIX",
    "SECRET_KEY",
    "CORS_ALLOWED_ORIGINS",
    "LOG_FORMAT",
    "SESSION_COOKIE_SECURE",
    *chat_config.DEFAULTS,
]


def log(message: str) -> None:
    """Progress on stderr, so that `status` output stays parseable."""
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def upload_body_limit(environ: dict[str, str]) -> int:
    """The largest upload body nginx lets through: MAX_ATTACHMENT_BYTES and the multipart's
    part headers (the app's own allowance, chat/attachment_views.py)."""
    limit = environ.get("MAX_ATTACHMENT_BYTES") or chat_config.DEFAULTS["MAX_ATTACHMENT_BYTES"]
    return int(limit) + MULTIPART_SLACK


def render_nginx(
    ports: list[int],
    listen: int,
    run_dir: Path,
    host: str = "127.0.0.1",
    media_ports: list[int] | None = None,
    body_limit: int = upload_body_limit({}),
) -> str:
    """The nginx config for processes on ``ports`` and nginx on ``listen``; /api/attachments
    goes to ``media_ports`` when given, else to ``ports`` too."""

    def lines(on: list[int]) -> str:
        return "\n".join(f"        server {host}:{p} max_fails=0;" for p in on)

    # As root, nginx would run its workers as nobody, who cannot write into a private run dir.
    user = "user root;" if os.geteuid() == 0 else ""
    return (
        TEMPLATE.read_text()
        .replace("{{USER}}", user)
        .replace("{{RUN_DIR}}", str(run_dir))
        .replace("{{SERVERS}}", lines(ports))
        .replace("{{MEDIA_SERVERS}}", lines(media_ports or ports))
        .replace("{{UPLOAD_BODY_LIMIT}}", str(body_limit))
        .replace("{{LISTEN}}", f"{host}:{listen}")
    )


def nginx_binary() -> str:
    """nginx from PATH or Debian's /usr/sbin (not on a normal user's PATH)."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(found, os.X_OK):
        raise SystemExit("nginx is missing: `make nginx` installs it (as root)")
    return found


def prepare_nginx(
    ports: list[int],
    listen: int,
    run_dir: Path,
    host: str,
    media_ports: list[int] | None = None,
    body_limit: int = upload_body_limit({}),
) -> list[str]:
    """Writes the config and temp dirs; returns the command that runs nginx in the foreground."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    conf = run_dir / "nginx.conf"
    conf.write_text(render_nginx(ports, listen, run_dir, host, media_ports, body_limit))
    error_log = str(run_dir / "nginx-error.log")
    return [nginx_binary(), "-p", str(run_dir), "-c", str(conf), "-e", error_log]


def wait(check, timeout: float) -> bool:
    """Polls ``check`` (a process starting or stopping has no event to wait on)."""
    return launch.poll(check, timeout)


def must(done: bool, what: str) -> None:
    """Stops the command when ``what`` did not happen."""
    if not done:
        raise SystemExit(f"cluster: {what} timed out")


class Cluster:
    """The processes and nginx of one run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir.resolve()
        self.state_file = self.run_dir / "cluster.json"
        exists = self.state_file.exists()
        self.state: dict = json.loads(self.state_file.read_text()) if exists else {}

    def save(self) -> None:
        """Writes the state (it holds the environment, possibly SECRET_KEY: owner only)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.state, f, indent=2)
        tmp.replace(self.state_file)

    def env(self) -> dict[str, str]:
        """The processes' environment: that of `up`, overridden by what is set now."""
        saved = self.state.get("env", {})
        now = {k: os.environ[k] for k in APP_VARS if k in os.environ}
        return {**os.environ, **saved, **now}

    def start_process(self, port: int) -> int:
        """Starts one gunicorn process on ``port``; returns the master's pid."""
        command = launch.gunicorn_command(f"{self.state['host']}:{port}")
        proc = launch.spawn(command, self.env(), self.run_dir / f"chat-{port}.log")
        proc.returncode = 0  # detached on purpose: nobody will wait() for it here
        return proc.pid

    def wait_ready(self, port: int, timeout: float = 60) -> None:
        """Returns once the process on ``port`` answers."""
        url = f"http://{self.state['host']}:{port}/healthz"
        must(wait(lambda: answers(url), timeout), f"waiting for :{port} to answer")

    def stop_process(self, port: int, timeout: float = 30) -> float:
        """SIGTERM (a graceful drain), SIGKILL if it overstays; returns the seconds it took."""
        pid = self.state["pids"][str(port)]
        started = time.monotonic()
        if not launch.stop(pid, timeout):
            log(f"process on :{port} overstayed its drain: SIGKILL")
        return time.monotonic() - started

    def all_ports(self) -> list[int]:
        """The chat processes' ports, then the media processes'."""
        return self.state["ports"] + self.state.get("media_ports", [])

    def up(self, processes: int, port: int, host: str, media: int = 0) -> None:
        """Starts the processes (and ``media`` processes for /api/attachments alone) and
        nginx, returns once all answer."""
        if self.state and any(alive(p) for p in self.state.get("pids", {}).values()):
            raise SystemExit("cluster: already running here; `make cluster-stop` first")
        ports = [port + i for i in range(1, processes + 1)]
        media_ports = [port + processes + i for i in range(1, media + 1)]
        given = {k: os.environ[k] for k in APP_VARS if k in os.environ}
        self.state = {
            "host": host,
            "port": port,
            "ports": ports,
            "media_ports": media_ports,
            "pids": {},
            "env": {**DEFAULT_ENV, **given},
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.save()
        try:
            self._start_all()
        except BaseException as exc:
            log("could not start: stopping what did start")
            self.down()
            if isinstance(exc, subprocess.CalledProcessError):
                raise SystemExit(f"cluster: {exc.cmd[0]} failed, see above") from None
            if isinstance(exc, RuntimeError):  # the migration, with its output
                raise SystemExit(f"cluster: {exc}") from None
            raise
        first, last = ports[0], ports[-1]
        log(f"{processes} processes on {host}:{first}..{last}, nginx on http://{host}:{port}")
        if media_ports:
            log(f"/api/attachments on {', '.join(f'{host}:{p}' for p in media_ports)}")
        log(f"logs in {self.run_dir}; `make cluster-restart` rolls, `make cluster-stop` stops")

    def _start_all(self) -> None:
        host, port, ports = self.state["host"], self.state["port"], self.state["ports"]
        env = self.env()
        if create_database(env["DATABASE_URL"]):
            log("created the database")
        launch.migrate(env)
        for p in self.all_ports():
            self.state["pids"][str(p)] = self.start_process(p)
            self.save()
        for p in self.all_ports():
            self.wait_ready(p)
        media = self.state["media_ports"]
        limit = upload_body_limit(env)
        command = prepare_nginx(ports, port, self.run_dir, host, media, limit)
        subprocess.run(command, check=True)  # daemonizes; its pid goes to nginx.pid
        must(wait(lambda: answers(f"http://{host}:{port}/healthz"), 20), "waiting for nginx")

    def restart(self) -> None:
        """Rolling restart: each process drains, stops and starts again before the next one."""
        if not self.state:
            raise SystemExit("cluster: nothing runs here")
        for port in self.all_ports():
            started = time.monotonic()
            took = self.stop_process(port)
            self.state["pids"][str(port)] = self.start_process(port)
            self.save()
            self.wait_ready(port)
            log(f":{port} drained in {took:.1f}s, back in {time.monotonic() - started:.1f}s")

    def status(self) -> int:
        """Prints one line per process and nginx; exit status 0 when all answer."""
        if not self.state:
            print("not running")
            return 1
        host, ok = self.state["host"], True
        for port in self.all_ports():
            pid = self.state["pids"][str(port)]
            up = alive(pid) and answers(f"http://{host}:{port}/healthz")
            ok &= up
            print(f"{host}:{port}\tpid {pid}\t{'up' if up else 'DOWN'}")
        front = answers(f"http://{host}:{self.state['port']}/healthz")
        ok &= front
        print(f"{host}:{self.state['port']}\tnginx\t{'up' if front else 'DOWN'}")
        return 0 if ok else 1

    def down(self) -> None:
        """Stops nginx and every process (all draining at once)."""
        pid_file = self.run_dir / "nginx.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            if alive(pid):
                os.kill(pid, signal.SIGQUIT)  # graceful: finishes the requests it carries
                must(wait(lambda: not alive(pid), 15), "stopping nginx")
        for pid in self.state.get("pids", {}).values():
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
        for port in self.state.get("pids", {}):
            self.stop_process(int(port))
        self.state_file.unlink(missing_ok=True)
        log("stopped")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "restart", "status", "down"])
    parser.add_argument("-n", "--processes", type=int, default=2)
    parser.add_argument("--port", type=int, default=8000, help="nginx; processes use the next")
    parser.add_argument(
        "--media", type=int, default=0, help="processes for /api/attachments alone (after those)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "run" / "cluster")
    args = parser.parse_args(argv)
    cluster = Cluster(args.run_dir)
    if args.command == "up":
        cluster.up(args.processes, args.port, args.host, args.media)
    elif args.command == "restart":
        cluster.restart()
    elif args.command == "status":
        return cluster.status()
    else:
        cluster.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
