"""The benchmark: real gunicorn servers driven by a separate Node load generator over WebSocket.

    .venv/bin/python bench/run.py [--quick] [--configs ceiling,sqlite-1p,...] [--profile]

For each configuration (the ceiling of bench/ceiling.py, or the chat on a database with N
processes; several processes share Redis under a prefix of their own and each client talks
to a fixed process) it measures, on fresh servers and databases: clients brought online,
relay throughput, latency and CPU per message, memory of idle connections; and, per
database, connect time on seeded databases. Prints the figures against the ceiling, then
every figure; writes ``bench/results/bench-<time>.json`` and ``.png``. See
docs/performance.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seed import SEEDS, seed  # noqa: E402
from bench.uploads import KINDS, LIMITS, Uploaders, people  # noqa: E402
from chat import config  # noqa: E402
from deploy.databases import PG_URL, drop_pg_databases, pg_database  # noqa: E402
from deploy.launch import WORKER, Server, migrate  # noqa: E402

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# Limits meant for people, not for a load generator on one IP sending as fast as it can.
UNLIMITED = {
    "CONNECT_RATE": "1000000",
    "CONNECT_BURST": "1000000",
    "SIGNUP_RATE": "1000000",
    "SIGNUP_BURST": "1000000",
    "RESUME_RATE": "1000000",
    "RESUME_BURST": "1000000",
    "SEND_RATE": "1000000",
    "SEND_BURST": "1000000",
}


@dataclass
class Plan:
    """Sizes of one run; ``--quick`` shrinks them for a smoke run."""

    online: tuple[int, ...] = (100, 1_000)
    pairs: int = 50
    messages: int = 200
    idle: tuple[int, ...] = (1_000, 5_000)
    seeds: tuple[str, ...] = tuple(SEEDS)
    connect_repeat: int = 60
    paced_rate: int = 500  # msg/s offered in the open-loop relay: latency below saturation
    uploads: tuple[str, ...] = KINDS  # relay-uploads: one client per kind uploading 1 MB files
    uploads_alone_s: float = 5.0  # relay-uploads: seconds the uploads are measured alone first
    # relay-uploads, within the limits: this many people, each uploading a 1 MB file as often
    # as the default UPLOAD_RATE allows, non-stop.
    limited_uploaders: int = 10
    extra: dict[str, Any] = field(default_factory=dict)


# The columns of `make bench`: the ceiling first, every ratio is to it (issue 12).
CONFIGS = ("ceiling", "sqlite-1p", "postgresql-1p", "postgresql-2p")
QUICK_CONFIGS = ("ceiling", "sqlite-1p")
QUICK = Plan(
    online=(100,),
    pairs=10,
    messages=50,
    idle=(500,),
    seeds=("empty", "others-100k"),
    connect_repeat=10,
    paced_rate=200,
    uploads_alone_s=3.0,
    limited_uploaders=4,
)


def raise_fd_limit() -> int:
    """Thousands of sockets on each side: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pg_available() -> bool:
    """True when the PostgreSQL of the test suite answers."""
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def redis_available() -> bool:
    """True when Redis answers."""
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping())
    except redis.RedisError:
        return False


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def cpu_seconds(pids: list[int]) -> list[float]:
    """User + system CPU time used so far by each of ``pids``."""
    tick = os.sysconf("SC_CLK_TCK")
    out = []
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out.append((int(fields[11]) + int(fields[12])) / tick)  # utime, stime
    return out


def cpu_used(before: list[float], pids: list[int]) -> dict[str, Any]:
    """CPU seconds each of ``pids`` used since ``before``, and their sum."""
    used = [after - b for after, b in zip(cpu_seconds(pids), before, strict=True)]
    return {"serverCpuS": sum(used), "serverCpuSByProcess": used}


def workers(servers: list[Server]) -> list[int]:
    """The gunicorn worker process of each server (the master only supervises)."""
    pids = []
    for srv in servers:
        assert srv.proc is not None
        pids += [p for p in srv.pids() if p != srv.proc.pid]
    return pids


class Ceiling(Server):
    """The bare python-socketio relay of bench/ceiling.py on the chat's gunicorn worker."""

    def command(self) -> list[str]:
        """gunicorn as deploy/launch.py runs it, without the chat's config file and its hooks."""
        return [
            str(Path(sys.executable).parent / "gunicorn"),
            "-k",
            WORKER,
            "-w",
            "1",
            "--worker-connections",
            "10000",
            "-b",
            f"127.0.0.1:{self.port}",
            "bench.ceiling:app",
        ]


@dataclass(frozen=True)
class Config:
    """One column of the table: the ceiling, or the chat on a database with N processes."""

    name: str
    db: str | None  # None: the ceiling
    procs: int

    @classmethod
    def parse(cls, name: str) -> Config:
        """``ceiling`` or ``<sqlite|postgresql>-<N>p``."""
        if name == "ceiling":
            return cls(name, None, 1)
        kind, _, procs = name.rpartition("-")
        if kind not in ("sqlite", "postgresql") or not procs.endswith("p"):
            raise argparse.ArgumentTypeError(f"unknown configuration {name!r}")
        return cls(name, kind, int(procs[:-1]))


