"""Message search time against the number of messages in other people's conversations.

    .venv/bin/python -m bench.search [--db sqlite|postgresql|both] [--others 1000000]

Two probe users keep the same messages throughout: "few" (50 messages) and "many" (20,000
over 20 conversations). Other users' messages, which contain the same words, are added in
steps up to --others (generated inside the database, INSERT ... SELECT, through the search
triggers and index like any message), and after each step the same searches are timed
through chat.store.search.search. The others' messages are the newest, so that a plan walking
messages newest first would have to cross all of them. The database is a temporary SQLite
file or a PostgreSQL database created for the run and dropped after.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from flask_migrate import upgrade
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
USERS = 10_000
FEW, MANY = "u000000000000000", "u000000000000001"
REPEAT = 30
# (probe, q, with the probe's first peer?) timed at each step.
# "seeded" is in every message, "word7" in 11% (word7, word70..79), "nothing" in none.
SEARCHES = [
    (FEW, "seeded", False),
    (FEW, "wor mess", False),
    (FEW, "word1", True),
    (MANY, "seeded", False),
    (MANY, "word7", False),
    (MANY, "seeded", True),
    (MANY, "word2 message", True),
    (MANY, "nothing", False),
]

# One row per message numbered :lo..:hi; {user}(n) names user number n, {least}/{greatest}
# order two names, {series} yields the numbers. Every content shares the probes' words.
INSERT = """
INSERT INTO messages (sender_id, recipient_id, user_lo, user_hi, content, created_at)
SELECT s, r, {least}(s, r), {greatest}(s, r),
       'seeded message ' || i || ' word' || (i % 100), CURRENT_TIMESTAMP
FROM (SELECT i, {sender} AS s, {recipient} AS r FROM {series}) AS g
"""
DIALECT = {
    "sqlite": {
        "series": "(WITH RECURSIVE n(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM n"
        " WHERE i < :hi) SELECT i FROM n)",
        "user": "printf('u%015d', {})",
        "least": "min",
        "greatest": "max",
    },
    "postgresql": {
        "series": "generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS i",
        "user": "'u' || lpad(({})::text, 15, '0')",
        "least": "least",
        "greatest": "greatest",
    },
}


def insert_statement(dialect: str, sender: str, recipient: str) -> str:
    d = DIALECT[dialect]
    return INSERT.format(
        least=d["least"],
        greatest=d["greatest"],
        series=d["series"],
        sender=d["user"].format(sender),
        recipient=d["user"].format(recipient),
    )


def seed_users_and_probes(db, dialect: str) -> None:
    run = db.session.execute
    user = DIALECT[dialect]["user"].format("i")
    run(
        text(
            f"INSERT INTO users (id, username, name_key, read_receipts, created_at) "
            f"SELECT {user}, 'user' || i, 'user' || i, true, CURRENT_TIMESTAMP "
            f"FROM {DIALECT[dialect]['series']}"
        ),
        {"lo": 0, "hi": USERS - 1},
    )
    # few: 50 messages with users 2..6; many: 20,000 with users 2..21, sent and received.
    few = insert_statement(
        dialect,
        "CASE WHEN i % 2 = 0 THEN 0 ELSE 2 + i % 5 END",
        "CASE WHEN i % 2 = 0 THEN 2 + i % 5 ELSE 0 END",
    )
    run(text(few), {"lo": 1, "hi": 50})
    many = insert_statement(
        dialect,
        "CASE WHEN i % 2 = 0 THEN 1 ELSE 2 + i % 20 END",
        "CASE WHEN i % 2 = 0 THEN 2 + i % 20 ELSE 1 END",
    )
    run(text(many), {"lo": 1, "hi": 20_000})
    db.session.commit()


def add_others(db, dialect: str, lo: int, hi: int) -> None:
    """Messages between users 22.. (never a probe), numbered lo..hi."""
    span = USERS - 22
    statement = insert_statement(dialect, f"22 + i % {span}", f"22 + (i * 7 + 1) % {span}")
    step = 100_000
    for start in range(lo, hi + 1, step):
        db.session.execute(text(statement), {"lo": start, "hi": min(start + step - 1, hi)})
        db.session.commit()
    with db.engine.connect() as conn:
        if dialect == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("VACUUM ANALYZE messages")  # also empties GIN's pending list
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


def time_searches(db, search) -> dict[tuple, tuple[float, float, int]]:
    """Per search: median and max milliseconds over REPEAT runs, and the number found."""
    out = {}
    for probe, q, with_peer in SEARCHES:
        peer = "u000000000000002" if with_peer else None
        times = []
        for _ in range(REPEAT):
            start = time.perf_counter()
            found, _more = search.search(probe, q, peer, None, 20)
            times.append((time.perf_counter() - start) * 1000)
            db.session.commit()
        out[(probe, q, with_peer)] = (statistics.median(times), max(times), len(found))
    return out


def run(dialect: str, uri: str, steps: list[int]) -> None:
    from app import create_app
    from chat.extensions import db
    from chat.services import services
    from chat.store import search

    app = create_app(
        {
            "TESTING": True,  # no startup checks: the schema comes next
            "SQLALCHEMY_DATABASE_URI": uri,
            "SECRET_KEY": "bench",
            "REDIS_URL": None,
        }
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        seed_users_and_probes(db, dialect)
        done, results = 0, {}
        for total in steps:
            start = time.perf_counter()
            add_others(db, dialect, done + 1, total)
            print(
                f"[{dialect}] others' messages {total:,}: seeded in "
                f"{time.perf_counter() - start:.0f} s",
                flush=True,
            )
            done = total
            results[total] = time_searches(db, search)
        db.session.remove()
        db.engine.dispose()
    services(app).presence.close()
    print(
        f"\n{dialect}: search time, median / max of {REPEAT} (ms); probe messages: "
        "few 50, many 20,000"
    )
    header = "probe  q                with  found" + "".join(f"{s:>20,}" for s in steps)
    print(header)
    for key in SEARCHES:
        probe, q, with_peer = key
        name = "few" if probe == FEW else "many"
        cells = "".join(f"{results[s][key][0]:>11.2f} / {results[s][key][1]:>6.2f}" for s in steps)
        found = results[steps[-1]][key][2]
        print(f"{name:<6} {q:<16} {'yes' if with_peer else 'no':<5} {found:>5}{cells}")
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--others", type=int, default=1_000_000 - 20_050)
    args = parser.parse_args()
    steps = sorted({min(10_000, args.others), min(100_000, args.others), args.others})
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run("sqlite", f"sqlite:///{tmp}/bench.db", steps)
    if args.db in ("postgresql", "both"):
        admin = "postgresql://postgres@127.0.0.1:5432/test"
        name = f"bench_search_{int(time.time())}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            run("postgresql", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", steps)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
