"""Where a worker's CPU goes, by layer of the message path, from a py-spy profile.

    .venv/bin/python bench/layers.py bench/results/bench-<time>-<config>-relay.folded [US]

Reads the folded stacks that ``bench/run.py --profile`` writes and prints each layer's share
of the samples; with ``US`` (CPU µs per message of that run) also its µs per message.
docs/performance.md, "Where a message's time goes, against the ceiling".
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# Leaf concerns: whatever runs under them is theirs.
ANYWHERE = [
    ("JSON", r"json/(encoder|decoder|__init__)\.py|orjson|jsonwire\.py"),
    ("binary-data walk", r"data_is_binary|deconstruct_binary"),
    ("validation (pydantic)", r"pydantic|model_validate|_validation_error"),
    ("rate limiter", r"chat/ratelimit\.py"),
    ("database: commit", r"commit \(.*(sqlalchemy|sqlite|psycopg)"),
    ("database: statements, session", r"sqlalchemy/|sqlite3|psycopg|flask_sqlalchemy"),
    (
        "emit / rooms / send (python-socketio)",
        r"socketio/(base_)?manager\.py|socketio/pubsub|redis",
    ),
]
# Wrappers: a sample is theirs only when it is in their own code (innermost such frame).
INNERMOST = [
    ("store code", r"chat/store\.py"),
    ("metrics / logging", r"chat/metrics\.py|prometheus_client|chat/logs\.py|logging/"),
    ("drain gate (lifecycle)", r"chat/lifecycle\.py"),
    ("app context (flask)", r"flask/"),
    ("handler code (events.py / ceiling.py)", r"chat/events\.py|ceiling\.py|flask_socketio"),
    ("WebSocket framing (gevent-websocket)", r"geventwebsocket/"),
    ("engine.io / socket.io dispatch", r"socketio/|engineio/"),
]


def classify(frames: list[str]) -> str:
    """The layer a sample (its frames, outermost first) is charged to."""
    for name, pat in ANYWHERE:
        rx = re.compile(pat)
        if any(rx.search(f) for f in frames):
            return name
    for f in reversed(frames):
        for name, pat in INNERMOST:
            if re.search(pat, f):
                return name
    if any(re.search(r"gevent/|greenlet", f) for f in frames):
        return "gevent hub, sockets, greenlets"
    return "other"


def main(path: str, us: float | None) -> None:
    """Prints the share (and µs) of each layer, largest first."""
    counts: Counter[str] = Counter()
    for line in Path(path).read_text().splitlines():
        stack, _, n = line.rstrip().rpartition(" ")
        if n.isdigit():
            counts[classify(stack.split(";"))] += int(n)
    total = sum(counts.values())
    for name, n in counts.most_common():
        print(f"{100 * n / total:5.1f}%  " + (f"{us * n / total:6.0f} µs  " if us else "") + name)
    print(f"{total} samples")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else None)
