"""Logging: one structured line per record, JSON (``LOG_FORMAT=json``) or ``key=value`` text.

Every record carries the time, level, process id and logger; the chat's own lines add
``event`` (what happened), ``userID`` and ``reason`` (a short code) through ``fields()``.
Only these whitelisted fields are written, so a sessionID, a password or message content
can only reach the logs if a caller puts it in the message text itself, which none does.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from flask import Flask

# Extra record attributes written out, in this order. Anything else passed in ``extra``
# is ignored: the whitelist is what keeps secrets out.
FIELDS = ("event", "userID", "reason", "socketEvent", "detail")


def fields(event: str, user_id: str | None = None, reason: str | None = None, **more: Any):
    """The ``extra=`` of a structured line: only these keys reach the output."""
    return {"event": event, "userID": user_id, "reason": reason, **more}


def _base(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "pid": record.process,
        "logger": record.name,
        # Third-party records have no event: an exception is still an exception.
        "event": getattr(record, "event", None) or ("exception" if record.exc_info else "log"),
    }
    for key in FIELDS[1:]:
        value = getattr(record, key, None)
        if value is not None:
            out[key] = value
    out["msg"] = record.getMessage()
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a traceback goes in ``exc`` (newlines escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out = _base(record)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``ts LEVEL pid=.. event=.. userID=.. reason=.. msg``; a traceback follows on its lines."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text (a traceback on the lines after it)."""
        out = _base(record)
        head = f"{out.pop('ts')} {out.pop('level')} pid={out.pop('pid')}"
        msg = out.pop("msg")
        out.pop("logger")
        pairs = " ".join(f"{k}={v}" for k, v in out.items())
        line = f"{head} {pairs} {msg}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (pytest swaps it between tests)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``LOG_FORMAT``: ``json`` or anything else for text."""
    return JsonFormatter() if log_format == "json" else TextFormatter()


def init_app(app: Flask) -> None:
    """One handler on the root logger in LOG_FORMAT; run it once Socket.IO exists."""
    fmt = formatter(str(app.config["LOG_FORMAT"]))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_chat", False)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler._chat = True  # type: ignore[attr-defined]
    handler.setFormatter(fmt)
    root.addHandler(handler)
    # The chat logs at LOG_LEVEL; libraries only their warnings (gevent-websocket would
    # otherwise log every long-polling request at INFO).
    root.setLevel(logging.WARNING)
    logging.getLogger("chat").setLevel(str(app.config["LOG_LEVEL"]))
    # python-(engine)socketio add a bare StreamHandler of their own; their records reach
    # ours through the root instead. They stay at ERROR: at INFO they log packet payloads.
    for name in ("engineio.server", "socketio.server"):
        lib = logging.getLogger(name)
        for h in [h for h in lib.handlers if type(h) is logging.StreamHandler]:
            lib.removeHandler(h)
        if lib.level == logging.NOTSET or lib.level < logging.ERROR:
            lib.setLevel(logging.ERROR)
    # Under gunicorn, the worker's own lines ("Booting worker") take the same format.
    for h in logging.getLogger("gunicorn.error").handlers:
        h.setFormatter(fmt)