class Database:
    """Fresh migrated databases of one kind, each made from a migrated template."""

    def __init__(self, kind: str, workdir: Path):
        self.kind = kind
        self.workdir = workdir
        self.count = 0
        if kind == "sqlite":
            self.template = workdir / "template.db"
            migrate({"DATABASE_URL": f"sqlite:///{self.template}"})
            # The migrating process may leave its work in the WAL file: fold it in, so
            # that copying the main file copies the schema.
            with sqlite3.connect(self.template) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            self.template_url = pg_database("chat_bench_template")
            migrate({"DATABASE_URL": self.template_url})

    def fresh(self) -> str:
        """The URL of a new empty migrated database."""
        self.count += 1
        if self.kind == "sqlite":
            path = self.workdir / f"db{self.count}.db"
            shutil.copy(self.template, path)
            return f"sqlite:///{path}"
        import psycopg

        template = self.template_url.rsplit("/", 1)[1]
        name = f"chat_bench_{self.count}_{os.getpid()}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return PG_URL.rsplit("/", 1)[0] + "/" + name

    @staticmethod
    def sqlalchemy_uri(url: str) -> str:
        """The URI create_app takes for ``url``."""
        return url.replace("postgresql://", "postgresql+psycopg://", 1)


class Run:
    """One benchmark run: its servers, load generator, results and clean-up."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.plan = QUICK if args.quick else Plan()
        if args.online:
            self.plan.online = tuple(int(n) for n in args.online.split(","))
        if args.idle:
            self.plan.idle = tuple(int(n) for n in args.idle.split(","))
        if args.uploads:
            self.plan.uploads = args.uploads
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        self.prefix = f"bench-{os.getpid()}-{uuid.uuid4().hex[:6]}:"
        self.workdir = Path(tempfile.mkdtemp(prefix="chat-bench-"))
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.logs = RESULTS / f"bench-{self.stamp}-logs"
        self.logs.mkdir()
        self.results: dict[str, Any] = {}
        self.extra_env = dict(kv.split("=", 1) for kv in args.env)

    # --- processes ------------------------------------------------------------------

    def start(self, url: str, procs: int, label: str, extra: dict | None = None) -> list[Server]:
        """Starts ``procs`` servers on the database ``url`` (Redis when more than one)."""
        env = {"DATABASE_URL": url, **UNLIMITED, **self.extra_env, **(extra or {})}
        if procs > 1:
            env["REDIS_URL"] = REDIS_URL
            env["REDIS_PREFIX"] = f"{self.prefix}{label}:"
        else:
            env["REDIS_URL"] = ""
        servers = []
        for i in range(procs):
            srv = Server(env, log_path=self.logs / f"{label}-{i}.log")
            # A busy machine may answer the first health checks slowly.
            servers.append(srv.start(timeout=30, probe_timeout=5))
        return servers

    def launch(self, db: Database | None, procs: int, label: str) -> list[Server]:
        """The servers of one scenario: the ceiling (no database), or the chat on a fresh one."""
        if db is not None:
            return self.start(db.fresh(), procs, label)
        srv = Ceiling({}, log_path=self.logs / f"{label}-0.log")
        return [srv.start(timeout=30, probe_timeout=5)]

    def stop(self, servers: list[Server]) -> None:
        """Stops every server of a scenario."""
        for srv in servers:
            srv.stop()

    def load(self, spec: dict, deadline_s: float = 180) -> dict:
        """Runs one scenario of the Node load generator and returns its result."""
        spec = {**spec, "deadlineMs": int(deadline_s * 1000)}
        proc = subprocess.run(
            ["node", str(BENCH / "load.js"), json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=deadline_s + 30,
            cwd=BENCH,
        )
        return self._result(proc.stdout, proc.stderr, proc.returncode)

    @staticmethod
    def _result(stdout: str, stderr: str, code: int) -> dict:
        for line in stdout.splitlines():
            if line.startswith('{"result"'):
                return json.loads(line)["result"]
        return {"error": f"load generator exited {code}: {stderr.strip()[-500:]}"}

    def profiler(self, servers: list[Server], name: str) -> subprocess.Popen | None:
        """With --profile, py-spy samples the first worker into results/ (folded stacks)."""
        if not self.args.profile:
            return None
        out_file = RESULTS / f"bench-{self.stamp}-{name}.folded"
        return subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(workers(servers)[0]),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(out_file),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @staticmethod
    def stop_profiler(profiler: subprocess.Popen | None) -> None:
        """SIGINT: py-spy writes its file and exits."""
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(30)

    # --- scenarios ------------------------------------------------------------------

    def online(self, db: Database | None, procs: int, label: str, n: int) -> dict:
        """N clients connecting at once until each has its ``users``."""
        servers = self.launch(db, procs, f"{label}-online{n}")
        profiler = self.profiler(servers, f"{label}-online{n}")
        try:
            cpu = cpu_seconds(workers(servers))
            out = self.load(
                {"scenario": "online", "urls": [s.url for s in servers], "n": n, "prefix": "on"}
            )
            out.update(cpu_used(cpu, workers(servers)))
            out["peakRssKB"] = sum(memory_kb(p)["VmHWM"] for p in workers(servers))
        finally:
            self.stop_profiler(profiler)
            self.stop(servers)
        return out

    def relay(
        self, db: Database | None, procs: int, label: str, rate: int = 0, spread: bool = False
    ) -> dict:
        """50 pairs x 200 acknowledged messages: one in flight per sender, or ``rate`` msg/s
        offered on a fixed schedule (open loop). Senders on the first process and receivers
        on the last; ``spread``: senders on every process, each receiver on the next one."""
        name = f"{label}-relay" + (f"{rate}" if rate else "") + ("-spread" if spread else "")
        servers = self.launch(db, procs, name)
        try:
            return self.measure_relay(servers, name, rate, spread)
        finally:
            self.stop(servers)

    def relay_uploads(
        self,
        db: Database,
        procs: int,
        label: str,
        rate: int = 0,
        limited: bool = False,
        media: bool = False,
    ) -> dict:
        """The relay of ``relay`` while clients (one per kind of ``plan.uploads``, each its own
        user) upload a 1 MB file to the first server back to back: the relay's figures, and
        the uploads' MB/s alone (``plan.uploads_alone_s`` before the relay) and beside it.

        ``limited``: ``plan.limited_uploaders`` clients instead, each uploading once per
        1 / the default ``UPLOAD_RATE`` seconds, the most a person may keep up. ``media``:
        the uploads go to a process of their own on the same database (what nginx does with
        a media process, docs/scaling.md); its CPU is ``mediaCpuS``, not the relay's."""
        name = (
            f"{label}-relay-uploads"
            + (f"{rate}" if rate else "")
            + ("-limited" if limited else "")
            + ("-media" if media else "")
        )
        url = db.fresh()
        kinds = list(self.plan.uploads)
        interval = 0.0
        if limited:
            kinds = [kinds[i % len(kinds)] for i in range(self.plan.limited_uploaders)]
            interval = 1 / config.DEFAULTS["UPLOAD_RATE"]
        tokens = [token for _, token in people(url, [f"up{i}" for i in range(len(kinds))])]
        servers = self.start(url, procs, name, LIMITS)
        media_servers = self.start(url, 1, f"{name}-m", LIMITS) if media else []
        uploading = media_servers or servers
        uploaders = Uploaders(uploading[0].url, tokens, kinds, interval)
        try:
            uploaders.start()
            warm = uploaders.wait_uploads(1)  # the server has served one of each
            cpu = cpu_seconds(workers(uploading))
            time.sleep(self.plan.uploads_alone_s)  # a measurement window, not a synchronisation
            alone = time.monotonic()
            alone_cpu = cpu_used(cpu, workers(uploading))
            media_cpu = cpu_seconds(workers(media_servers))
            out = self.measure_relay(servers, name, rate)
            if media:
                out["mediaCpuS"] = cpu_used(media_cpu, workers(media_servers))["serverCpuS"]
            beside = time.monotonic()
        finally:
            uploaders.stop()
            self.stop(servers + media_servers)
        out["uploadsAlone"] = {**uploaders.figures(warm, alone), **alone_cpu}
        out["uploads"] = uploaders.figures(alone, beside)
        return out

    def measure_relay(
        self, servers: list[Server], name: str, rate: int, spread: bool = False
    ) -> dict:
        """One run of the relay load on running ``servers``, with their CPU and peak memory."""
        profiler = None if rate else self.profiler(servers, name)
        try:
            spec = {
                "scenario": "relay",
                "urls": [s.url for s in servers],
                "pairs": self.plan.pairs,
                "messages": self.plan.messages,
                "window": self.args.window,
                "rate": rate,
                "spread": spread,
                "prefix": "rl",
            }
            cpu = cpu_seconds(workers(servers))
            out = self.load(spec)
            out.update(cpu_used(cpu, workers(servers)))
            out["peakRssKB"] = sum(memory_kb(p)["VmHWM"] for p in workers(servers))
        finally:
            self.stop_profiler(profiler)
        return out

    def idle(self, db: Database | None, procs: int, label: str, n: int) -> dict:
        """N idle clients: memory of the worker processes before and with them."""
        servers = self.launch(db, procs, f"{label}-idle{n}")
        urls = [s.url for s in servers]
        try:
            # Warm up imports and caches so that the baseline is a serving process.
            self.load({"scenario": "online", "urls": urls, "n": 20, "prefix": "warm"})
            time.sleep(1)  # let the warm-up sockets' disconnects finish before measuring
            pids = workers(servers)
            before = sum(memory_kb(p)["VmRSS"] for p in pids)
            spec = {
                "scenario": "idle",
                "urls": urls,
                "n": n,
                "prefix": "idle",
                "deadlineMs": 300_000,
            }
            proc = subprocess.Popen(
                ["node", str(BENCH / "load.js"), json.dumps(spec)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=BENCH,
            )
            assert proc.stdout is not None and proc.stdin is not None
            ready_line = proc.stdout.readline()
            ready = json.loads(ready_line)["ready"] if ready_line.startswith('{"ready"') else {}
            time.sleep(2)  # connections are idle now: let the server settle before measuring
            with_idle = sum(memory_kb(p)["VmRSS"] for p in pids)
            peak = sum(memory_kb(p)["VmHWM"] for p in pids)
            stdout, stderr = proc.communicate("done\n", timeout=120)
            out = self._result(stdout, stderr, proc.returncode)
            connected = ready.get("connected", 0)
            out.update(
                rssBeforeKB=before,
                rssIdleKB=with_idle,
                peakRssKB=peak,
                perConnectionKB=(with_idle - before) / connected if connected else None,
                connectElapsedMs=ready.get("elapsedMs"),
            )
        finally:
            self.stop(servers)
        return out

    def connect_times(self, db: Database, label: str) -> dict:
        """Connect-to-``users`` time of one seeded user per seed, the seeds taking turns."""
        out: dict[str, dict] = {}
        targets, servers = [], []
        try:
            for key in self.plan.seeds:
                spec = SEEDS[key]
                url = db.fresh()
                t0 = time.monotonic()
                token = seed(Database.sqlalchemy_uri(url), spec)
                out[key] = {
                    "seed": spec.name,
                    "stored": spec.stored,
                    "users": spec.users,
                    "seedS": time.monotonic() - t0,
                }
                [srv] = self.start(url, 1, f"{label}-seed-{key}")
                servers.append(srv)
                targets.append({"key": key, "url": srv.url, "sessionID": token})
            res = self.load(
                {
                    "scenario": "connect",
                    "targets": targets,
                    "repeat": self.plan.connect_repeat,
                    "warmup": 5,
                }
            )
        finally:
            self.stop(servers)
        for target in res.get("targets", []):
            out[target["key"]].update(target)
        for key, figures in out.items():
            p50 = (figures.get("ms") or {}).get("p50")
            print(f"    connect {key:12s} {fmt_ms(p50)} ms", flush=True)
        if "error" in res:
            print(f"    connect: {res['error']}", flush=True)
        return out

    # --- driver ---------------------------------------------------------------------

    def configs(self) -> list[Config]:
        """The configurations asked for that this machine can run."""
        wanted = self.args.configs
        pg = any(c.db == "postgresql" for c in wanted) and pg_available()
        redis = any(c.procs > 1 for c in wanted) and redis_available()
        out = []
        for cfg in wanted:
            if cfg.db == "postgresql" and not pg:
                print(f"PostgreSQL is not reachable: skipping {cfg.name}", flush=True)
            elif cfg.procs > 1 and not redis:
                print(f"Redis is not reachable: skipping {cfg.name}", flush=True)
            else:
                out.append(cfg)
        return out

    def execute(self) -> dict:
        """Runs every scenario of every configuration and returns the results."""
        fd_limit = raise_fd_limit()
        self.results = {
            "command": " ".join(["bench/run.py", *sys.argv[1:]]),
            "started": self.stamp,
            "machine": {
                "cpus": os.cpu_count(),
                "loadavgBefore": os.getloadavg(),
                "python": platform.python_version(),
                "node": subprocess.run(
                    ["node", "--version"], capture_output=True, text=True
                ).stdout.strip(),
                "fdLimit": fd_limit,
            },
            "plan": self.plan.__dict__,
            "configs": {},
        }
        dbs: dict[str, Database] = {}
        for cfg in self.configs():
            label, kind, procs = cfg.name, cfg.db, cfg.procs
            print(f"== {label}", flush=True)
            db = None
            if kind is not None:
                db = dbs.get(kind) or dbs.setdefault(kind, Database(kind, self.workdir))
            res: dict[str, Any] = {"db": kind, "procs": procs}
            only = self.args.only.split(",")
            for n in self.plan.online if "online" in only else ():
                res[f"online{n}"] = self.online(db, procs, label, n)
                print(
                    f"    online {n}: {fmt_ms(res[f'online{n}'].get('elapsedMs'))} ms", flush=True
                )
            if "relay" in only:
                res["relay"] = r = self.relay(db, procs, label)
                res["relayPaced"] = p = self.relay(db, procs, label, self.plan.paced_rate)
                print(
                    f"    relay at {self.plan.paced_rate}/s: p50 "
                    f"{fmt_ms((p.get('latencyMs') or {}).get('p50'))} p99 "
                    f"{fmt_ms((p.get('latencyMs') or {}).get('p99'))} ms lost {p.get('lost')}",
                    flush=True,
                )
                print(
                    f"    relay: {fmt(r.get('msgPerS'))} msg/s p99 "
                    f"{fmt_ms((r.get('latencyMs') or {}).get('p99'))} ms lost {r.get('lost')}",
                    flush=True,
                )
                if procs > 1:
                    res["relaySpread"] = s = self.relay(db, procs, label, spread=True)
                    print(
                        f"    relay, senders on every process: {fmt(s.get('msgPerS'))} msg/s "
                        f"p99 {fmt_ms((s.get('latencyMs') or {}).get('p99'))} ms "
                        f"lost {s.get('lost')}",
                        flush=True,
                    )
            if "relay-uploads" in only and db is not None:
                res["relayUploads"] = u = self.relay_uploads(db, procs, label)
                res["relayPacedUploads"] = self.relay_uploads(
                    db, procs, label, self.plan.paced_rate
                )
                res["relayLimitedUploads"] = self.relay_uploads(db, procs, label, limited=True)
                if kind == "postgresql" and procs == 1:  # SQLite's processes share one lock
                    res["relayLimitedUploadsMedia"] = self.relay_uploads(
                        db, procs, label, limited=True, media=True
                    )
                print(
                    f"    relay with uploads: {fmt(u.get('msgPerS'))} msg/s p99 "
                    f"{fmt_ms((u.get('latencyMs') or {}).get('p99'))} ms lost {u.get('lost')}; "
                    f"uploads {fmt((u.get('uploads') or {}).get('mbPerS'), 1)} MB/s "
                    f"(alone {fmt((u.get('uploadsAlone') or {}).get('mbPerS'), 1)})",
                    flush=True,
                )
                for key, where in (
                    ("relayLimitedUploads", ""),
                    ("relayLimitedUploadsMedia", ", to a media process"),
                ):
                    lim = res.get(key)
                    if lim is None:
                        continue
                    print(
                        f"    relay beside uploads at the default limit{where}: "
                        f"{fmt(lim.get('msgPerS'))} msg/s p99 "
                        f"{fmt_ms((lim.get('latencyMs') or {}).get('p99'))} ms lost "
                        f"{lim.get('lost')}; uploads "
                        f"{fmt((lim.get('uploads') or {}).get('mbPerS'), 1)} MB/s",
                        flush=True,
                    )
            for n in self.plan.idle if "idle" in only else ():
                res[f"idle{n}"] = self.idle(db, procs, label, n)
                print(
                    f"    idle {n}: {fmt(res[f'idle{n}'].get('perConnectionKB'))} KB/conn",
                    flush=True,
                )
            if db is not None and procs == 1 and "connect" in only:
                res["connect"] = self.connect_times(db, label)
            self.results["configs"][label] = res
        self.results["machine"]["loadavgAfter"] = os.getloadavg()
        return self.results

    def cleanup(self) -> None:
        """Drops this run's databases and Redis keys, removes its temporary files."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        try:
            drop_pg_databases()
        except Exception as exc:  # PostgreSQL absent: nothing to drop
            print(f"(no PostgreSQL clean-up: {exc})")
        if redis_available():
            import redis

            r = redis.Redis.from_url(REDIS_URL)
            keys = list(r.scan_iter(match=f"{self.prefix}*", count=1000))
            if keys:
                r.delete(*keys)


def fmt(value: float | None, digits: int = 0) -> str:
    """A number for the table, or a dash."""
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def fmt_ms(value: float | None) -> str:
    """Milliseconds with one decimal."""
    return fmt(value, 1)


def per_message_us(relay: dict) -> str:
    """CPU µs per delivered message of each server process, and their sum with several."""
    each = [cpu / relay["delivered"] * 1e6 for cpu in relay["serverCpuSByProcess"]]
    if len(each) == 1:
        return fmt(each[0])
    return " + ".join(fmt(us) for us in each) + f" = {fmt(sum(each))}"


def online_time(online: dict) -> str:
    """Seconds to bring N clients online; how many made it, when some were refused."""
    seconds = fmt(online["elapsedMs"] / 1000, 2)
    if online["connected"] == online["n"]:
        return seconds
    return f"{seconds} ({online['connected']:,}/{online['n']:,})"


def vs_one_process(configs: dict, config: dict, get) -> str:
    """``get`` of ``config``'s spread relay over ``get`` of the relay of the one-process
    configuration of the same database in the same run."""
    one = next((c for c in configs.values() if c["db"] == config["db"] and c["procs"] == 1), None)
    return f"{get(config['relaySpread']) / get(one['relay']):.2f}x"


def beside(config: dict, key: str, *path: str) -> str:
    """A figure of the relay with uploads (``key``) over the same figure of the relay alone."""
    alone = "relayPaced" if key == "relayPacedUploads" else "relay"  # same offered load
    with_uploads, without = config[key], config[alone]
    for step in path:
        with_uploads, without = with_uploads[step], without[step]
    return f"{with_uploads / without:.2f}x"


def p50_p99(relay: dict) -> str:
    """Latency p50 / p99 of a relay run, in ms."""
    return f"{fmt_ms(relay['latencyMs']['p50'])} / {fmt_ms(relay['latencyMs']['p99'])}"


def upload_rates(relay: dict) -> str:
    """The uploads' MB/s in all beside a relay run / before it, alone."""
    return f"{fmt(relay['uploads']['mbPerS'], 1)} / {fmt(relay['uploadsAlone']['mbPerS'], 1)}"


def upload_cpu(relay: dict) -> str:
    """Server CPU ms per MB the uploads completed while they ran alone."""
    alone = relay["uploadsAlone"]
    mb = alone["mbPerS"] * alone["seconds"]
    return fmt(alone["serverCpuS"] * 1000 / mb, 1) if mb else "-"


def headline(results: dict) -> str:
    """The figures of issue 12 side by side, each against the ceiling of the same run."""
    configs = results["configs"]
    names = list(configs)
    ceiling = configs.get("ceiling", {})
    n = max(results["plan"]["online"])
    rel = f"relay {results['plan']['pairs']}x{results['plan']['messages']}"
    rows: list[tuple[str, list[str]]] = []

    def row(title: str, get, ratio: bool = False) -> None:
        cells = []
        for name in names:
            try:
                value = get(configs[name])
                if ratio:
                    value = f"{value / get(ceiling):.2f}x"
                cells.append(value if isinstance(value, str) else fmt(value, 1))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("-")
        rows.append((title, cells))

    row(f"{rel}: msg/s", lambda c: fmt(c["relay"]["msgPerS"]))
    row("  msg/s vs the ceiling", lambda c: c["relay"]["msgPerS"], ratio=True)
    row("  latency p50 (ms)", lambda c: c["relay"]["latencyMs"]["p50"])
    row("  latency p99 (ms)", lambda c: c["relay"]["latencyMs"]["p99"])
    row("  p99 vs the ceiling", lambda c: c["relay"]["latencyMs"]["p99"], ratio=True)
    row("  CPU µs per delivered msg, per process", lambda c: per_message_us(c["relay"]))
    row(
        "  CPU per msg vs the ceiling",
        lambda c: c["relay"]["serverCpuS"] / c["relay"]["delivered"],
        ratio=True,
    )
    row("  lost", lambda c: fmt(c["relay"]["lost"]))
    spread = f"{rel}, senders on every process"
    row(f"{spread}: msg/s", lambda c: fmt(c["relaySpread"]["msgPerS"]))
    row(
        "  msg/s vs 1 process of the same database",
        lambda c: vs_one_process(configs, c, lambda r: r["msgPerS"]),
    )
    row("  latency p50 / p99 (ms)", lambda c: p50_p99(c["relaySpread"]))
    row("  CPU µs per delivered msg, per process", lambda c: per_message_us(c["relaySpread"]))
    row(
        "  CPU per msg vs 1 process",
        lambda c: vs_one_process(configs, c, lambda r: r["serverCpuS"] / r["delivered"]),
    )
    row("  lost", lambda c: fmt(c["relaySpread"]["lost"]))
    up = f"{rel} with uploads"
    row(f"{up}: msg/s", lambda c: fmt(c["relayUploads"]["msgPerS"]))
    row("  msg/s vs the relay alone", lambda c: beside(c, "relayUploads", "msgPerS"))
    row("  latency p50 / p99 (ms)", lambda c: p50_p99(c["relayUploads"]))
    row("  p99 vs the relay alone", lambda c: beside(c, "relayUploads", "latencyMs", "p99"))
    row("  lost", lambda c: fmt(c["relayUploads"]["lost"]))
    row("  uploads MB/s beside the relay / alone", lambda c: upload_rates(c["relayUploads"]))
    paced = f"{up}, {results['plan']['paced_rate']:,} msg/s offered"
    row(f"{paced}: p50 / p99 (ms)", lambda c: p50_p99(c["relayPacedUploads"]))
    row("  p99 vs the relay alone", lambda c: beside(c, "relayPacedUploads", "latencyMs", "p99"))
    row("  lost", lambda c: fmt(c["relayPacedUploads"]["lost"]))
    limited = (
        f"{rel} beside {results['plan']['limited_uploaders']} people uploading 1 MB "
        "at the default limit"
    )
    row(
        f"{limited}: msg/s vs the relay alone",
        lambda c: beside(c, "relayLimitedUploads", "msgPerS"),
    )
    row("  p99 vs the relay alone", lambda c: beside(c, "relayLimitedUploads", "latencyMs", "p99"))
    row("  uploads MB/s", lambda c: fmt(c["relayLimitedUploads"]["uploads"]["mbPerS"], 1))
    row("  lost", lambda c: fmt(c["relayLimitedUploads"]["lost"]))
    media = f"{limited}, uploads to a media process"
    row(
        f"{media}: msg/s vs the relay alone",
        lambda c: beside(c, "relayLimitedUploadsMedia", "msgPerS"),
    )
    row(
        "  p99 vs the relay alone",
        lambda c: beside(c, "relayLimitedUploadsMedia", "latencyMs", "p99"),
    )
    row(
        "  uploads MB/s; media process CPU s",
        lambda c: (
            f"{fmt(c['relayLimitedUploadsMedia']['uploads']['mbPerS'], 1)}; "
            f"{c['relayLimitedUploadsMedia']['mediaCpuS']:.1f}"
        ),
    )
    row("  lost", lambda c: fmt(c["relayLimitedUploadsMedia"]["lost"]))
    row(f"online {n:,}: time (s), connected when not all", lambda c: online_time(c[f"online{n}"]))
    row("  time vs the ceiling", lambda c: c[f"online{n}"]["elapsedMs"], ratio=True)
    row("  CPU ms per connect", lambda c: c[f"online{n}"]["serverCpuS"] / n * 1000)
    return markdown(names, rows)


def table(results: dict) -> str:
    """The figures as a Markdown table: one column per configuration."""
    configs = results["configs"]
    names = list(configs)
    rows: list[tuple[str, list[str]]] = []

    def row(title: str, get) -> None:
        cells = []
        for name in names:
            try:
                cells.append(get(configs[name]))
            except (KeyError, TypeError):
                cells.append("-")
        rows.append((title, cells))

    plan = results["plan"]
    for n in plan["online"]:
        row(f"online {n:,}: connected", lambda c, n=n: f"{c[f'online{n}']['connected']:,}/{n:,}")
        row(f"online {n:,}: time (ms)", lambda c, n=n: fmt_ms(c[f"online{n}"]["elapsedMs"]))
        row(
            f"online {n:,}: presence events received",
            lambda c, n=n: fmt(c[f"online{n}"]["presenceEventsReceived"]),
        )
    rel = f"relay {plan['pairs']}x{plan['messages']}"
    row(f"{rel}: delivered / sent", lambda c: f"{c['relay']['delivered']:,}/{c['relay']['sent']:,}")
    row(f"{rel}: lost", lambda c: fmt(c["relay"]["lost"]))
    row(f"{rel}: msg/s", lambda c: fmt(c["relay"]["msgPerS"]))
    for p in ("p50", "p95", "p99"):
        row(f"{rel}: latency {p} (ms)", lambda c, p=p: fmt_ms(c["relay"]["latencyMs"][p]))
    row(
        f"{rel}: CPU s, server / load generator",
        lambda c: f"{c['relay']['serverCpuS']:.1f} / {c['relay']['loadCpuS']:.1f}",
    )
    paced = f"relay at {plan['paced_rate']:,} msg/s offered"
    row(
        f"{paced}: delivered / lost",
        lambda c: f"{c['relayPaced']['delivered']:,} / {c['relayPaced']['lost']:,}",
    )
    for p in ("p50", "p95", "p99"):
        row(f"{paced}: latency {p} (ms)", lambda c, p=p: fmt_ms(c["relayPaced"]["latencyMs"][p]))
    row(f"{rel}: server peak RSS (MB)", lambda c: fmt(c["relay"]["peakRssKB"] / 1024, 1))
    up = f"{rel} with uploads"
    row(
        f"{up}: delivered / sent",
        lambda c: f"{c['relayUploads']['delivered']:,}/{c['relayUploads']['sent']:,}",
    )
    row(f"{up}: lost", lambda c: fmt(c["relayUploads"]["lost"]))
    row(f"{up}: msg/s", lambda c: fmt(c["relayUploads"]["msgPerS"]))
    for p in ("p50", "p95", "p99"):
        row(f"{up}: latency {p} (ms)", lambda c, p=p: fmt_ms(c["relayUploads"]["latencyMs"][p]))
    row(
        f"{up}: CPU s, server / load generator",
        lambda c: f"{c['relayUploads']['serverCpuS']:.1f} / {c['relayUploads']['loadCpuS']:.1f}",
    )
    for i, kind in enumerate(plan.get("uploads", ())):
        row(
            f"{up}: {kind} uploads MB/s beside / alone",
            lambda c, i=i: (
                f"{fmt(c['relayUploads']['uploads']['clients'][i]['mbPerS'], 1)} / "
                f"{fmt(c['relayUploads']['uploadsAlone']['clients'][i]['mbPerS'], 1)}"
            ),
        )
    row(f"{up}: server CPU ms per MB uploaded, alone", lambda c: upload_cpu(c["relayUploads"]))
    pu = f"{paced} with uploads"
    row(
        f"{pu}: delivered / lost",
        lambda c: f"{c['relayPacedUploads']['delivered']:,} / {c['relayPacedUploads']['lost']:,}",
    )
    for p in ("p50", "p95", "p99"):
        row(
            f"{pu}: latency {p} (ms)",
            lambda c, p=p: fmt_ms(c["relayPacedUploads"]["latencyMs"][p]),
        )
    row(f"{pu}: uploads MB/s beside / alone", lambda c: upload_rates(c["relayPacedUploads"]))
    for n in plan["idle"]:
        row(f"idle {n:,}: connected", lambda c, n=n: f"{c[f'idle{n}']['connected']:,}/{n:,}")
        row(
            f"idle {n:,}: KB per connection",
            lambda c, n=n: fmt(c[f"idle{n}"]["perConnectionKB"], 1),
        )
        row(
            f"idle {n:,}: server peak RSS (MB)",
            lambda c, n=n: fmt(c[f"idle{n}"]["peakRssKB"] / 1024, 1),
        )
    for key in plan["seeds"]:
        row(
            f"connect p50 (ms), {SEEDS[key].name}",
            lambda c, k=key: fmt_ms(c["connect"][k]["ms"]["p50"]),
        )

    return markdown(names, rows)


def markdown(names: list[str], rows: list[tuple[str, list[str]]]) -> str:
    """Rows of cells as a Markdown table with one right-aligned column per name."""
    width = max(len(t) for t, _ in rows)
    widths = [max(len(n), *(len(cells[i]) for _, cells in rows)) for i, n in enumerate(names)]
    lines = [
        "| "
        + "metric".ljust(width)
        + " | "
        + " | ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))
        + " |",
        "|" + "-" * (width + 2) + "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|",
    ]
    for title, cells in rows:
        lines.append(
            "| "
            + title.ljust(width)
            + " | "
            + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
            + " |"
        )
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    """Four panels: throughput, latency, memory per idle connection, connect time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = results["configs"]
    names = list(configs)
    plan = results["plan"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))

    def val(get):
        out = []
        for n in names:
            try:
                out.append(float(get(configs[n])))
            except (KeyError, TypeError):
                out.append(0.0)
        return out

    ax = axes[0][0]
    ax.bar(names, val(lambda c: c["relay"]["msgPerS"]), color="tab:blue")
    ax.axhline(5000, color="tab:red", linestyle="--", label="target 5,000")
    ax.set_title(f"relay {plan['pairs']} pairs x {plan['messages']}: delivered msg/s")
    ax.legend()

    ax = axes[0][1]
    width = 0.25
    xs = range(len(names))
    for i, p in enumerate(("p50", "p95", "p99")):
        ax.bar(
            [x + (i - 1) * width for x in xs],
            val(lambda c, p=p: c["relay"]["latencyMs"][p]),
            width,
            label=p,
        )
    ax.axhline(20, color="tab:red", linestyle="--", label="p99 target 20 ms")
    ax.set_xticks(list(xs), names)
    ax.set_title("end-to-end latency (ms)")
    ax.legend()

    ax = axes[1][0]
    for i, n in enumerate(plan["idle"]):
        ax.bar(
            [x + (i - 0.5) * 0.4 for x in xs],
            val(lambda c, n=n: c[f"idle{n}"]["perConnectionKB"]),
            0.4,
            label=f"{n:,} idle",
        )
    ax.axhline(50, color="tab:red", linestyle="--", label="target 50 KB")
    ax.set_xticks(list(xs), names)
    ax.set_title("server memory per idle connection (KB)")
    ax.legend()

    ax = axes[1][1]
    with_connect = [n for n in names if "connect" in configs[n]]
    seeds = plan["seeds"]
    for i, name in enumerate(with_connect):
        ys = [configs[name]["connect"].get(k, {}).get("ms", {}).get("p50") or 0 for k in seeds]
        ax.bar([x + (i - 0.5) * 0.4 for x in range(len(seeds))], ys, 0.4, label=name)
    ax.set_xticks(range(len(seeds)), [SEEDS[k].name for k in seeds], rotation=15, fontsize=7)
    ax.set_title("connect-to-users p50 (ms)")
    ax.legend()

    fig.suptitle(f"chat benchmark {results['started']} ({results['machine']['cpus']} cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def kinds(names: str) -> tuple[str, ...]:
    """``--uploads``: kinds of uploaded file, each one of KINDS."""
    out = tuple(n for n in names.split(",") if n)
    unknown = set(out) - set(KINDS)
    if unknown or not out:
        raise argparse.ArgumentTypeError(f"kinds of upload are {', '.join(KINDS)}")
    return out


def main() -> int:
    """Parses the options, runs, prints the table and writes JSON and PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, ceiling and SQLite")
    parser.add_argument(
        "--configs",
        type=lambda names: [Config.parse(n) for n in names.split(",") if n],
        help=f"comma-separated columns (default {','.join(CONFIGS)}; --quick: ceiling,sqlite-1p)",
    )
    parser.add_argument("--window", type=int, default=1, help="unacked messages per sender")
    parser.add_argument(
        "--only",
        default="online,relay,relay-uploads,idle,connect",
        help="scenarios to run (default: all)",
    )
    parser.add_argument("--online", help="clients brought online, comma-separated (100,1000)")
    parser.add_argument("--idle", help="idle connections, comma-separated (1000,5000)")
    parser.add_argument(
        "--uploads",
        type=kinds,
        help=f"relay-uploads: one uploading client per kind listed ({','.join(KINDS)})",
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="server environment"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the first worker in online and relay (folded stacks in results/)",
    )
    args = parser.parse_args()
    if args.configs is None:
        names = QUICK_CONFIGS if args.quick else CONFIGS
        args.configs = [Config.parse(n) for n in names]
    if not (BENCH / "node_modules" / "socket.io-client").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True)
    run = Run(args)
    try:
        results = run.execute()
    finally:
        run.cleanup()
    out = RESULTS / f"bench-{run.stamp}.json"
    out.write_text(json.dumps(results, indent=2))
    plot(results, out.with_suffix(".png"))
    print()
    print(headline(results))
    print()
    print(table(results))
    print(
        f"\nload average before/after: {results['machine']['loadavgBefore']} / "
        f"{results['machine']['loadavgAfter']}"
    )
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
